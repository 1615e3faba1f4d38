import type { Authenticator } from "@effect-auth/core"
import { Authenticated, Policy } from "@effect-auth/core"
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
import {
  adminToken,
  AuthLive,
  basic,
  basicPassword,
  basicUser,
  bearer,
  expectedChallenge,
  get,
  openAiError,
  problem,
  rawGet,
  unknownToken,
  userToken,
  wrongPassword
} from "./fixtures.js"

const router = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/whoami",
    Effect.map(Authenticated.Authenticated, (principal) =>
      HttpServerResponse.unsafeJson({ id: principal.id, provider: principal.provider })
    )
  )
)

/** The router behind the middleware, served by @effect/platform-node on an ephemeral port of 127.0.0.1. */
const serve = (options?: HttpAuthMiddleware.Options) =>
  HttpServer.serve(HttpAuthMiddleware.make(options)(router)).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" })),
    Layer.provide(AuthLive)
  )

const url = (path: string) =>
  Effect.map(HttpServer.HttpServer, (server) => {
    if (server.address._tag !== "TcpAddress") throw new Error("server is not listening on TCP")
    return `http://127.0.0.1:${server.address.port}${path}`
  })

const call = (path: string, headers?: Record<string, string>) =>
  Effect.flatMap(url(path), (target) => get(target, headers))

describe("HttpAuthMiddleware.make", () => {
  it.layer(serve())("without options", (it) => {
    it.effect("provides the principal of a valid Bearer token to the app", () =>
      Effect.gen(function* () {
        const answer = yield* call("/whoami", { authorization: bearer(adminToken) })
        expect(answer.status).toBe(200)
        expect(JSON.parse(answer.body)).toEqual({ id: "alice", provider: "test-bearer" })
      })
    )

    it.effect("provides the principal of valid Basic credentials to the app", () =>
      Effect.gen(function* () {
        const answer = yield* call("/whoami", { authorization: basic(basicUser, basicPassword) })
        expect(answer.status).toBe(200)
        expect(JSON.parse(answer.body)).toEqual({ id: "carol", provider: "test-basic" })
      })
    )

    it.effect("answers 401 with every challenge and a problem body when no credential is sent", () =>
      Effect.gen(function* () {
        const answer = yield* call("/whoami")
        expect(answer.status).toBe(401)
        expect(answer.headers.get("www-authenticate")).toBe(expectedChallenge)
        expect(answer.headers.get("content-type")).toBe("application/problem+json")
        expect(answer.headers.get("cache-control")).toBe("no-store")
        expect(problem(answer)).toEqual({
          type: "about:blank",
          title: "Unauthorized",
          status: 401,
          detail: "No credentials were presented",
          code: "missing_credentials",
          reason: "absent"
        })
      })
    )

    it.effect("answers 401 to an unknown token and a wrong password without echoing them", () =>
      Effect.gen(function* () {
        const badToken = yield* call("/whoami", { authorization: bearer(unknownToken) })
        expect(badToken.status).toBe(401)
        expect(problem(badToken)).toMatchObject({ code: "invalid_credentials", reason: "rejected" })
        expect(badToken.body).not.toContain(unknownToken)

        const badPassword = yield* call("/whoami", { authorization: basic(basicUser, wrongPassword) })
        expect(badPassword.status).toBe(401)
        expect(badPassword.body).not.toContain(wrongPassword)
      })
    )

    // node's `IncomingMessage.headers` keeps only the first `Authorization`; the middleware must not
    // authenticate the caller from it.
    it.effect("refuses two Authorization headers instead of using the first", () =>
      Effect.gen(function* () {
        const answer = yield* Effect.flatMap(url("/whoami"), (target) =>
          rawGet(target, [
            ["authorization", bearer(adminToken)],
            ["authorization", bearer(userToken)]
          ])
        )
        expect(answer.status).toBe(401)
        expect(problem(answer)).toMatchObject({ code: "invalid_credentials", reason: "multiple-headers" })
      })
    )

    it.effect("answers 401 before routing, so an unauthenticated caller cannot probe which paths exist", () =>
      Effect.gen(function* () {
        expect((yield* call("/no-such-route")).status).toBe(401)
        expect((yield* call("/no-such-route", { authorization: bearer(adminToken) })).status).toBe(404)
      })
    )
  })

  it.layer(serve({ policy: Policy.groups(["admin"]) }))("with a policy", (it) => {
    it.effect("answers 403 with an insufficient_scope challenge to a caller outside the group", () =>
      Effect.gen(function* () {
        const answer = yield* call("/whoami", { authorization: bearer(userToken) })
        expect(answer.status).toBe(403)
        expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="api", error="insufficient_scope"')
        expect(problem(answer)).toMatchObject({ status: 403, code: "insufficient_scope", reason: "missing-groups" })
      })
    )

    it.effect("runs the app for a caller in the group", () =>
      Effect.gen(function* () {
        const answer = yield* call("/whoami", { authorization: bearer(adminToken) })
        expect(answer.status).toBe(200)
        expect(JSON.parse(answer.body)).toMatchObject({ id: "alice" })
      })
    )
  })

  it.layer(serve({ errorStyle: "openai" }))('with errorStyle "openai"', (it) => {
    it.effect("answers a refused credential in the OpenAI shape", () =>
      Effect.gen(function* () {
        const answer = yield* call("/whoami", { authorization: bearer(unknownToken) })
        expect(answer.status).toBe(401)
        expect(answer.headers.get("content-type")).toBe("application/json")
        expect(openAiError(answer)).toEqual({
          error: {
            message: "The credentials are not valid",
            type: "invalid_request_error",
            param: "authorization",
            code: "invalid_api_key"
          }
        })
      })
    )
  })

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

    it("cannot serve an app that needs Authenticated without the middleware", () => {
      const app = Effect.map(Authenticated.Authenticated, (principal) => HttpServerResponse.text(principal.id))
      // @ts-expect-error Authenticated is still required: nothing authenticates the request
      const unsecured: Layer.Layer<never, never, HttpServer.HttpServer> = HttpServer.serve(app)
      const secured: Layer.Layer<never, never, HttpServer.HttpServer | Authenticator.Authenticator> = HttpServer.serve(
        HttpAuthMiddleware.make()(app)
      )
      expect(Layer.isLayer(unsecured) && Layer.isLayer(secured)).toBe(true)
    })
  })
})
