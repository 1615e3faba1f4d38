import type { Authenticator } from "@effect-auth/core"
import { Authenticated, Guard } from "@effect-auth/core"
import { HttpAuthMiddleware } from "@effect-auth/http"
import type { HttpServerRequest } from "@effect/platform"
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import { expectTypeOf } from "vitest"
import { suite } from "./AdapterSuite.js"
import { adminToken, AuthLive, bearer, get, problem, userToken } from "./fixtures.js"

const router = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/whoami",
    Effect.map(Authenticated.Authenticated, (principal) =>
      HttpServerResponse.unsafeJson({ id: principal.id, provider: principal.provider })
    )
  ),
  HttpRouter.get(
    "/admin",
    Effect.map(Guard.requireGroups(["admin"]), (principal) => HttpServerResponse.unsafeJson({ id: principal.id }))
  )
)

/**
 * The router behind the middleware, served by @effect/platform-node on an ephemeral port of 127.0.0.1
 * until the scope closes. Gives the server's base URL.
 */
const serve = (options?: HttpAuthMiddleware.Options) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      HttpServer.serve(HttpAuthMiddleware.make(options)(router)).pipe(
        Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" })),
        Layer.provide(AuthLive)
      )
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") throw new Error("server is not listening on TCP")
    return `http://127.0.0.1:${address.port}`
  })

suite("HttpAuthMiddleware.make", serve, { duplicateHeadersReason: "multiple-headers" })

describe("HttpAuthMiddleware.make on the platform", () => {
  it.scoped("answers 401 before routing, so an unauthenticated caller cannot probe which paths exist", () =>
    Effect.gen(function* () {
      const url = yield* serve()
      expect((yield* get(`${url}/no-such-route`)).status).toBe(401)
      expect((yield* get(`${url}/no-such-route`, { authorization: bearer(adminToken) })).status).toBe(404)
    })
  )

  it.scoped("answers a guard's refusal inside the app with the shared mapping (403), not a 500", () =>
    Effect.gen(function* () {
      const url = yield* serve()
      const refused = yield* get(`${url}/admin`, { authorization: bearer(userToken) })
      expect(refused.status).toBe(403)
      expect(problem(refused)).toMatchObject({ code: "insufficient_scope", reason: "missing-groups" })
      expect((yield* get(`${url}/admin`, { authorization: bearer(adminToken) })).status).toBe(200)
    })
  )

  describe("types", () => {
    class Database extends Context.Tag("test/Database")<Database, { readonly query: Effect.Effect<string> }>() {}

    it("removes Authenticated from the app's requirements and adds Authenticator", () => {
      const app = Effect.gen(function* () {
        const principal = yield* Authenticated.Authenticated
        const database = yield* Database
        return HttpServerResponse.text(`${principal.id} ${yield* database.query}`)
      })
      expectTypeOf<Effect.Effect.Context<typeof app>>().toEqualTypeOf<Authenticated.Authenticated | Database>()

      expectTypeOf(HttpAuthMiddleware.make()(app)).toEqualTypeOf<
        Effect.Effect<
          HttpServerResponse.HttpServerResponse,
          never,
          Database | Authenticator.Authenticator | HttpServerRequest.HttpServerRequest
        >
      >()
    })

    it("removes the auth errors the app fails with from its error channel", () => {
      const app = Effect.map(Guard.requireGroups(["admin"]), (principal) => HttpServerResponse.text(principal.id))
      expectTypeOf(HttpAuthMiddleware.make()(app)).toEqualTypeOf<
        Effect.Effect<
          HttpServerResponse.HttpServerResponse,
          never,
          Authenticator.Authenticator | HttpServerRequest.HttpServerRequest
        >
      >()
    })

    it("cannot serve an app that needs Authenticated without the middleware", () => {
      const app = Effect.map(Authenticated.Authenticated, (principal) => HttpServerResponse.text(principal.id))
      // A type test, which is why the directive stays: the build fails if serving an app that needs
      // `Authenticated` ever compiles without the middleware providing it.
      // @ts-expect-error Authenticated is still required: nothing authenticates the request
      const unsecured: Layer.Layer<never, never, HttpServer.HttpServer> = HttpServer.serve(app)
      const secured: Layer.Layer<never, never, HttpServer.HttpServer | Authenticator.Authenticator> = HttpServer.serve(
        HttpAuthMiddleware.make()(app)
      )
      expect(Layer.isLayer(unsecured) && Layer.isLayer(secured)).toBe(true)
    })
  })
})
