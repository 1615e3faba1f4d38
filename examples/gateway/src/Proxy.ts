/**
 * Streams an allowed request to the upstream and its answer back, with the caller's identity in
 * `X-Auth-Principal` and the caller's credentials removed.
 */
import type * as Http from "node:http"
import * as NodeHttp from "node:http"
import * as NodeHttps from "node:https"
import { pipeline } from "node:stream"

// RFC 9110 section 7.6.1: connection-specific headers are not forwarded.
const hopByHop = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade"
])

// Set (or removed) by the gateway itself: a client's value must never reach the upstream.
const gatewayOwned = [
  "host",
  "content-length",
  "x-auth-principal",
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-real-ip",
  // Some frameworks route on these instead of the request line: a bypass of the route table.
  "x-original-url",
  "x-rewrite-url"
]

// The framing headers: a client cannot name them in `Connection` to strip them (request smuggling).
const framing = new Set(["content-length", "transfer-encoding"])

export interface ProxyOptions {
  readonly upstream: URL
  /** Headers that carried credentials: never sent on (the upstream trusts `X-Auth-Principal` instead). */
  readonly credentialHeaders: ReadonlyArray<string>
  readonly timeoutMillis: number
}

const forwardable = (
  headers: Http.IncomingHttpHeaders,
  dropped: ReadonlySet<string>
): Record<string, string | Array<string>> => {
  const named = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((name) => name.trim().toLowerCase())
      .filter((name) => !framing.has(name))
  )
  const out: Record<string, string | Array<string>> = {}
  for (const [name, value] of Object.entries(headers)) {
    // CGI-style servers read `X_Auth_Principal` as `X-Auth-Principal`: names with `_` are never forwarded.
    if (value === undefined || name.includes("_") || hopByHop.has(name) || named.has(name) || dropped.has(name)) {
      continue
    }
    out[name] = value
  }
  return out
}

/** The upstream path: the upstream URL's own path followed by the request's path and query. */
const targetPath = (upstream: URL, requestUrl: string) => upstream.pathname.replace(/\/$/, "") + requestUrl

/**
 * How the request's body is framed to the upstream. node has already read the client's framing
 * (and refuses a request with both `Content-Length` and `Transfer-Encoding`); the upstream request
 * states its own, so a body can never be read upstream as a second, unchecked request.
 */
const bodyFraming = (request: Http.IncomingMessage): Record<string, string> | undefined => {
  if (request.headers["transfer-encoding"] !== undefined) return { "transfer-encoding": "chunked" }
  const length = request.headers["content-length"]
  if (length !== undefined && /^\d+$/.test(length) && Number(length) > 0) return { "content-length": length }
  return undefined
}

/**
 * Forwards the request. `principalId` is undefined on public routes; a client-sent `X-Auth-Principal`
 * is always removed, so it cannot be forged.
 */
export const forward = (
  options: ProxyOptions,
  request: Http.IncomingMessage,
  response: Http.ServerResponse,
  principalId: string | undefined,
  onError: (status: 502 | 504) => void
): void => {
  const dropped = new Set([...gatewayOwned, ...options.credentialHeaders])
  const body = bodyFraming(request)
  const headers = { ...forwardable(request.headers, dropped), ...body }
  if (principalId !== undefined) headers["x-auth-principal"] = encodeURIComponent(principalId)
  headers["x-forwarded-for"] = request.socket.remoteAddress ?? ""
  headers["x-forwarded-proto"] = "http"
  if (request.headers.host !== undefined) headers["x-forwarded-host"] = request.headers.host
  headers.host = options.upstream.host

  const client = options.upstream.protocol === "https:" ? NodeHttps : NodeHttp
  const outgoing = client.request({
    protocol: options.upstream.protocol,
    hostname: options.upstream.hostname,
    port: options.upstream.port,
    method: request.method,
    path: targetPath(options.upstream, request.url ?? "/"),
    headers,
    timeout: options.timeoutMillis
  })
  let failed = false
  const fail = (status: 502 | 504) => {
    if (failed) return
    failed = true
    outgoing.destroy()
    onError(status)
  }
  outgoing.on("timeout", () => fail(504))
  outgoing.on("error", () => fail(502))
  outgoing.on("response", (upstreamResponse) => {
    const answerHeaders = forwardable(upstreamResponse.headers, new Set())
    response.writeHead(upstreamResponse.statusCode ?? 502, answerHeaders)
    pipeline(upstreamResponse, response, () => {})
  })
  if (body === undefined) {
    // No body was announced: send none, whatever bytes follow on the client's connection.
    outgoing.end()
    request.resume()
    return
  }
  pipeline(request, outgoing, (error) => {
    if (error !== undefined && error !== null) fail(502)
  })
}
