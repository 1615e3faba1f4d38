import type { Principal } from "@effect-auth/core"
import { Policy } from "@effect-auth/core"
import { FetchAuth } from "@effect-auth/http"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Http from "node:http"
import { suite } from "./AdapterSuite.js"
import {
  adminToken,
  AuthLive,
  basic,
  basicPassword,
  basicUser,
  bearer,
  expectedChallenge,
  listen,
  runtime,
  userToken
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

const whoami =
  (onHandle: () => void = () => {}) =>
  (_request: Request, principal: Principal.Principal) => {
    onHandle()
    return Response.json({ id: principal.id, provider: principal.provider })
  }

/** A server running `whoami` behind `FetchAuth.handler` on the test authenticator. */
const serve = (options?: FetchAuth.Options) =>
  Effect.flatMap(runtime(), (rt) => listen(toListener(FetchAuth.handler(rt, whoami(), options))))

suite("FetchAuth.handler over a socket", serve, {
  duplicateHeadersReason: "malformed",
  serveOn: (rt, onHandle) => listen(toListener(FetchAuth.handler(rt, whoami(onHandle))))
})

describe("FetchAuth.handler called directly", () => {
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
      const fetchHandler = FetchAuth.handler(
        rt,
        whoami(() => {
          handled = true
        })
      )
      const headers = new Headers([
        ["authorization", first],
        ["authorization", second]
      ])
      const response = yield* Effect.promise(() => fetchHandler(new Request("http://localhost/", { headers })))
      expect(response.status).toBe(401)
      expect(handled).toBe(false)
    })
  )

  it.scoped("FetchAuth.authorize names the principal a policy refused, and nobody for a failed authentication", () =>
    Effect.gen(function* () {
      const rt = yield* runtime()
      const policy = Policy.groups(["nobody-has-this-group"])
      const refused = yield* Effect.promise(() =>
        FetchAuth.authorize(rt, new Request("http://localhost/", { headers: { authorization: bearer(adminToken) } }), {
          policy
        })
      )
      expect(refused._tag).toBe("Refused")
      expect(refused._tag === "Refused" && refused.response.status).toBe(403)
      expect(refused.principal?.id).toBe("alice")
      const unauthenticated = yield* Effect.promise(() =>
        FetchAuth.authorize(rt, new Request("http://localhost/", { headers: { authorization: bearer("nope") } }), {
          policy
        })
      )
      expect(unauthenticated._tag === "Refused" && unauthenticated.response.status).toBe(401)
      expect(unauthenticated.principal).toBeUndefined()
    })
  )

  it.scoped("answers a Response with the mapped status, headers and body", () =>
    Effect.gen(function* () {
      const rt = yield* runtime()
      const fetchHandler = FetchAuth.handler(rt, whoami())
      const response = yield* Effect.promise(() => fetchHandler(new Request("http://localhost/")))
      expect(response.status).toBe(401)
      expect(response.headers.get("www-authenticate")).toBe(expectedChallenge)
      expect(yield* Effect.promise(() => response.json())).toMatchObject({ code: "missing_credentials" })
    })
  )
})
