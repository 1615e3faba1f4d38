import { AuthError } from "@effect-auth/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Buffer } from "node:buffer"
import * as Http from "node:http"
import type { Socket } from "node:net"
import { inspect } from "node:util"
import { fetchJson, type Options } from "../src/internal/fetchJson.js"

type Handler = (request: Http.IncomingMessage, response: Http.ServerResponse) => void

interface Server {
  readonly url: string
  /** Requests received, by path. */
  readonly hits: Map<string, number>
  /** Headers of the last request. */
  readonly lastHeaders: () => Http.IncomingHttpHeaders | undefined
}

/** A node:http server on 127.0.0.1 answering by path; closed (every connection destroyed) with the scope. */
const serve = (routes: Record<string, Handler>): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: Http.Server; sockets: Set<Socket>; info: Server }>((resume) => {
      const hits = new Map<string, number>()
      const sockets = new Set<Socket>()
      let headers: Http.IncomingHttpHeaders | undefined
      const server = Http.createServer((request, response) => {
        const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname
        hits.set(path, (hits.get(path) ?? 0) + 1)
        headers = request.headers
        const route = routes[path]
        if (route === undefined) {
          response.writeHead(404).end()
          return
        }
        route(request, response)
      })
      server.on("connection", (socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(
          Effect.succeed({
            server,
            sockets,
            info: { url: `http://127.0.0.1:${port}`, hits, lastHeaders: () => headers }
          })
        )
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ info }) => info))

const json =
  (body: unknown, contentType = "application/json"): Handler =>
  (_request, response) => {
    const bytes = Buffer.from(typeof body === "string" ? body : JSON.stringify(body))
    response.writeHead(200, { "content-type": contentType, "content-length": bytes.length })
    response.end(bytes)
  }

const Keys = Schema.Struct({ keys: Schema.Array(Schema.Unknown) })
const options: Options = { provider: "test-idp", timeout: "2 seconds", maxResponseBytes: 64 * 1024 }

const undici = NodeHttpClient.layerUndici

const fetchKeys = (url: string, overrides?: Partial<Options>) => fetchJson(url, Keys, { ...options, ...overrides })

/** The failure, with how long it took. */
const failure = <A>(effect: Effect.Effect<A, AuthError.ProviderUnavailable, HttpClient.HttpClient>) =>
  Effect.gen(function* () {
    const started = Date.now()
    const error = yield* Effect.flip(effect)
    return { error, millis: Date.now() - started }
  })

describe("fetchJson", () => {
  it.scopedLive("GETs with accept: application/json and decodes the body with the schema", () =>
    Effect.gen(function* () {
      const server = yield* serve({ "/jwks": json({ keys: [{ kid: "a" }], extra: true }) })
      const document = yield* fetchKeys(`${server.url}/jwks`)
      expect(document).toEqual({ keys: [{ kid: "a" }] })
      expect(server.lastHeaders()?.accept).toBe("application/json")
    }).pipe(Effect.provide(undici))
  )

  it.scopedLive("accepts application/*+json with parameters", () =>
    Effect.gen(function* () {
      const server = yield* serve({
        "/a": json({ keys: [] }, "application/jwk-set+json; charset=utf-8"),
        "/b": json({ keys: [] }, "Application/JSON;charset=UTF-8")
      })
      expect(yield* fetchKeys(`${server.url}/a`)).toEqual({ keys: [] })
      expect(yield* fetchKeys(`${server.url}/b`)).toEqual({ keys: [] })
    }).pipe(Effect.provide(undici))
  )

  it.scopedLive("refuses a response that is not JSON by content-type as bad-response", () =>
    Effect.gen(function* () {
      const server = yield* serve({
        "/html": json("<html></html>", "text/html"),
        "/jsonx": json({ keys: [] }, "application/jsonx"),
        "/text": json({ keys: [] }, "text/json"),
        "/none": (_request, response) => response.writeHead(200).end(JSON.stringify({ keys: [] }))
      })
      for (const path of ["/html", "/jsonx", "/text", "/none"]) {
        const { error } = yield* failure(fetchKeys(`${server.url}${path}`))
        expect(error).toBeInstanceOf(AuthError.ProviderUnavailable)
        expect(error).toMatchObject({ reason: "bad-response", provider: "test-idp" })
      }
    }).pipe(Effect.provide(undici))
  )

  it.scopedLive("accepts only 200", () =>
    Effect.gen(function* () {
      const server = yield* serve({
        "/500": (_request, response) => response.writeHead(500, { "content-type": "application/json" }).end("{}"),
        "/204": (_request, response) => response.writeHead(204).end(),
        "/201": (_request, response) =>
          response.writeHead(201, { "content-type": "application/json" }).end('{"keys":[]}')
      })
      for (const path of ["/500", "/204", "/201"]) {
        const { error } = yield* failure(fetchKeys(`${server.url}${path}`))
        expect(error).toMatchObject({ reason: "bad-response" })
      }
    }).pipe(Effect.provide(undici))
  )

  const redirects = (layer: Layer.Layer<HttpClient.HttpClient>) =>
    Effect.gen(function* () {
      const server = yield* serve({
        "/moved": (_request, response) => response.writeHead(302, { location: "/evil" }).end(),
        "/permanent": (_request, response) => response.writeHead(308, { location: "/evil" }).end(),
        "/evil": json({ keys: [{ kid: "attacker" }] })
      })
      for (const path of ["/moved", "/permanent"]) {
        const { error } = yield* failure(fetchKeys(`${server.url}${path}`))
        expect(error).toMatchObject({ reason: "bad-response" })
      }
      expect(server.hits.get("/evil")).toBeUndefined()
    }).pipe(Effect.provide(layer))

  it.scopedLive("never follows a redirect with NodeHttpClient.layerUndici", () => redirects(undici))

  it.scopedLive("never follows a redirect with FetchHttpClient (fetch is told redirect: manual)", () =>
    redirects(FetchHttpClient.layer)
  )

  it.scopedLive("keeps RequestInit options already provided for fetch, still without redirects", () =>
    redirects(
      Layer.merge(
        FetchHttpClient.layer,
        Layer.succeed(FetchHttpClient.RequestInit, { redirect: "follow", keepalive: true })
      )
    )
  )

  it.scopedLive("refuses invalid JSON, invalid UTF-8 and a schema mismatch as bad-response", () =>
    Effect.gen(function* () {
      const server = yield* serve({
        "/garbage": json('{"keys": [ not json'),
        "/utf8": (_request, response) =>
          response
            .writeHead(200, { "content-type": "application/json" })
            .end(Buffer.from([0x7b, 0x22, 0x6b, 0xff, 0x22, 0x3a, 0x31, 0x7d])),
        "/shape": json({ keys: "secret-looking-value" })
      })
      for (const path of ["/garbage", "/utf8", "/shape"]) {
        const { error } = yield* failure(fetchKeys(`${server.url}${path}`))
        expect(error).toMatchObject({ reason: "bad-response", provider: "test-idp" })
        expect(inspect(error, { depth: 10 })).not.toContain("secret-looking-value")
      }
    }).pipe(Effect.provide(undici))
  )

  it.scopedLive("aborts a body over the cap as soon as the cap is passed, without reading the rest", () =>
    Effect.gen(function* () {
      let written = 0
      let finished = false
      const server = yield* serve({
        "/huge": (_request, response) => {
          response.writeHead(200, { "content-type": "application/json" })
          const chunk = Buffer.alloc(64 * 1024, "a")
          const pump = () => {
            // 100 MiB if nobody stops us; backpressure keeps this from racing ahead of the reader.
            while (written < 100 * 1024 * 1024 && !response.destroyed) {
              written += chunk.length
              if (!response.write(chunk)) return response.once("drain", pump)
            }
            if (!response.destroyed) {
              finished = true
              response.end()
            }
          }
          pump()
        }
      })
      const { error, millis } = yield* failure(fetchKeys(`${server.url}/huge`, { maxResponseBytes: 1024 * 1024 }))
      expect(error).toMatchObject({ reason: "bad-response" })
      expect(millis).toBeLessThan(2_000)
      yield* Effect.sleep("50 millis")
      expect(finished).toBe(false)
      expect(written).toBeLessThan(16 * 1024 * 1024)
    }).pipe(Effect.provide(undici))
  )

  it.scopedLive("refuses a declared content-length over the cap before reading the body", () =>
    Effect.gen(function* () {
      const server = yield* serve({
        // Declares 10 MiB, then sends nothing: only the header can make this fail fast.
        "/declared": (_request, response) =>
          response
            .writeHead(200, { "content-type": "application/json", "content-length": 10 * 1024 * 1024 })
            .flushHeaders()
      })
      const { error, millis } = yield* failure(fetchKeys(`${server.url}/declared`))
      expect(error).toMatchObject({ reason: "bad-response" })
      expect(millis).toBeLessThan(1_000)
    }).pipe(Effect.provide(undici))
  )

  it.scopedLive("times out a server that never answers, and one that stalls after the headers", () =>
    Effect.gen(function* () {
      const server = yield* serve({
        "/silent": () => {},
        "/stall": (_request, response) => {
          response.writeHead(200, { "content-type": "application/json" })
          response.write('{"keys": [')
        }
      })
      for (const path of ["/silent", "/stall"]) {
        const { error, millis } = yield* failure(fetchKeys(`${server.url}${path}`, { timeout: "300 millis" }))
        expect(error).toMatchObject({ reason: "timeout", provider: "test-idp" })
        expect(millis).toBeGreaterThanOrEqual(250)
        expect(millis).toBeLessThan(1_500)
      }
    }).pipe(Effect.provide(undici))
  )

  it.scopedLive("reports a refused or reset connection as unreachable, keeping the cause", () =>
    Effect.gen(function* () {
      const closed = yield* Effect.scoped(serve({}))
      const refused = yield* failure(fetchKeys(`${closed.url}/jwks`))
      expect(refused.error).toMatchObject({ reason: "unreachable", provider: "test-idp" })
      expect(refused.error.cause).toBeInstanceOf(Error)

      const server = yield* serve({
        "/reset": (request) => request.socket.destroy(),
        "/midway": (request, response) => {
          response.writeHead(200, { "content-type": "application/json" })
          response.write('{"keys": [', () => request.socket.destroy())
        }
      })
      for (const path of ["/reset", "/midway"]) {
        const { error } = yield* failure(fetchKeys(`${server.url}${path}`))
        expect(error).toMatchObject({ reason: "unreachable" })
        expect(error.cause).toBeDefined()
      }
    }).pipe(Effect.provide(undici))
  )

  it.scopedLive("never puts the query string in the error", () =>
    Effect.gen(function* () {
      const closed = yield* Effect.scoped(serve({}))
      const server = yield* serve({ "/500": (_request, response) => response.writeHead(500).end() })
      for (const url of [`${closed.url}/jwks?api_key=hunter2`, `${server.url}/500?api_key=hunter2`]) {
        const { error } = yield* failure(fetchKeys(url))
        expect(error.message).not.toContain("hunter2")
        expect(inspect(error, { depth: 10 })).not.toContain("hunter2")
      }
    }).pipe(Effect.provide(undici))
  )

  it.effect("refuses a URL that is not absolute http(s) as misconfigured, without a request", () =>
    Effect.gen(function* () {
      for (const url of ["/relative", "file:///etc/passwd", "ftp://127.0.0.1/jwks", "not a url"]) {
        const error = yield* Effect.flip(fetchKeys(url))
        expect(error).toMatchObject({ reason: "misconfigured", provider: "test-idp" })
      }
    }).pipe(Effect.provide(undici))
  )
})
