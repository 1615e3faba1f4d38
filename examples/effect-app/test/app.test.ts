import { HttpApiAuth } from "@effect-auth/http"
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Api, Caller, Report } from "../src/Api.js"
import * as Auth from "../src/Auth.js"
import * as Demo from "../src/Demo.js"
import * as Server from "../src/Server.js"

/** The whole example (dev issuer, both servers on free ports of 127.0.0.1), stopped with the scope. */
const start = (options: { readonly rateLimit?: number } = {}) =>
  Effect.gen(function* () {
    const demo = yield* Demo.start
    const auth = yield* Layer.build(Auth.layer(demo))
    const listen = { host: "127.0.0.1", port: 0, rateLimit: options.rateLimit }
    const api = yield* Layer.build(Layer.provide(Server.api(listen), Layer.succeedContext(auth)))
    const router = yield* Layer.build(Layer.provide(Server.router(listen), Layer.succeedContext(auth)))
    return {
      demo,
      apiUrl: Server.baseUrl(Context.get(api, HttpServer.HttpServer)),
      routerUrl: Server.baseUrl(Context.get(router, HttpServer.HttpServer))
    }
  })

type Credentials =
  { readonly bearer: string } | { readonly basic: readonly [string, string] } | { readonly apiKey: string } | undefined

const withCredentials = (credentials: Credentials) => (request: HttpClientRequest.HttpClientRequest) =>
  credentials === undefined
    ? request
    : "bearer" in credentials
      ? HttpClientRequest.bearerToken(request, credentials.bearer)
      : "basic" in credentials
        ? HttpClientRequest.basicAuth(request, credentials.basic[0], credentials.basic[1])
        : HttpClientRequest.setHeader(request, "x-api-key", credentials.apiKey)

/** The example's API through the platform's typed client, over a real socket. */
const client = (baseUrl: string, credentials?: Credentials) =>
  HttpApiClient.make(Api, { baseUrl, transformClient: HttpClient.mapRequest(withCredentials(credentials)) }).pipe(
    Effect.provide(FetchHttpClient.layer)
  )

const get = (url: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) })
    return { status: response.status, headers: response.headers, body: await response.text() }
  })

describe("examples/effect-app: the HttpApi through HttpApiClient", () => {
  it.scopedLive("200: public without credentials; secured with a token, a password or an API key", () =>
    Effect.gen(function* () {
      const { apiUrl, demo } = yield* start()
      expect(yield* (yield* client(apiUrl)).health.health()).toEqual({ status: "ok" })
      expect(yield* (yield* client(apiUrl, { bearer: demo.adminToken })).me.whoami()).toEqual(
        new Caller({ id: "alice", kind: "user", provider: "jwt", groups: ["admin"] })
      )
      const alice = demo.users[0]!
      expect(yield* (yield* client(apiUrl, { basic: [alice.username, alice.password] })).me.whoami()).toEqual(
        new Caller({ id: "alice", kind: "user", provider: "basic", groups: ["admin"] })
      )
      expect(yield* (yield* client(apiUrl, { apiKey: demo.apiKey })).me.whoami()).toMatchObject({
        id: demo.apiKeyId,
        kind: "machine"
      })
      expect(yield* (yield* client(apiUrl, { bearer: demo.adminToken })).admin.report()).toEqual(
        new Report({ title: "Quarterly report", requestedBy: "alice" })
      )
    })
  )

  it.scopedLive("401: no credentials, a tampered token, a wrong password", () =>
    Effect.gen(function* () {
      const { apiUrl, demo } = yield* start()
      const missing = yield* Effect.flip((yield* client(apiUrl)).me.whoami())
      expect(missing).toBeInstanceOf(HttpApiAuth.Unauthorized)
      expect(missing).toMatchObject({ status: 401, code: "missing_credentials" })
      const tampered = yield* Effect.flip((yield* client(apiUrl, { bearer: `${demo.adminToken}x` })).me.whoami())
      expect(tampered).toBeInstanceOf(HttpApiAuth.Unauthorized)
      expect(tampered).toMatchObject({ code: "invalid_token" })
      const wrong = yield* Effect.flip((yield* client(apiUrl, { basic: ["alice", "not-her-password"] })).admin.report())
      expect(wrong).toBeInstanceOf(HttpApiAuth.Unauthorized)
      const raw = yield* get(`${apiUrl}/whoami`, { authorization: `Bearer ${demo.adminToken}x` })
      expect(raw.status).toBe(401)
      expect(raw.headers.get("www-authenticate")).toContain('Bearer error="invalid_token"')
      expect(raw.body).not.toContain(demo.adminToken)
    })
  )

  it.scopedLive("403: a caller outside group admin, by token and by password", () =>
    Effect.gen(function* () {
      const { apiUrl, demo } = yield* start()
      const byToken = yield* Effect.flip((yield* client(apiUrl, { bearer: demo.userToken })).admin.report())
      expect(byToken).toBeInstanceOf(HttpApiAuth.Forbidden)
      expect(byToken).toMatchObject({ status: 403, code: "insufficient_scope", reason: "missing-groups" })
      const bob = demo.users[1]!
      const byPassword = yield* Effect.flip(
        (yield* client(apiUrl, { basic: [bob.username, bob.password] })).admin.report()
      )
      expect(byPassword).toBeInstanceOf(HttpApiAuth.Forbidden)
    })
  )

  it.scopedLive("429: a caller over its rate limit, with Retry-After; others keep their budget", () =>
    Effect.gen(function* () {
      const { apiUrl, demo } = yield* start({ rateLimit: 2 })
      const alice = yield* client(apiUrl, { bearer: demo.adminToken })
      yield* alice.me.whoami()
      yield* alice.me.whoami()
      const limited = yield* Effect.flip(alice.me.whoami())
      expect(limited).toBeInstanceOf(HttpApiAuth.TooManyRequests)
      expect(limited).toMatchObject({ status: 429, code: "rate_limit_exceeded" })
      const raw = yield* get(`${apiUrl}/whoami`, { authorization: `Bearer ${demo.adminToken}` })
      expect(raw.status).toBe(429)
      expect(Number(raw.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
      expect((yield* (yield* client(apiUrl, { bearer: demo.userToken })).me.whoami()).id).toBe("bob")
    })
  )

  it.scopedLive("503: the issuer is down before the first token is verified", () =>
    Effect.gen(function* () {
      const { apiUrl, demo } = yield* start()
      demo.issuer.setFault({ _tag: "Down" })
      const unavailable = yield* Effect.flip((yield* client(apiUrl, { bearer: demo.adminToken })).me.whoami())
      expect(unavailable).toBeInstanceOf(HttpApiAuth.ServiceUnavailable)
      expect(unavailable).toMatchObject({ status: 503, code: "provider_unavailable" })
      const raw = yield* get(`${apiUrl}/whoami`, { authorization: `Bearer ${demo.adminToken}` })
      expect(raw.status).toBe(503)
      expect(raw.headers.get("retry-after")).toBe("5")
      // Passwords do not depend on the issuer.
      const alice = demo.users[0]!
      expect((yield* (yield* client(apiUrl, { basic: [alice.username, alice.password] })).me.whoami()).id).toBe("alice")
    })
  )

  it.scopedLive("serves an OpenAPI document listing the Bearer, Basic and API key schemes", () =>
    Effect.gen(function* () {
      const { apiUrl } = yield* start()
      const spec = JSON.parse((yield* get(`${apiUrl}/openapi.json`)).body)
      expect(Object.keys(spec.components.securitySchemes).sort()).toEqual(["apiKey", "basic", "bearer"])
      expect(spec.paths["/admin/report"].get.security).toEqual([{ bearer: [] }, { basic: [] }, { apiKey: [] }])
    })
  )
})

describe("examples/effect-app: the plain HttpRouter app", () => {
  it.scopedLive("200 with a token, 401 without, 403 from its guard", () =>
    Effect.gen(function* () {
      const { demo, routerUrl } = yield* start()
      const ok = yield* get(`${routerUrl}/whoami`, { authorization: `Bearer ${demo.userToken}` })
      expect(ok.status).toBe(200)
      expect(JSON.parse(ok.body)).toMatchObject({ id: "bob", provider: "jwt" })
      expect((yield* get(`${routerUrl}/whoami`)).status).toBe(401)
      const refused = yield* get(`${routerUrl}/admin`, { authorization: `Bearer ${demo.userToken}` })
      expect(refused.status).toBe(403)
      expect(JSON.parse(refused.body)).toMatchObject({ code: "insufficient_scope", reason: "missing-groups" })
      expect((yield* get(`${routerUrl}/admin`, { authorization: `Bearer ${demo.adminToken}` })).status).toBe(200)
    })
  )
})
