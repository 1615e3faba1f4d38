/**
 * A local OIDC issuer for tests: discovery and JWKS served over real HTTP on 127.0.0.1, keys that
 * rotate on demand, request counters, and fault switches (down, slow, garbage, HTML, huge, status,
 * redirect) to exercise a client's failure handling.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Buffer } from "node:buffer"
import * as Http from "node:http"
import type { Socket } from "node:net"
import * as Keys from "./Keys.js"
import * as Tokens from "./Tokens.js"

/**
 * What the issuer does instead of answering normally.
 *
 * - `None`: answers normally.
 * - `Down`: destroys the socket without a response.
 * - `Slow`: answers normally after `millis`.
 * - `Garbage`: 200 with `content-type: application/json` and a body that is not JSON.
 * - `Html`: 200 with an HTML page (a login page, a captive portal).
 * - `Huge`: 200 JSON of `bytes` bytes, streamed; sent chunked unless `declareLength` sets `content-length`.
 * - `Status`: that status with a small JSON body.
 * - `Redirect`: 302 to `location`.
 *
 * @since 0.1.0
 */
export type Fault =
  | { readonly _tag: "None" }
  | { readonly _tag: "Down" }
  | { readonly _tag: "Slow"; readonly millis: number }
  | { readonly _tag: "Garbage" }
  | { readonly _tag: "Html" }
  | { readonly _tag: "Huge"; readonly bytes: number; readonly declareLength?: boolean | undefined }
  | { readonly _tag: "Status"; readonly status: number }
  | { readonly _tag: "Redirect"; readonly location: string }

/**
 * Options of `start`.
 *
 * @since 0.1.0
 */
export interface IssuerOptions {
  /** Algorithm of the first signing key, default `RS256`. */
  readonly algorithm?: Keys.Algorithm | undefined
  /** A path after the base URL, e.g. `/tenant-1/v2.0`: the issuer is `${baseUrl}${issuerPath}`. */
  readonly issuerPath?: string | undefined
  /** Replaces the issuer string entirely (e.g. `https://sts.windows.net/<tid>/`). */
  readonly issuer?: ((baseUrl: string) => string) | undefined
  /** Where the JWKS is served, relative to the root, default `/.well-known/jwks.json`. */
  readonly jwksPath?: string | undefined
  /** Extra discovery fields, merged last. */
  readonly metadata?: ((baseUrl: string) => Record<string, unknown>) | undefined
  /** Extra members for each published JWK (Entra's `issuer`). */
  readonly jwkExtras?: ((key: Keys.SigningKey) => Record<string, unknown>) | undefined
  /** Default 0: any free port. */
  readonly port?: number | undefined
}

/**
 * Options of `Issuer.mint`: those of `Tokens.mint` without `issuer`, with an optional `key`.
 *
 * @since 0.1.0
 */
export type IssuerMintOptions = Omit<Tokens.MintOptions, "key" | "issuer"> & {
  readonly key?: Keys.SigningKey | undefined
}

/**
 * A running issuer. `keys`, `currentKey` and `requests` are live views.
 *
 * @since 0.1.0
 */
export interface Issuer {
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string
  readonly issuer: string
  /**
   * `${issuer}/.well-known/openid-configuration` (a trailing `/` of the issuer dropped, as OIDC
   * discovery says); `${baseUrl}/.well-known/openid-configuration` when the issuer is not on this
   * server. Discovery is answered for any path ending in `/.well-known/openid-configuration`.
   */
  readonly discoveryUrl: string
  readonly jwksUrl: string
  /** Published keys, current signing key first. */
  readonly keys: ReadonlyArray<Keys.SigningKey>
  /** The key `mint` signs with (throws when every key was removed). */
  readonly currentKey: Keys.SigningKey
  /** Mints a token with `iss` = this issuer, `sub` default `"user-1"`, signed with the current key. */
  readonly mint: (claims?: Record<string, unknown>, options?: IssuerMintOptions) => Promise<string>
  /** Generates a key that becomes current; `keepOld` (default true) keeps publishing the previous ones. */
  readonly rotate: (options?: {
    readonly algorithm?: Keys.Algorithm | undefined
    readonly keepOld?: boolean | undefined
  }) => Promise<Keys.SigningKey>
  /** Publishes a key (after the current one; replaces a key with the same `kid`). */
  readonly addKey: (key: Keys.SigningKey) => void
  /** Stops publishing a key. */
  readonly removeKey: (kid: string) => void
  /** Switches a fault on (or off, with `{ _tag: "None" }`) for the JWKS, discovery or both (default). */
  readonly setFault: (fault: Fault, target?: "jwks" | "discovery" | "all") => void
  /** Requests received so far, faulted ones included. */
  readonly requests: { readonly jwks: number; readonly discovery: number }
  readonly resetCounts: () => void
  /** Closes the server and every open connection, pending slow answers included. */
  readonly close: () => Promise<void>
}

const discoverySuffix = "/.well-known/openid-configuration"

/**
 * Starts an issuer on 127.0.0.1 with one signing key.
 *
 * @example
 * const issuer = await Issuer.start({ algorithm: "ES256" })
 * const token = await issuer.mint({ aud: "api" })
 * issuer.setFault({ _tag: "Down" }, "jwks")
 * await issuer.close()
 *
 * @since 0.1.0
 */
export const start = async (options: IssuerOptions = {}): Promise<Issuer> => {
  let keys: ReadonlyArray<Keys.SigningKey> = [await Keys.generate(options.algorithm ?? "RS256")]
  const faults: { jwks: Fault; discovery: Fault } = { jwks: { _tag: "None" }, discovery: { _tag: "None" } }
  const counts = { jwks: 0, discovery: 0 }
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  const jwksPath = options.jwksPath ?? "/.well-known/jwks.json"

  const server = Http.createServer((request, response) => {
    const pathname = URL.canParse(request.url ?? "", "http://127.0.0.1")
      ? new URL(request.url ?? "", "http://127.0.0.1").pathname
      : undefined
    const target =
      request.method !== "GET" || pathname === undefined
        ? undefined
        : pathname === jwksPath
          ? "jwks"
          : pathname.endsWith(discoverySuffix)
            ? "discovery"
            : undefined
    if (target === undefined) return send(response, 404, { error: "not_found" })
    counts[target]++
    const answer = () => (target === "jwks" ? send(response, 200, jwks()) : send(response, 200, discovery()))
    respond(response, faults[target], answer, timers)
  })
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject)
      resolve()
    })
  })
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : options.port
  const baseUrl = `http://127.0.0.1:${port}`
  const issuer = options.issuer ? options.issuer(baseUrl) : `${baseUrl}${options.issuerPath ?? ""}`
  const discoveryUrl = issuer.startsWith(baseUrl)
    ? `${issuer.replace(/\/+$/, "")}${discoverySuffix}`
    : `${baseUrl}${discoverySuffix}`
  const jwksUrl = `${baseUrl}${jwksPath}`

  const jwks = () => ({
    keys: keys.map((key) => ({ ...key.publicJwk, ...options.jwkExtras?.(key) }))
  })
  const discovery = () => ({
    issuer,
    jwks_uri: jwksUrl,
    authorization_endpoint: `${baseUrl}/authorize`,
    token_endpoint: `${baseUrl}/token`,
    id_token_signing_alg_values_supported: [...new Set(keys.map((key) => key.alg))],
    response_types_supported: ["code"],
    subject_types_supported: ["public"],
    ...options.metadata?.(baseUrl)
  })
  const currentKey = (): Keys.SigningKey => {
    const key = keys[0]
    if (key === undefined) throw new Error("Issuer: every key was removed, there is no current key")
    return key
  }

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      server.close(() => resolve())
      // A slow answer or a keep-alive connection must not hold the server open.
      server.closeAllConnections()
      for (const socket of sockets) socket.destroy()
    })
    return closing
  }

  return {
    baseUrl,
    issuer,
    discoveryUrl,
    jwksUrl,
    get keys() {
      return keys
    },
    get currentKey() {
      return currentKey()
    },
    mint: (claims, mintOptions) =>
      Tokens.mint({
        ...mintOptions,
        key: mintOptions?.key ?? currentKey(),
        issuer,
        subject: mintOptions?.subject ?? "user-1",
        claims
      }),
    rotate: async (rotateOptions) => {
      const key = await Keys.generate(rotateOptions?.algorithm ?? keys[0]?.alg ?? options.algorithm ?? "RS256")
      keys = rotateOptions?.keepOld === false ? [key] : [key, ...keys]
      return key
    },
    addKey: (key) => {
      keys = [...keys.filter((existing) => existing.kid !== key.kid), key]
    },
    removeKey: (kid) => {
      keys = keys.filter((key) => key.kid !== kid)
    },
    setFault: (fault, target = "all") => {
      if (target !== "discovery") faults.jwks = fault
      if (target !== "jwks") faults.discovery = fault
    },
    requests: {
      get jwks() {
        return counts.jwks
      },
      get discovery() {
        return counts.discovery
      }
    },
    resetCounts: () => {
      counts.jwks = 0
      counts.discovery = 0
    },
    close
  }
}

/**
 * `start` as a scoped resource: the issuer closes when the scope does.
 *
 * @example
 * it.scoped("verifies", () => Effect.gen(function* () {
 *   const issuer = yield* Issuer.scoped()
 *   const token = yield* Effect.promise(() => issuer.mint())
 * }))
 *
 * @since 0.1.0
 */
export const scoped = (options?: IssuerOptions): Effect.Effect<Issuer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (issuer) => Effect.promise(() => issuer.close())
  )

const send = (response: Http.ServerResponse, status: number, body: unknown): void => {
  const bytes = Buffer.from(JSON.stringify(body))
  response.writeHead(status, { "content-type": "application/json", "content-length": bytes.length })
  response.end(bytes)
}

const respond = (
  response: Http.ServerResponse,
  fault: Fault,
  answer: () => void,
  timers: Set<NodeJS.Timeout>
): void => {
  switch (fault._tag) {
    case "None":
      return answer()
    case "Down":
      response.socket?.destroy()
      return
    case "Slow": {
      const timer = setTimeout(() => {
        timers.delete(timer)
        if (!response.destroyed) answer()
      }, fault.millis)
      timers.add(timer)
      response.on("close", () => {
        clearTimeout(timer)
        timers.delete(timer)
      })
      return
    }
    case "Garbage": {
      const body = '{"keys": [ this is not JSON'
      response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
      response.end(body)
      return
    }
    case "Html": {
      const body = "<!doctype html><html><head><title>Sign in</title></head><body><h1>Sign in</h1></body></html>"
      response.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(body) })
      response.end(body)
      return
    }
    case "Huge":
      void streamHuge(response, fault.bytes, fault.declareLength === true)
      return
    case "Status":
      return send(response, fault.status, { error: `status ${fault.status}` })
    case "Redirect":
      response.writeHead(302, { location: fault.location, "content-length": 0 })
      response.end()
      return
  }
}

/** A JSON document of exactly `bytes` bytes (valid if read to the end), written chunk by chunk. */
const streamHuge = async (response: Http.ServerResponse, bytes: number, declareLength: boolean): Promise<void> => {
  const prefix = '{"keys":[],"padding":"'
  const suffix = '"}'
  const framed = bytes >= prefix.length + suffix.length
  response.writeHead(200, {
    "content-type": "application/json",
    ...(declareLength ? { "content-length": bytes } : {})
  })
  if (framed) response.write(prefix)
  const chunk = Buffer.alloc(64 * 1024, "a")
  let remaining = framed ? bytes - prefix.length - suffix.length : bytes
  while (remaining > 0 && !response.destroyed) {
    const size = Math.min(remaining, chunk.length)
    remaining -= size
    if (!response.write(size === chunk.length ? chunk : chunk.subarray(0, size))) await drained(response)
  }
  if (!response.destroyed) response.end(framed ? suffix : undefined)
}

const drained = (response: Http.ServerResponse): Promise<void> =>
  new Promise((resolve) => {
    const done = () => {
      response.off("drain", done)
      response.off("close", done)
      resolve()
    }
    response.on("drain", done)
    response.on("close", done)
  })
