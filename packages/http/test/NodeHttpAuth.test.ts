import type { Principal } from "@effect-auth/core"
import { type AuthProvider, Authenticator, Policy } from "@effect-auth/core"
import { NodeHttpAuth } from "@effect-auth/http"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import type * as Http from "node:http"
import { suite } from "./AdapterSuite.js"
import {
  adminToken,
  AuthLive,
  basicProvider,
  bearer,
  bearerProvider,
  get,
  listen,
  openAiError,
  problem,
  runtime,
  unknownToken,
  userToken
} from "./fixtures.js"

const whoami =
  (onHandle: () => void = () => {}) =>
  (_request: Http.IncomingMessage, response: Http.ServerResponse, principal: Principal.Principal) => {
    onHandle()
    response.writeHead(200, { "content-type": "application/json" })
    response.end(JSON.stringify({ id: principal.id, provider: principal.provider }))
  }

/** A node:http server running `whoami` behind `NodeHttpAuth.handler` on the test authenticator. */
const serve = (options?: NodeHttpAuth.Options, serverOptions?: Http.ServerOptions) =>
  Effect.flatMap(runtime(), (rt) => listen(NodeHttpAuth.handler(rt, whoami(), options), serverOptions))

suite("NodeHttpAuth.handler", serve, {
  duplicateHeadersReason: "multiple-headers",
  serveOn: (rt, onHandle) => listen(NodeHttpAuth.handler(rt, whoami(onHandle)))
})

describe("NodeHttpAuth.handler on node:http", () => {
  it.scoped("refuses an Authorization header over 16 KiB as too-large when node lets it through", () =>
    Effect.gen(function* () {
      const url = yield* serve({}, { maxHeaderSize: 64 * 1024 })
      const answer = yield* get(url, { authorization: bearer("a".repeat(20 * 1024)) })
      expect(answer.status).toBe(401)
      expect(problem(answer)).toMatchObject({ code: "invalid_credentials", reason: "too-large" })
      expect(answer.body).not.toContain("a".repeat(64))
    })
  )

  it.scoped("a refused request is an answer, not an unhandled error the runtime logs (with the principal)", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => lines.push(`${logLevel.label} ${String(message)}`))
      const rt = yield* runtime(
        Layer.mergeAll(AuthLive, Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.All))
      )
      const url = yield* listen(NodeHttpAuth.handler(rt, whoami(), { policy: Policy.groups(["admin"]) }))
      expect((yield* get(url, { authorization: bearer(userToken) })).status).toBe(403)
      expect((yield* get(url, { authorization: bearer(unknownToken) })).status).toBe(401)
      expect((yield* get(url, { authorization: bearer(adminToken) })).status).toBe(200)
      // The logger is in place (the runtime logs through it), and no refusal reached it.
      yield* Effect.promise(() => rt.runPromise(Effect.logDebug("logger check")))
      expect(lines).toContain("DEBUG logger check")
      expect(lines.filter((line) => line.includes("unhandled"))).toEqual([])
    })
  )

  it.scoped("never lets a 20 KiB header through node's default header limit (431)", () =>
    Effect.gen(function* () {
      const url = yield* serve()
      const answer = yield* get(url, { authorization: bearer(adminToken + "a".repeat(20 * 1024)) })
      expect(answer.status).toBe(431)
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

/**
 * The fixture's bearer provider with a synchronous lane that decides exactly as `authenticate` does, and
 * counts its answers: the adapter must take it, and answer the same as through the Effect path.
 */
const withLane = (provider: AuthProvider.AuthProvider) => {
  const answered = { now: 0 }
  const laned: AuthProvider.AuthProvider = {
    ...provider,
    authenticateNow: (credential) => {
      answered.now++
      const exit = Effect.runSyncExit(provider.authenticate(credential))
      if (Exit.isSuccess(exit)) return Either.right(exit.value)
      return Option.match(Cause.failureOption(exit.cause), { onNone: () => undefined, onSome: Either.left })
    }
  }
  return { laned, answered }
}

const LaneLive = Authenticator.layer([Effect.succeed(withLane(bearerProvider).laned), Effect.succeed(basicProvider)])

suite(
  "NodeHttpAuth.handler, synchronous lane",
  (options) => Effect.flatMap(runtime(LaneLive), (rt) => listen(NodeHttpAuth.handler(rt, whoami(), options))),
  { duplicateHeadersReason: "multiple-headers" }
)

describe("NodeHttpAuth.handler's synchronous lane", () => {
  it.scoped("answers from the lane when the provider has one, and never 200 once the runtime is disposed", () =>
    Effect.gen(function* () {
      const { answered, laned } = withLane(bearerProvider)
      const rt = ManagedRuntime.make(Authenticator.layer([Effect.succeed(laned), Effect.succeed(basicProvider)]))
      const url = yield* listen(NodeHttpAuth.handler(rt, whoami()))
      // The first request builds the runtime on the Effect path; later ones take the lane.
      for (let i = 0; i < 3; i++) {
        const answer = yield* get(url, { authorization: bearer(adminToken) })
        expect(answer.status).toBe(200)
        expect(JSON.parse(answer.body)).toEqual({ id: "alice", provider: "test-bearer" })
      }
      expect(answered.now).toBeGreaterThanOrEqual(2)
      const refused = yield* get(url, { authorization: bearer("tok-unknown-lane-0000") })
      expect(refused.status).toBe(401)
      // The same challenges as the Effect path sends (every configured scheme, the bearer error first).
      const challenge = refused.headers.get("www-authenticate") ?? ""
      expect(challenge.startsWith('Bearer realm="api", error="invalid_token"')).toBe(true)
      expect(challenge).toContain('Basic realm="test"')
      yield* Effect.promise(() => rt.dispose())
      // What the lane still holds in memory must not outlive the runtime.
      const afterDispose = yield* get(url, { authorization: bearer(adminToken) })
      expect(afterDispose.status).not.toBe(200)
    })
  )
})
