import type { Principal } from "@effect-auth/core"
import { NodeHttpAuth } from "@effect-auth/http"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Http from "node:http"
import { suite } from "./AdapterSuite.js"
import { adminToken, bearer, get, listen, openAiError, problem, runtime } from "./fixtures.js"

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
