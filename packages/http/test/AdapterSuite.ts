/**
 * The conformance suite of the HTTP adapters: every scenario that `NodeHttpAuth`, `FetchAuth` and
 * `HttpAuthMiddleware` must answer alike, run unchanged against each of them over a real socket. Each
 * adapter's test file calls `suite` once and keeps only what is specific to that adapter.
 */
import type { Authenticator } from "@effect-auth/core"
import { Policy } from "@effect-auth/core"
import type { ErrorResponse } from "@effect-auth/http"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import type * as Scope from "effect/Scope"
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
  openAiError,
  problem,
  rawGet,
  runtime,
  unknownToken,
  userToken,
  wrongPassword
} from "./fixtures.js"

/** The options every adapter takes. */
export interface ServeOptions {
  readonly policy?: Policy.Policy
  readonly errorStyle?: ErrorResponse.ErrorStyle
}

/**
 * Starts a server on an ephemeral port of 127.0.0.1, closed with the scope, whose `/whoami` runs behind
 * the adapter on the test authenticator (`AuthLive`) and answers the principal as `{ id, provider }`.
 * Gives the server's base URL.
 */
export type Serve = (options?: ServeOptions) => Effect.Effect<string, unknown, Scope.Scope>

/** A `ManagedRuntime` whose layer provides the `Authenticator`, as the node and fetch adapters take. */
export type AuthRuntime = ManagedRuntime.ManagedRuntime<Authenticator.Authenticator, unknown>

/** The same server as `Serve` (default options) on the given runtime, calling `onHandle` whenever the handler runs. */
export type ServeOn = (runtime: AuthRuntime, onHandle: () => void) => Effect.Effect<string, unknown, Scope.Scope>

/** Where the adapters differ. */
export interface Details {
  /**
   * The `reason` of the 401 to two `Authorization` headers: node keeps them apart (`headersDistinct`), so
   * they are refused as "multiple-headers"; a fetch `Headers` joins them into one value, refused as
   * "malformed".
   */
  readonly duplicateHeadersReason: "multiple-headers" | "malformed"
  /**
   * For the adapters that run on a `ManagedRuntime` (node, fetch) and answer its failures themselves: a
   * runtime whose layer fails, a provider that dies, a client that goes away. The platform middleware
   * takes the `Authenticator` from its server's layer instead.
   */
  readonly serveOn?: ServeOn | undefined
}

const admins = Policy.groups(["admin"])

/** Runs every common scenario against the adapter `serve` starts, under `describe(name)`. */
export const suite = (name: string, serve: Serve, details: Details) =>
  describe(name, () => {
    const whoami = (options?: ServeOptions) => Effect.map(serve(options), (base) => `${base}/whoami`)

    it.scoped("runs the handler with the principal of a valid Bearer token", () =>
      Effect.gen(function* () {
        const answer = yield* get(yield* whoami(), { authorization: bearer(adminToken) })
        expect(answer.status).toBe(200)
        expect(JSON.parse(answer.body)).toEqual({ id: "alice", provider: "test-bearer" })
      })
    )

    it.scoped("runs the handler with the principal of valid Basic credentials", () =>
      Effect.gen(function* () {
        const answer = yield* get(yield* whoami(), { authorization: basic(basicUser, basicPassword) })
        expect(answer.status).toBe(200)
        expect(JSON.parse(answer.body)).toEqual({ id: "carol", provider: "test-basic" })
      })
    )

    it.scoped("answers 401 with every challenge and a problem body when no credential is sent", () =>
      Effect.gen(function* () {
        const answer = yield* get(yield* whoami())
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

    it.scoped("answers 401 to an unknown Bearer token without echoing it", () =>
      Effect.gen(function* () {
        const answer = yield* get(yield* whoami(), { authorization: bearer(unknownToken) })
        expect(answer.status).toBe(401)
        expect(answer.headers.get("www-authenticate")).toContain("Bearer")
        expect(problem(answer)).toMatchObject({ code: "invalid_credentials", reason: "rejected" })
        expect(answer.body).not.toContain(unknownToken)
        expect([...answer.headers.values()].join("\n")).not.toContain(unknownToken)
      })
    )

    it.scoped("answers 401 to a wrong Basic password without echoing it", () =>
      Effect.gen(function* () {
        const answer = yield* get(yield* whoami(), { authorization: basic(basicUser, wrongPassword) })
        expect(answer.status).toBe(401)
        expect(answer.headers.get("www-authenticate")).toBe(expectedChallenge)
        expect(problem(answer)).toMatchObject({ code: "invalid_credentials", reason: "rejected" })
        expect(answer.body).not.toContain(wrongPassword)
        expect(answer.body).not.toContain(Buffer.from(`${basicUser}:${wrongPassword}`).toString("base64"))
      })
    )

    // node's `IncomingMessage.headers` keeps only the first `Authorization`: no adapter may authenticate
    // the caller from it.
    it.scoped("refuses two Authorization headers, never 200, even when the first alone would be accepted", () =>
      Effect.gen(function* () {
        const answer = yield* rawGet(yield* whoami(), [
          ["authorization", bearer(adminToken)],
          ["authorization", bearer(userToken)]
        ])
        expect(answer.status).toBe(401)
        expect(problem(answer)).toMatchObject({
          code: "invalid_credentials",
          reason: details.duplicateHeadersReason
        })
      })
    )

    describe("with a policy", () => {
      it.scoped("answers 403 with an insufficient_scope challenge to a caller outside the group", () =>
        Effect.gen(function* () {
          const answer = yield* get(yield* whoami({ policy: admins }), { authorization: bearer(userToken) })
          expect(answer.status).toBe(403)
          expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="api", error="insufficient_scope"')
          expect(problem(answer)).toMatchObject({ status: 403, code: "insufficient_scope", reason: "missing-groups" })
        })
      )

      it.scoped("runs the handler for a caller in the group", () =>
        Effect.gen(function* () {
          const answer = yield* get(yield* whoami({ policy: admins }), { authorization: bearer(adminToken) })
          expect(answer.status).toBe(200)
          expect(JSON.parse(answer.body)).toMatchObject({ id: "alice" })
        })
      )

      it.scoped("still answers 401, not 403, to an unauthenticated caller", () =>
        Effect.gen(function* () {
          expect((yield* get(yield* whoami({ policy: admins }))).status).toBe(401)
        })
      )
    })

    describe('with errorStyle "openai"', () => {
      const invalidApiKey = (message: string) => ({
        error: { message, type: "invalid_request_error", param: "authorization", code: "invalid_api_key" }
      })
      const forbidden = {
        error: {
          message: "The caller is not allowed to perform this request",
          type: "permission_error",
          param: null,
          code: "insufficient_scope"
        }
      }

      it.scoped.each([
        {
          case: "a wrong password, without echoing it",
          options: {},
          headers: { authorization: basic(basicUser, wrongPassword) },
          status: 401,
          challenge: expectedChallenge,
          secret: wrongPassword,
          error: invalidApiKey("The credentials are not valid")
        },
        {
          case: "an unknown token, without echoing it",
          options: {},
          headers: { authorization: bearer(unknownToken) },
          status: 401,
          secret: unknownToken,
          error: invalidApiKey("The credentials are not valid")
        },
        {
          case: "a request without credentials",
          options: { policy: admins },
          headers: {},
          status: 401,
          error: invalidApiKey("No credentials were presented")
        },
        {
          case: "a caller outside the policy",
          options: { policy: admins },
          headers: { authorization: bearer(userToken) },
          status: 403,
          error: forbidden
        }
      ])("answers $case in the OpenAI shape", ({ challenge, error, headers, options, secret, status }) =>
        Effect.gen(function* () {
          const answer = yield* get(yield* whoami({ ...options, errorStyle: "openai" }), headers)
          expect(answer.status).toBe(status)
          expect(answer.headers.get("content-type")).toBe("application/json")
          if (challenge !== undefined) expect(answer.headers.get("www-authenticate")).toBe(challenge)
          if (secret !== undefined) expect(answer.body).not.toContain(secret)
          expect(openAiError(answer)).toEqual(error)
        })
      )
    })

    const serveOn = details.serveOn
    if (serveOn === undefined) return

    describe("on a runtime", () => {
      /** The server on a runtime built from `layer`; `handled` tells whether the handler ever ran. */
      const onRuntime = <ER>(layer: Layer.Layer<Authenticator.Authenticator, ER>) =>
        Effect.gen(function* () {
          let handled = false
          const base = yield* serveOn(yield* runtime(layer), () => {
            handled = true
          })
          return { url: `${base}/whoami`, handled: () => handled }
        })

      it.scoped("answers 503 to every request, never 200, when the authenticator layer fails to build", () =>
        Effect.gen(function* () {
          const server = yield* onRuntime(brokenLayer)
          for (const authorization of [bearer(adminToken), basic(basicUser, basicPassword), undefined, undefined]) {
            const answer = yield* get(server.url, authorization === undefined ? {} : { authorization })
            expect(answer.status).toBe(503)
            expect(answer.headers.get("retry-after")).not.toBeNull()
            expect(problem(answer)).toMatchObject({ code: "provider_unavailable", reason: "misconfigured" })
            expect(answer.body).not.toContain("no authenticator configured")
          }
          expect(server.handled()).toBe(false)
        })
      )

      it.scoped("answers 500, never 200, when a provider dies", () =>
        Effect.gen(function* () {
          const server = yield* onRuntime(dyingLayer)
          const answer = yield* get(server.url, { authorization: bearer(adminToken) })
          expect(answer.status).toBe(500)
          expect(problem(answer)).toMatchObject({ code: "internal_error" })
          expect(answer.body).not.toContain("provider bug")
          expect(server.handled()).toBe(false)
        })
      )

      it.scopedLive("interrupts the authentication work when the client goes away", () =>
        Effect.gen(function* () {
          const { interrupted, layer, started } = yield* hangingAuthenticator
          const server = yield* onRuntime(layer)
          const outcome = yield* abandon(server.url, { authorization: bearer(adminToken) }, Deferred.await(started))
          expect(outcome).toBe("aborted")
          yield* Deferred.await(interrupted).pipe(
            Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "not interrupted" })
          )
        })
      )
    })
  })
