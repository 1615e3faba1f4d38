/**
 * Hostile requests, end to end: a real node:http server on 127.0.0.1 puts a route table in front of
 * `NodeHttpAuth.handler`, and fast-check (seeded) drives it over raw sockets, so methods, paths and headers
 * arrive exactly as written (unnormalised paths, repeated or oversized `Authorization`, junk bytes).
 *
 * Whatever arrives: the answer is never a 5xx, it comes within a bound, no promise rejection goes unhandled,
 * and a 200 is given only to a public path or to one valid credential that the matched route admits.
 */
import { ErrorResponse, NodeHttpAuth, RoutePolicy } from "@effect-auth/http"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import fc from "fast-check"
import type * as Http from "node:http"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import { adminToken, basic, basicPassword, basicUser, listen, runtime, userToken } from "../fixtures.js"

const SEED = 0x4e0de
const RUNS = 500
/** Generous for a loopback round trip on a busy machine; a hang or a lost answer would exceed it by far. */
const MAX_MILLIS_PER_RESPONSE = 5_000

const routes = Effect.runSync(
  RoutePolicy.parse(
    JSON.stringify([
      { path: "/admin/*", require: { groups: ["admin"] } },
      { path: "/ops/*", require: { groups: ["ops"] } },
      { path: "/docs/*", public: true }
    ])
  )
)

/** Who a header set authenticates as, by the fixtures' providers, and the groups each caller has. */
const callers: Readonly<Record<string, ReadonlyArray<string>>> = {
  [`Bearer ${adminToken}`]: ["admin"],
  [`Bearer ${userToken}`]: ["staff"],
  [basic(basicUser, basicPassword)]: ["ops"]
}

const ok = (_request: Http.IncomingMessage, response: Http.ServerResponse) => {
  response.writeHead(200, { "content-type": "text/plain" }).end("ok")
}

/** The route table in front of the handler: refused paths get a 400, public ones pass without credentials. */
const gateway =
  (authRuntime: NodeHttpAuth.AuthRuntime): Http.RequestListener =>
  (request, response) => {
    const url = request.url ?? "/"
    const query = url.indexOf("?")
    const decision = RoutePolicy.decide(routes, query < 0 ? url : url.slice(0, query))
    switch (decision._tag) {
      case "Rejected":
        return NodeHttpAuth.sendError(
          response,
          ErrorResponse.fromStatus({ status: 400, title: "Bad Request", code: "bad_path", detail: decision.reason })
        )
      case "Public":
        return ok(request, response)
      case "Protected":
        return NodeHttpAuth.handler(authRuntime, ok, { policy: decision.policy })(request, response)
    }
  }

/** Sends raw bytes on a new connection and reads the status of the first answer; 0 when none came. */
const exchange = (port: number, bytes: Buffer): Promise<{ readonly status: number; readonly millis: number }> =>
  new Promise((resolve) => {
    const start = performance.now()
    const chunks: Array<Buffer> = []
    const socket = Net.connect(port, "127.0.0.1")
    let answered = false
    const done = () => {
      if (answered) return
      answered = true
      clearTimeout(timer)
      socket.destroy()
      const text = Buffer.concat(chunks).toString("latin1")
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)
      resolve({ status: status === null ? 0 : Number(status[1]), millis: performance.now() - start })
    }
    const timer = setTimeout(done, MAX_MILLIS_PER_RESPONSE * 2)
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk)
      // The status line is all the property needs; the rest of the answer may keep the socket open.
      if (Buffer.concat(chunks).includes("\r\n")) done()
    })
    socket.on("error", done)
    socket.on("close", done)
    socket.on("connect", () => {
      // A server may answer (and close) before the whole request is written: that is an answer too.
      socket.write(bytes, () => undefined)
    })
  })

// ---------------------------------------------------------------------------------------------------------
// Requests

// CONNECT is left out: node hands it to the 'connect' event and, without a listener, closes the socket
// without an answer by design, which is not what this property is about.
const methodArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("GET", "POST", "HEAD") },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "GET",
      "GET",
      "POST",
      "PUT",
      "DELETE",
      "HEAD",
      "OPTIONS",
      "PATCH",
      "TRACE",
      "PROPFIND",
      "get",
      "G\u00c9T",
      ""
    )
  }
)

const pathPieces = [
  "admin",
  "ADMIN",
  "ops",
  "docs",
  "Docs",
  "x",
  "..",
  ".",
  "%2e%2e",
  "%2E.",
  "%2f",
  "%5c",
  "%252f",
  "%00",
  "%",
  "\\",
  "admin.",
  "admin;x",
  "ａｄｍｉｎ",
  "%c0%ae",
  "é",
  "a b",
  "?q=/admin",
  "#frag",
  ""
]
const pieceArb = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom("admin", "ops", "docs", "x") },
  { weight: 1, arbitrary: fc.constantFrom(...pathPieces) }
)
const separatorArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant("/") },
  { weight: 1, arbitrary: fc.constantFrom("//", "/./", "/../") }
)
/** Origin-form mostly; asterisk-form, absolute-form and a leading `//` now and then. */
const prefixArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.constantFrom("*", "http://127.0.0.1", "//") }
)
const pathArb = fc
  .tuple(prefixArb, fc.array(fc.tuple(separatorArb, pieceArb), { minLength: 1, maxLength: 5 }))
  .map(([prefix, parts]) => `${prefix}${parts.map(([separator, piece]) => `${separator}${piece}`).join("")}`)

const authorizationArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...Object.keys(callers)) },
  fc.constantFrom(
    `bearer ${adminToken}`,
    `Bearer  ${adminToken} `,
    `Bearer ${adminToken}, Bearer ${userToken}`,
    `Bearer ${adminToken}x`,
    "Bearer",
    "Basic",
    "Basic =",
    basic(basicUser, "wrong"),
    basic(`${basicUser}\u0000`, basicPassword),
    "Digest username=x",
    ""
  ),
  fc.integer({ min: 8_000, max: 70_000 }).map((size) => `Bearer ${"a".repeat(size)}`),
  fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 40 })
)

type Line = readonly [string, string]
const headerLinesArb: fc.Arbitrary<ReadonlyArray<Line>> = fc
  .tuple(
    fc.oneof(
      { weight: 4, arbitrary: fc.array(authorizationArb, { maxLength: 1 }) },
      { weight: 1, arbitrary: fc.array(authorizationArb, { minLength: 2, maxLength: 3 }) }
    ),
    fc.constantFrom("Authorization", "authorization", "AUTHORIZATION"),
    fc.oneof(
      { weight: 5, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom("some-key-0123456789", "") }
    ),
    fc.oneof(
      { weight: 4, arbitrary: fc.constant<ReadonlyArray<readonly [string, string]>>([]) },
      {
        weight: 1,
        arbitrary: fc.array(
          fc.tuple(
            fc.constantFrom(
              "x-forwarded-for",
              "x-original-url",
              "content-length",
              "transfer-encoding",
              "cookie",
              "x-junk"
            ),
            fc.constantFrom("1", "chunked", "/admin", "0, 0", "\u00ff", "a".repeat(10_000))
          ),
          { maxLength: 2 }
        )
      }
    )
  )
  .map(([authorizations, name, apiKey, others]) => [
    ...authorizations.map((value): Line => [name, value]),
    ...(apiKey === undefined ? [] : [["x-api-key", apiKey] as Line]),
    ...others
  ])

interface Request {
  readonly method: string
  readonly path: string
  readonly headers: ReadonlyArray<Line>
}

const requestArb: fc.Arbitrary<Request> = fc.record({ method: methodArb, path: pathArb, headers: headerLinesArb })

const rawRequest = ({ headers, method, path }: Request): Buffer =>
  Buffer.from(
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join("")}Connection: close\r\n\r\n`,
    "utf8"
  )

/** Whether the gateway may answer 200: a public path, or one valid credential the route admits. */
const mayPass = ({ headers, path }: Request): boolean => {
  const decision = RoutePolicy.decide(routes, path.split("?")[0]!)
  if (decision._tag === "Public") return true
  if (decision._tag === "Rejected") return false
  const authorizations = headers.filter(([name]) => name.toLowerCase() === "authorization")
  if (authorizations.length !== 1 || headers.some(([name]) => name === "x-api-key")) return false
  const groups = callers[authorizations[0]![1]]
  if (groups === undefined) return false
  if (decision.route === "/admin/*") return groups.includes("admin")
  if (decision.route === "/ops/*") return groups.includes("ops")
  return true
}

describe("NodeHttpAuth.handler behind a route table, on hostile requests (fast-check)", () => {
  it.scopedLive(
    "never answers 5xx, always answers in time, leaves no rejection unhandled, and lets through only what may pass",
    () =>
      Effect.gen(function* () {
        const rejections: Array<unknown> = []
        const onRejection = (reason: unknown) => rejections.push(reason)
        yield* Effect.acquireRelease(
          Effect.sync(() => process.on("unhandledRejection", onRejection)),
          () => Effect.sync(() => process.off("unhandledRejection", onRejection))
        )
        const authRuntime = yield* runtime()
        const url = yield* listen(gateway(authRuntime))
        const port = Number(new URL(url).port)

        const statuses = new Map<number, number>()
        let passed = 0
        const property = fc.asyncProperty(requestArb, async (request) => {
          const { millis, status } = await exchange(port, rawRequest(request))
          const context = JSON.stringify({ ...request, headers: request.headers.map(([n, v]) => [n, v.slice(0, 60)]) })
          statuses.set(status, (statuses.get(status) ?? 0) + 1)
          expect(status, context).toBeGreaterThanOrEqual(200)
          expect(status, context).toBeLessThan(500)
          expect(millis, context).toBeLessThan(MAX_MILLIS_PER_RESPONSE)
          if (status === 200) {
            passed++
            expect(mayPass(request), context).toBe(true)
          }
        })
        yield* Effect.promise(() => fc.assert(property, { seed: SEED, numRuns: RUNS }))
        // Let any late rejection surface before it is checked.
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
        expect(rejections).toStrictEqual([])

        // The requests reached every layer: node's own refusals, the route table, authentication, the policy.
        for (const status of [200, 400, 401, 403]) {
          expect(statuses.get(status) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(5)
        }
        expect(passed).toBeGreaterThan(5)
      }),
    60_000
  )
})
