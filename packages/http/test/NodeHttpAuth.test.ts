import type { Principal } from "@effect-auth/core"
import { Policy } from "@effect-auth/core"
import { NodeHttpAuth } from "@effect-auth/http"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Http from "node:http"
import {
  abandon,
  adminToken,
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

const whoami = (_request: Http.IncomingMessage, response: Http.ServerResponse, principal: Principal.Principal) => {
  response.writeHead(200, { "content-type": "application/json" })
  response.end(JSON.stringify({ id: principal.id, provider: principal.provider }))
}

/** A node:http server running `whoami` behind `NodeHttpAuth.handler` on the test authenticator. */
const serve = (options?: NodeHttpAuth.Options, serverOptions?: Http.ServerOptions) =>
  Effect.flatMap(runtime(), (rt) => listen(NodeHttpAuth.handler(rt, whoami, options), serverOptions))

describe("NodeHttpAuth.handler", () => {
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

  it.scoped("answers 401 to an unknown Bearer token without echoing it", () =>
    Effect.gen(function* () {
      const url = yield* serve()
      const answer = yield* get(url, { authorization: bearer(unknownToken) })
      expect(answer.status).toBe(401)
      expect(answer.headers.get("www-authenticate")).toContain("Bearer")
      expect(problem(answer)).toMatchObject({ code: "invalid_credentials", reason: "rejected" })
      expect(answer.body).not.toContain(unknownToken)
      expect([...answer.headers.values()].join("\n")).not.toContain(unknownToken)
    })
  )

  it.scoped("answers 401 to a wrong Basic password without echoing it", () =>
    Effect.gen(function* () {
      const url = yield* serve()
      const answer = yield* get(url, { authorization: basic(basicUser, wrongPassword) })
      expect(answer.status).toBe(401)
      expect(answer.headers.get("www-authenticate")).toBe(expectedChallenge)
      expect(problem(answer)).toMatchObject({ code: "invalid_credentials", reason: "rejected" })
      expect(answer.body).not.toContain(wrongPassword)
      expect(answer.body).not.toContain(Buffer.from(`${basicUser}:${wrongPassword}`).toString("base64"))
    })
  )

  it.scoped("refuses two Authorization headers, even when the first alone would be accepted", () =>
    Effect.gen(function* () {
      const url = yield* serve()
      const answer = yield* rawGet(url, [
        ["authorization", bearer(adminToken)],
        ["authorization", bearer(userToken)]
      ])
      expect(answer.status).toBe(401)
      expect(problem(answer)).toMatchObject({ code: "invalid_credentials", reason: "multiple-headers" })
    })
  )

  it.scoped("refuses an Authorization header over 16 KiB as too-large when node lets it through", () =>
    Effect.gen(function* () {
      const url = yield* serve({}, { maxHeaderSize: 64 * 1024 })
      const answer = yield* get(url, { authorization: bearer("a".repeat(20 * 1024)) })
      expect(answer.status).toBe(401)
      expect(problem(answer)).toMatchObject({ code: "invalid_credentials", reason: "too-large" })
      expect(answer.body).not.toContain("a".repeat(64))
    })
  )

  it.scoped("never lets a 20 KiB header through node's default header limit (431)", () =>
    Effect.gen(function* () {
      const url = yield* serve()
      const answer = yield* get(url, { authorization: bearer(adminToken + "a".repeat(20 * 1024)) })
      expect(answer.status).toBe(431)
    })
  )

  describe("with a policy", () => {
    const options = { policy: Policy.groups(["admin"]) }

    it.scoped("answers 403 with an insufficient_scope challenge to a caller outside the group", () =>
      Effect.gen(function* () {
        const url = yield* serve(options)
        const answer = yield* get(url, { authorization: bearer(userToken) })
        expect(answer.status).toBe(403)
        expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="api", error="insufficient_scope"')
        expect(problem(answer)).toMatchObject({ status: 403, code: "insufficient_scope", reason: "missing-groups" })
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

    it.scoped("still answers 401, not 403, to an unauthenticated caller", () =>
      Effect.gen(function* () {
        const url = yield* serve(options)
        expect((yield* get(url)).status).toBe(401)
      })
    )
  })

  it.scoped('answers in the OpenAI shape with errorStyle "openai"', () =>
    Effect.gen(function* () {
      const url = yield* serve({ errorStyle: "openai" })
      const answer = yield* get(url, { authorization: basic(basicUser, wrongPassword) })
      expect(answer.status).toBe(401)
      expect(answer.headers.get("content-type")).toBe("application/json")
      expect(answer.headers.get("www-authenticate")).toBe(expectedChallenge)
      expect(answer.body).not.toContain(wrongPassword)
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

  it.scoped("answers 503 to every request, never 200, when the authenticator layer fails to build", () =>
    Effect.gen(function* () {
      const rt = yield* runtime(brokenLayer)
      let handled = false
      const url = yield* listen(
        NodeHttpAuth.handler(rt, (_request, response) => {
          handled = true
          response.end("should not run")
        })
      )
      for (const authorization of [bearer(adminToken), basic(basicUser, basicPassword), undefined, undefined]) {
        const answer = yield* get(url, authorization === undefined ? {} : { authorization })
        expect(answer.status).toBe(503)
        expect(problem(answer)).toMatchObject({ code: "provider_unavailable", reason: "misconfigured" })
        expect(answer.body).not.toContain("no authenticator configured")
      }
      expect(handled).toBe(false)
    })
  )

  it.scoped("answers 500, never 200, when a provider dies", () =>
    Effect.gen(function* () {
      const url = yield* Effect.flatMap(runtime(dyingLayer), (rt) => listen(NodeHttpAuth.handler(rt, whoami)))
      const answer = yield* get(url, { authorization: bearer(adminToken) })
      expect(answer.status).toBe(500)
      expect(problem(answer)).toMatchObject({ code: "internal_error" })
      expect(answer.body).not.toContain("provider bug")
    })
  )

  it.scopedLive("interrupts the authentication work when the client goes away", () =>
    Effect.gen(function* () {
      const { interrupted, layer, started } = yield* hangingAuthenticator
      const url = yield* Effect.flatMap(runtime(layer), (rt) => listen(NodeHttpAuth.handler(rt, whoami)))
      const outcome = yield* abandon(url, { authorization: bearer(adminToken) }, Deferred.await(started))
      expect(outcome).toBe("aborted")
      yield* Deferred.await(interrupted).pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "not interrupted" })
      )
    })
  )

  describe("a handler that fails", () => {
    const failing = (fail: () => void | Promise<void>, errorStyle?: "openai") =>
      Effect.flatMap(runtime(), (rt) => listen(NodeHttpAuth.handler(rt, fail, { errorStyle })))

    it.scoped("answers 500 when the handler throws", () =>
      Effect.gen(function* () {
        const url = yield* failing(() => {
          throw new Error("boom: secret detail")
        })
        const answer = yield* get(url, { authorization: bearer(adminToken) })
        expect(answer.status).toBe(500)
        expect(problem(answer)).toMatchObject({ status: 500, code: "internal_error" })
        expect(answer.body).not.toContain("secret detail")
      })
    )

    it.scoped("answers 500 when the handler rejects, in the configured style", () =>
      Effect.gen(function* () {
        const url = yield* failing(() => Promise.reject(new Error("boom")), "openai")
        const answer = yield* get(url, { authorization: bearer(adminToken) })
        expect(answer.status).toBe(500)
        expect(openAiError(answer).error).toMatchObject({ type: "server_error", code: "internal_error" })
      })
    )
  })
})
