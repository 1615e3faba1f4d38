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
  )
  const out: Record<string, string | Array<string>> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || hopByHop.has(name) || named.has(name) || dropped.has(name)) continue
    out[name] = value
  }
  return out
}

/** The upstream path: the upstream URL's own path followed by the request's path and query. */
const targetPath = (upstream: URL, requestUrl: string) => upstream.pathname.replace(/\/$/, "") + requestUrl

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
  const dropped = new Set(["x-auth-principal", "host", ...options.credentialHeaders])
  const headers = forwardable(request.headers, dropped)
  if (principalId !== undefined) headers["x-auth-principal"] = encodeURIComponent(principalId)
  headers["x-forwarded-for"] = request.socket.remoteAddress ?? ""
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
  outgoing.on("response", (upstreamResponse) => {
    const answerHeaders = forwardable(upstreamResponse.headers, new Set())
    response.writeHead(upstreamResponse.statusCode ?? 502, answerHeaders)
    pipeline(upstreamResponse, response, () => {})
  })
  pipeline(request, outgoing, (error) => {
    if (error !== undefined && error !== null) fail(502)
  })
  outgoing.on("error", () => fail(502))
}
