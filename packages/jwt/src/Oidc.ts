/**
 * OpenID Connect Discovery: reads an issuer's `/.well-known/openid-configuration` to find its JWKS.
 *
 * @since 0.1.0
 */
import { AuthError } from "@effect-auth/core"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { fetchJson, FetchFailure } from "./internal/fetchJson.js"

/**
 * The provider metadata: `issuer` and `jwks_uri` are checked, every other member is passed through.
 *
 * @since 0.1.0
 */
export interface Metadata {
  readonly issuer: string
  readonly jwks_uri: string
  readonly [k: string]: unknown
}

/**
 * Options of `discover` and `jwksUri`.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Name used in `ProviderUnavailable` (default `"jwt"`). */
  readonly provider?: string | undefined
  /** Bound on the discovery request (default 5 seconds). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Largest metadata document accepted (default 1 MiB). */
  readonly maxResponseBytes?: number | undefined
}

const MetadataDocument: Schema.Schema<Metadata, Metadata> = Schema.Struct(
  { issuer: Schema.String, jwks_uri: Schema.String },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

const wellKnown = "/.well-known/openid-configuration"

/**
 * Fetches and checks an issuer's discovery document, from `${issuer}/.well-known/openid-configuration` (a
 * trailing `/` of the issuer dropped first, OIDC Discovery §4).
 *
 * Fails with `ProviderUnavailable`:
 * - `misconfigured` when `issuer` is not an acceptable URL (see below), when the document's `issuer` is not
 *   exactly the configured one (§4.3: otherwise a document served at one issuer's address could name another
 *   issuer's keys), or when `jwks_uri` is not an acceptable URL;
 * - `timeout`, `unreachable`, `bad-response` as the request itself fails.
 *
 * An acceptable URL is absolute, `https:` (or `http:` to a loopback host, exactly `localhost`, `127.0.0.1`
 * or `[::1]`, for local development and tests), without user info; an issuer also has no query or fragment.
 * Plain HTTP anywhere else would let anyone on the path swap the keys tokens are verified with.
 *
 * @example
 * import { Oidc } from "@effect-auth/jwt"
 *
 * const metadata = Oidc.discover("https://login.example.com/tenant-1/v2.0", { provider: "example" })
 *
 * @since 0.1.0
 */
export const discover = (
  issuer: string,
  options?: Options
): Effect.Effect<Metadata, AuthError.ProviderUnavailable, HttpClient.HttpClient> => {
  const provider = options?.provider ?? "jwt"
  const misconfigured = (message: string) =>
    new AuthError.ProviderUnavailable({ reason: "misconfigured", provider, cause: new FetchFailure(message) })
  const issuerUrl = secureUrl(issuer)
  if (issuerUrl === undefined || issuerUrl.search !== "" || issuerUrl.hash !== "") {
    return Effect.fail(
      misconfigured("The issuer is not an https URL (http only to a loopback host) without query or fragment")
    )
  }
  const url = `${issuer.endsWith("/") ? issuer.slice(0, -1) : issuer}${wellKnown}`
  return fetchJson(url, MetadataDocument, {
    provider,
    timeout: options?.timeout ?? Duration.seconds(5),
    maxResponseBytes: options?.maxResponseBytes ?? 1024 * 1024
  }).pipe(
    Effect.filterOrFail(
      (metadata) => metadata.issuer === issuer,
      () => misconfigured("The discovery document names a different issuer")
    ),
    Effect.filterOrFail(
      (metadata) => secureUrl(metadata.jwks_uri) !== undefined,
      () => misconfigured("The jwks_uri is not an https URL (http only to a loopback host)")
    )
  )
}

/**
 * The issuer's `jwks_uri`, found by {@link discover}; the `url` of a `JwksCache` for that issuer.
 *
 * @since 0.1.0
 */
export const jwksUri = (
  issuer: string,
  options?: Options
): Effect.Effect<string, AuthError.ProviderUnavailable, HttpClient.HttpClient> =>
  Effect.map(discover(issuer, options), (metadata) => metadata.jwks_uri)

const loopbackHosts: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"])

/**
 * Whether a URL may be fetched for keys or metadata: absolute, no user info, `https:`, or `http:` to a
 * loopback host.
 *
 * @since 0.1.0
 */
export const isSecureUrl = (url: string): boolean => secureUrl(url) !== undefined

const secureUrl = (url: string): URL | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  if (parsed.username !== "" || parsed.password !== "") return undefined
  if (parsed.protocol === "https:") return parsed
  return parsed.protocol === "http:" && loopbackHosts.has(parsed.hostname) ? parsed : undefined
}
