/**
 * The one hardened GET every key source uses (JWKS, OIDC discovery): no redirects, only `200` with a JSON
 * content type, the body read as a stream under a byte cap, the whole exchange under a timeout, and the
 * JSON validated with a schema. Every failure is a `ProviderUnavailable` that keeps its cause.
 *
 * Which `HttpClient`: tests and the gateway use `NodeHttpClient.layerUndici` from `@effect/platform-node`.
 * undici 7's `Dispatcher.request` never follows redirects (following needs the `redirect` interceptor,
 * which that layer does not install), so a `3xx` reaches us as a `3xx` and is refused. `FetchHttpClient`
 * uses `fetch`, which follows redirects by default; we ask it not to (`redirect: "manual"`, below), so a
 * `3xx` is refused there too. A client wrapped in `HttpClient.followRedirects` cannot be protected here.
 *
 * @internal
 */
import { AuthError } from "@effect-auth/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/** @internal */
export interface Options {
  /** Name put in every `ProviderUnavailable`. */
  readonly provider: string
  /** Bound on the whole exchange: connecting, headers and body. */
  readonly timeout: Duration.DurationInput
  /** Largest body accepted, in bytes. */
  readonly maxResponseBytes: number
}

/**
 * Why a fetch failed, as the `cause` of a `ProviderUnavailable`. Its message names the problem only, never
 * the URL (a query string may carry a key) or the body.
 *
 * @internal
 */
export class FetchFailure extends Error {
  override readonly name = "FetchFailure"
}

// `application/json` or a structured-syntax `+json` type such as `application/jwk-set+json` (RFC 6839);
// parameters (`; charset=utf-8`) are allowed after it.
const jsonMediaType = /^application\/(?:[a-z0-9!#$&^_.-]+\+)?json$/

/** @internal */
export const isJsonContentType = (header: string | undefined): boolean => {
  if (header === undefined) return false
  const semicolon = header.indexOf(";")
  const mediaType = (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase()
  return jsonMediaType.test(mediaType)
}

/**
 * GETs `url` and decodes its JSON body with `schema`.
 *
 * @internal
 */
export const fetchJson = <A, I>(
  url: string,
  schema: Schema.Schema<A, I>,
  options: Options
): Effect.Effect<A, AuthError.ProviderUnavailable, HttpClient.HttpClient> => {
  const { maxResponseBytes, provider } = options
  const unavailable = (reason: AuthError.ProviderUnavailable["reason"], cause: unknown) =>
    new AuthError.ProviderUnavailable({ reason, provider, cause })
  const badResponse = (message: string) => unavailable("bad-response", new FetchFailure(message))

  const target = parseUrl(url)
  if (target === undefined) {
    return Effect.fail(unavailable("misconfigured", new FetchFailure("The URL is not an absolute http(s) URL")))
  }

  const exchange = Effect.gen(function* () {
    // `withScope`: closing the scope aborts the request, so a refused response (a 3xx, a wrong content
    // type, a body over the cap) or an interruption (the timeout) never leaves a socket half read.
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.withScope,
      // Trace ids of this service are nobody else's business: a JWKS endpoint is usually a third party.
      HttpClient.withTracerPropagation(false)
    )
    const request = HttpClientRequest.get(target).pipe(HttpClientRequest.acceptJson)
    const response = yield* client.execute(request).pipe(
      Effect.mapError((error) => transportFailure(error, unavailable)),
      withoutFetchRedirects
    )
    if (response.status !== 200) {
      // A redirect is refused like any other status: following it would let whoever controls the
      // Location (an open redirect on the IdP, a compromised proxy) choose the keys we trust.
      return yield* badResponse(`Unexpected HTTP status ${response.status}`)
    }
    if (!isJsonContentType(response.headers["content-type"])) {
      return yield* badResponse("The response is not JSON (content-type)")
    }
    const declared = response.headers["content-length"]
    if (declared !== undefined && Number(declared) > maxResponseBytes) {
      return yield* badResponse(`The response is larger than ${maxResponseBytes} bytes`)
    }
    const bytes = yield* readCapped(response, maxResponseBytes, unavailable, badResponse)
    const json = yield* Effect.try({
      try: (): unknown => JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)),
      // Not the SyntaxError itself: its message quotes the body.
      catch: () => badResponse("The response is not valid UTF-8 JSON")
    })
    return yield* Schema.decodeUnknown(schema)(json).pipe(
      Effect.mapError((error) => badResponse(`The response does not have the expected shape (${issuePaths(error)})`))
    )
  })

  return exchange.pipe(
    Effect.scoped,
    Effect.timeoutFail({
      duration: options.timeout,
      onTimeout: () =>
        unavailable(
          "timeout",
          new Cause.TimeoutException(`No complete response within ${Duration.format(Duration.decode(options.timeout))}`)
        )
    })
  )
}

// Where the document is wrong, without the offending values (a ParseError's message quotes them).
const issuePaths = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .slice(0, 5)
    .map((issue) => (issue.path.length === 0 ? "<root>" : issue.path.map(String).join(".")))
    .join(", ")

const parseUrl = (url: string): URL | undefined => {
  try {
    const parsed = new URL(url)
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed : undefined
  } catch {
    return undefined
  }
}

// fetch (FetchHttpClient) follows redirects unless told otherwise; undici ignores this setting. Options
// already in the context (an agent, keep-alive) are kept.
const withoutFetchRedirects = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.serviceOption(FetchHttpClient.RequestInit), (init) =>
    Effect.provideService(self, FetchHttpClient.RequestInit, {
      ...Option.getOrElse(init, () => ({})),
      redirect: "manual"
    })
  )

// The platform's errors hold the request, whose URL may carry a query string; only their own cause
// (the socket error) is kept.
const transportFailure = (
  error: HttpClientError.HttpClientError,
  unavailable: (reason: AuthError.ProviderUnavailable["reason"], cause: unknown) => AuthError.ProviderUnavailable
): AuthError.ProviderUnavailable => {
  if (error._tag === "RequestError" && error.reason !== "Transport") {
    return unavailable("misconfigured", new FetchFailure(`The request could not be built (${error.reason})`))
  }
  return unavailable("unreachable", new FetchFailure(`The connection failed (${error.reason})`, { cause: error.cause }))
}

const readCapped = (
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number,
  unavailable: (reason: AuthError.ProviderUnavailable["reason"], cause: unknown) => AuthError.ProviderUnavailable,
  badResponse: (message: string) => AuthError.ProviderUnavailable
): Effect.Effect<Uint8Array, AuthError.ProviderUnavailable> =>
  Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let total = 0
    return response.stream.pipe(
      Stream.mapError((error) => transportFailure(error, unavailable)),
      // Fails on the first chunk past the cap: the rest of a huge body is never read (the scope aborts it).
      Stream.runForEach((chunk) => {
        total += chunk.byteLength
        if (total > maxBytes) return Effect.fail(badResponse(`The response is larger than ${maxBytes} bytes`))
        chunks.push(chunk)
        return Effect.void
      }),
      Effect.map(() => {
        const body = new Uint8Array(total)
        let offset = 0
        for (const chunk of chunks) {
          body.set(chunk, offset)
          offset += chunk.byteLength
        }
        return body
      })
    )
  })
