import type { Principal } from "@effect-auth/core"
import { Policy } from "@effect-auth/core"
import { FetchAuth } from "@effect-auth/http"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Http from "node:http"
import {
  abandon,
  adminToken,
  AuthLive,
  basic,
  basicPassword,
  basicUser,
  bearer,
  brokenLayer,
  dyingLayer,
  expectedChallenge,
  get,
  hangingAuthenticator,
  listen,
  openAiError,
  problem,
  rawGet,
  runtime,
  unknownToken,
  userToken,
  wrongPassword
} from "./fixtures.js"

/**
 * Serves a fetch handler from node:http, as fetch-style runtimes do: every raw header line becomes an
 * entry of the `Request`'s `Headers` (which joins repeats), the signal aborts when the client goes away,
 * and a rejected handler is answered 500. Only what these tests send (GET, no body) is supported.
 */
const toListener =
  (fetchHandler: (request: Request) => Promise<Response>): Http.RequestListener =>
  (incoming, outgoing) => {
    const headers = new Headers()
    for (let i = 0; i + 1 < incoming.rawHeaders.length; i += 2) {
      headers.append(incoming.rawHeaders[i]!, incoming.rawHeaders[i + 1]!)
    }
    const abort = new AbortController()
    outgoing.once("close", () => abort.abort())
    const request = new Request(`http://${incoming.headers.host}${incoming.url}`, {
      method: incoming.method ?? "GET",
      headers,
      signal: abort.signal
    })
    fetchHandler(request)
      .then(async (response) => {
        const body = Buffer.from(await response.arrayBuffer())
        outgoing.writeHead(response.status, Object.fromEntries(response.headers)).end(body)
      })
      .catch(() => outgoing.writeHead(500).end())
  }

const whoami = (_request: Request, principal: Principal.Principal) =>
  Response.json({ id: principal.id, provider: principal.provider })

/** A server running `whoami` behind `FetchAuth.handler` on the test authenticator. */
const serve = (options?: FetchAuth.Options) =>
  Effect.flatMap(runtime(), (rt) => listen(toListener(FetchAuth.handler(rt, whoami, options))))

describe("FetchAuth.handler over a socket", () => {
  it.scoped("runs the handler with the principal of a valid Bearer token", () =>
    Effect.gen(function* () {
      const url = yield* serve()
      const answer = yield* get(url, { authorization: bearer(adminToken) })
      expect(answer.status).toBe(200)
      expect(JSON.parse(answer.body)).toEqual({ id: "alice", provider: "test-bearer" })
    })
  )

  it.scoped("runs the handler with the principal of valid Basic credentials", () =>
    Effect.gen(function* () {
      const url = yield* serve()
      const answer = yield* get(url, { authorization: basic(basicUser, basicPassword) })
      expect(answer.status).toBe(200)
      expect(JSON.parse(answer.body)).toEqual({ id: "carol", provider: "test-basic" })
    })
  )

  it.scoped("answers 401 with every challenge when no credential is sent", () =>
    Effect.gen(function* () {
      const url = yield* serve()
      const answer = yield* get(url)
      expect(answer.status).toBe(401)
      expect(answer.headers.get("www-authenticate")).toBe(expectedChallenge)
      expect(answer.headers.get("content-type")).toBe("application/problem+json")
      expect(answer.headers.get("cache-control")).toBe("no-store")
      expect(problem(answer)).toMatchObject({ status: 401, code: "missing_credentials", reason: "absent" })
    })
  )

  it.scoped("answers 401 to an unknown token and a wrong password without echoing them", () =>
    Effect.gen(function* () {
      const url = yield* serve()
      const badToken = yield* get(url, { authorization: bearer(unknownToken) })
      expect(badToken.status).toBe(401)
      expect(problem(badToken)).toMatchObject({ code: "invalid_credentials", reason: "rejected" })
      expect(badToken.body).not.toContain(unknownToken)

      const badPassword = yield* get(url, { authorization: basic(basicUser, wrongPassword) })
      expect(badPassword.status).toBe(401)
      expect(badPassword.headers.get("www-authenticate")).toBe(expectedChallenge)
      expect(badPassword.body).not.toContain(wrongPassword)
    })
  )

  it.scoped("answers 401, never 200, to two Authorization headers (joined by Headers)", () =>
    Effect.gen(function* () {
      const url = yield* serve()
      const answer = yield* rawGet(url, [
        ["authorization", bearer(adminToken)],
        ["authorization", bearer(userToken)]
      ])
      expect(answer.status).toBe(401)
      expect(problem(answer)).toMatchObject({ code: "invalid_credentials" })
    })
  )

  describe("with a policy", () => {
    const options = { policy: Policy.groups(["admin"]) }

    it.scoped("answers 403 to a caller outside the group", () =>
      Effect.gen(function* () {
        const url = yield* serve(options)
        const answer = yield* get(url, { authorization: bearer(userToken) })
        expect(answer.status).toBe(403)
        expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="api", error="insufficient_scope"')
        expect(problem(answer)).toMatchObject({ code: "insufficient_scope", reason: "missing-groups" })
      })
    )

    it.scoped("runs the handler for a caller in the group", () =>
      Effect.gen(function* () {
        const url = yield* serve(options)
        const answer = yield* get(url, { authorization: bearer(adminToken) })
        expect(answer.status).toBe(200)
        expect(JSON.parse(answer.body)).toMatchObject({ id: "alice" })
      })
    )
  })

  it.scoped('answers in the OpenAI shape with errorStyle "openai"', () =>
    Effect.gen(function* () {
      const url = yield* serve({ errorStyle: "openai", policy: Policy.groups(["admin"]) })

      const unauthenticated = yield* get(url)
      expect(unauthenticated.status).toBe(401)
      expect(unauthenticated.headers.get("content-type")).toBe("application/json")
      expect(openAiError(unauthenticated)).toEqual({
        error: {
          message: "No credentials were presented",
          type: "invalid_request_error",
          param: "authorization",
          code: "invalid_api_key"
        }
      })

      const forbidden = yield* get(url, { authorization: bearer(userToken) })
      expect(forbidden.status).toBe(403)
      expect(openAiError(forbidden)).toEqual({
        error: {
          message: "The caller is not allowed to perform this request",
          type: "permission_error",
          param: null,
          code: "insufficient_scope"
        }
      })
    })
  )

  it.scoped("answers 503 to every request, never 200, when the authenticator layer fails to build", () =>
    Effect.gen(function* () {
      const rt = yield* runtime(brokenLayer)
      const url = yield* listen(toListener(FetchAuth.handler(rt, () => new Response("should not run"))))
      for (const authorization of [bearer(adminToken), basic(basicUser, basicPassword), undefined]) {
        const answer = yield* get(url, authorization === undefined ? {} : { authorization })
        expect(answer.status).toBe(503)
        expect(answer.headers.get("retry-after")).not.toBeNull()
        expect(problem(answer)).toMatchObject({ code: "provider_unavailable", reason: "misconfigured" })
      }
    })
  )

  it.scoped("answers 500, never 200, when a provider dies", () =>
    Effect.gen(function* () {
      const url = yield* Effect.flatMap(runtime(dyingLayer), (rt) => listen(toListener(FetchAuth.handler(rt, whoami))))
      const answer = yield* get(url, { authorization: bearer(adminToken) })
      expect(answer.status).toBe(500)
      expect(problem(answer)).toMatchObject({ code: "internal_error" })
    })
  )

  it.scoped("answers 500 when the handler throws, never a rejected promise", () =>
    Effect.gen(function* () {
      const rt = yield* runtime(AuthLive)
      const handler = FetchAuth.handler(rt, () => {
        throw new Error("handler bug")
      })
      const answer = yield* Effect.promise(() =>
        handler(new Request("http://127.0.0.1/whoami", { headers: { authorization: bearer(adminToken) } }))
      )
      expect(answer.status).toBe(500)
    })
  )

  it.scopedLive("interrupts the authentication work when the request's signal aborts", () =>
    Effect.gen(function* () {
      const { interrupted, layer, started } = yield* hangingAuthenticator
      const url = yield* Effect.flatMap(runtime(layer), (rt) => listen(toListener(FetchAuth.handler(rt, whoami))))
      const outcome = yield* abandon(url, { authorization: bearer(adminToken) }, Deferred.await(started))
      expect(outcome).toBe("aborted")
      yield* Deferred.await(interrupted).pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "not interrupted" })
      )
    })
  )
})

describe("FetchAuth.handler called directly", () => {
  it.scoped.each([
    { case: "two valid Bearer tokens", first: bearer(adminToken), second: bearer(userToken) },
    {
      case: "the same valid Basic credentials twice",
      first: basic(basicUser, basicPassword),
      second: basic(basicUser, basicPassword)
    }
  ])("refuses $case that fetch joined from two Authorization headers", ({ first, second }) =>
    Effect.gen(function* () {
      const rt = yield* runtime()
      let handled = false
      const fetchHandler = FetchAuth.handler(rt, (_request, principal) => {
        handled = true
        return whoami(_request, principal)
      })
      const headers = new Headers([
        ["authorization", first],
        ["authorization", second]
      ])
      const response = yield* Effect.promise(() => fetchHandler(new Request("http://localhost/", { headers })))
      expect(response.status).toBe(401)
      expect(handled).toBe(false)
    })
  )

  it.scoped("answers a Response with the mapped status, headers and body", () =>
    Effect.gen(function* () {
      const rt = yield* runtime()
      const fetchHandler = FetchAuth.handler(rt, whoami)
      const response = yield* Effect.promise(() => fetchHandler(new Request("http://localhost/")))
      expect(response.status).toBe(401)
      expect(response.headers.get("www-authenticate")).toBe(expectedChallenge)
      expect(yield* Effect.promise(() => response.json())).toMatchObject({ code: "missing_credentials" })
    })
  )
})
