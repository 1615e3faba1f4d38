/**
 * Bearer JWTs from any number of issuers as one `AuthProvider`. The token's unverified `iss` chooses the
 * issuer before any signature is checked (no trial verification, no network I/O for an unknown issuer);
 * that issuer's own verifier, keys and claim mapping then decide. Cognito and Entra ID are issuers too.
 *
 * @since 0.1.0
 */
import type { AuthProvider } from "@effect-auth/core"
import { AuthError, Credential, Identity } from "@effect-auth/core"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as CacheProbe from "./internal/cacheProbe.js"
import { nonEmptyString } from "./internal/claims.js"
import { issuerFromConfig as issuerFromSettings } from "./internal/config.js"
import * as Compact from "./internal/compact.js"
import * as JwksCache from "./JwksCache.js"
import * as JwtVerifier from "./JwtVerifier.js"
import * as KeySet from "./KeySet.js"
import * as Oidc from "./Oidc.js"

/**
 * One trusted issuer: how to recognise its tokens, verify them and turn their claims into an identity.
 *
 * @since 0.1.0
 */
export interface Issuer {
  /** Recorded as the principal's `provider` (`jwt`, `cognito`, `entra`). */
  readonly name: string
  /** Whether a token claiming this `iss` belongs here. Decided from the unverified claim, without I/O. */
  readonly accepts: (iss: string) => boolean
  readonly verify: (
    token: string
  ) => Effect.Effect<JwtVerifier.Verified, AuthError.InvalidToken | AuthError.ProviderUnavailable>
  /** Claims to identity: synchronous (an `Either`, which is also an Effect), so it fits both lanes. */
  readonly identify: (verified: JwtVerifier.Verified) => Either.Either<Identity.Identity, AuthError.InvalidToken>
  /**
   * `verify` without a fiber when its keys are at hand, or `undefined` when `verify` has to run (see
   * `JwtVerifier.verifyNow`). Optional: without it every token takes `verify`. A wrapper that adds checks
   * to `verify` (`{ ...issuer, verify: … }`) must add them here too, or drop this.
   */
  readonly verifyNow?:
    | ((
        token: string,
        nowMillis: number
      ) => Either.Either<JwtVerifier.Verified, AuthError.InvalidToken | AuthError.ProviderUnavailable> | undefined)
    | undefined
}

/**
 * @since 0.1.0
 */
export interface Options {
  /** Tokens longer than this are refused before they are decoded (default 8 KiB). */
  readonly maxTokenBytes?: number | undefined
}

const defaultMaxTokenBytes = 8192

/**
 * One provider for all the given issuers. It takes every JWT-shaped bearer token, so put it before
 * providers that also read bearer credentials (API keys are never JWT-shaped).
 *
 * @since 0.1.0
 */
export const make = (issuers: ReadonlyArray<Issuer>, options?: Options): AuthProvider.AuthProvider => {
  const maxTokenBytes = options?.maxTokenBytes ?? defaultMaxTokenBytes
  /** The issuer that verifies this token, chosen by its unverified `iss`, or why there is none. */
  const issuerOf = (token: string): Issuer | AuthError.InvalidToken => {
    const iss = Compact.peekIssuer(token, maxTokenBytes)
    if (iss === undefined) {
      // Say precisely what is wrong: unreadable token, or a readable one without an issuer.
      const decoded = Compact.decode(token, maxTokenBytes)
      return Either.isLeft(decoded)
        ? decoded.left
        : new AuthError.InvalidToken({ reason: "missing-claim", detail: "The token has no issuer" })
    }
    return chosenBy(iss) ?? new AuthError.InvalidToken({ reason: "unknown-issuer" })
  }
  /** The issuer `iss` picks: the first that accepts it. */
  const chosenBy = (iss: string): Issuer | undefined => {
    for (const issuer of issuers) if (issuer.accepts(iss)) return issuer
    return undefined
  }
  /** The issuers built by this package that cache verified tokens, with their cache probes. */
  const probes = issuers.flatMap((issuer) => {
    const probe = CacheProbe.probeOf(issuer)
    return probe === undefined ? [] : [{ issuer, probe }]
  })
  /**
   * A token an issuer's cache holds, answered without reading it first. The hit counts only when its `iss`
   * picks that same issuer here: a cache can be filled through another provider or a direct `verify`.
   */
  const cachedNow = (
    token: string,
    nowMillis: number
  ): Either.Either<Identity.Identity, AuthError.InvalidToken> | undefined => {
    if (probes.length === 0 || Compact.isTooLarge(token, maxTokenBytes)) return undefined
    for (const { issuer, probe } of probes) {
      const hit = probe(token, nowMillis)
      if (hit === undefined) continue
      if (Either.isLeft(hit)) return Either.left(hit.left)
      const iss = hit.right.claims.iss
      if (typeof iss !== "string" || chosenBy(iss) !== issuer) return undefined
      return issuer.identify(hit.right)
    }
    return undefined
  }
  const unsupported = (credential: Credential.Credential) =>
    new AuthError.InvalidCredentials({ reason: "unsupported-scheme", scheme: credential._tag })
  return {
    name: "jwt",
    challenge: { scheme: "Bearer" },
    accepts: (credential) => credential._tag === "Bearer" && Compact.looksLikeJwt(Credential.bearerToken(credential)),
    authenticate: (credential: Credential.Credential) => {
      if (credential._tag !== "Bearer") return Effect.fail(unsupported(credential))
      const token = Credential.bearerToken(credential)
      const issuer = issuerOf(token)
      if (issuer instanceof AuthError.InvalidToken) return Effect.fail(issuer)
      return Effect.flatMap(issuer.verify(token), issuer.identify)
    },
    authenticateNow: (credential, nowMillis) => {
      if (credential._tag !== "Bearer") return Either.left(unsupported(credential))
      const token = Credential.bearerToken(credential)
      const cached = cachedNow(token, nowMillis)
      if (cached !== undefined) return cached
      const issuer = issuerOf(token)
      if (issuer instanceof AuthError.InvalidToken) return Either.left(issuer)
      const verified = issuer.verifyNow?.(token, nowMillis)
      if (verified === undefined) return undefined
      if (Either.isLeft(verified)) return Either.left(verified.left)
      return issuer.identify(verified.right)
    }
  }
}

/**
 * {@link make} from issuers that are built by effects (`issuer`, `Cognito.issuer`, `EntraId.issuer`),
 * for `Authenticator.layer`.
 *
 * @example
 * ```ts
 * import { Authenticator } from "@effect-auth/core"
 * import { JwtProvider } from "@effect-auth/jwt"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * const AuthLive = Authenticator.layer([
 *   JwtProvider.provider([JwtProvider.issuer({ issuer: "https://issuer.example.com", audience: "my-api" })])
 * ]).pipe(Layer.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 */
export const provider = <E, R>(
  issuers: ReadonlyArray<Effect.Effect<Issuer, E, R>>,
  options?: Options
): Effect.Effect<AuthProvider.AuthProvider, E, R> => Effect.map(Effect.all(issuers), (built) => make(built, options))

/**
 * Which claims hold what. Names lists are tried in order, first present wins; a string claim is split on
 * spaces and commas (OAuth `scope`).
 *
 * @since 0.1.0
 */
export interface ClaimMapping {
  /** Default `sub`. */
  readonly id?: string | undefined
  /** Default `name`. */
  readonly name?: string | undefined
  /** Default `email`. */
  readonly email?: string | undefined
  /** Default `["groups"]`. */
  readonly groups?: ReadonlyArray<string> | undefined
  /** Default `["roles"]`. */
  readonly roles?: ReadonlyArray<string> | undefined
  /** Default `["permissions", "scope", "scp"]`. */
  readonly permissions?: ReadonlyArray<string> | undefined
}

/**
 * An identity from verified claims. The id claim must be a non-empty string.
 *
 * @since 0.1.0
 */
export const identityFromClaims = (
  provider: string,
  claims: JwtVerifier.Claims,
  options?: {
    readonly mapping?: ClaimMapping | undefined
    readonly kind?: Identity.Kind | undefined
  }
): Either.Either<Identity.Identity, AuthError.InvalidToken> => {
  const mapping = options?.mapping
  const idClaim = mapping?.id ?? "sub"
  const id = nonEmptyString(claims[idClaim])
  if (id === undefined) {
    const reason = claims[idClaim] === undefined ? "missing-claim" : "invalid-claim"
    return Either.left(new AuthError.InvalidToken({ reason, detail: `The token's "${idClaim}" claim is not usable` }))
  }
  // A fresh object of exactly the identity's fields (what `Identity.make` would copy it into).
  return Either.right({
    id,
    kind: options?.kind ?? "user",
    provider,
    name: nonEmptyString(claims[mapping?.name ?? "name"]),
    email: nonEmptyString(claims[mapping?.email ?? "email"]),
    claims,
    grants: {
      groups: Identity.namesFromClaims(claims, mapping?.groups ?? defaultClaims.groups),
      roles: Identity.namesFromClaims(claims, mapping?.roles ?? defaultClaims.roles),
      permissions: Identity.namesFromClaims(claims, mapping?.permissions ?? defaultClaims.permissions)
    }
  })
}

/** Where grants are read from by default (see {@link ClaimMapping}). */
const defaultClaims = {
  groups: ["groups"],
  roles: ["roles"],
  permissions: ["permissions", "scope", "scp"]
} as const

/**
 * A client-credentials token speaks for the client itself: RFC 9068 puts the client's id in `sub`.
 *
 * @since 0.1.0
 */
export const isClientCredentials = (claims: JwtVerifier.Claims): boolean => {
  const clientId = nonEmptyString(claims.client_id) ?? nonEmptyString(claims.azp)
  return clientId !== undefined && clientId === nonEmptyString(claims.sub)
}

/**
 * A generic OIDC / JWT issuer.
 *
 * @since 0.1.0
 */
export interface IssuerOptions {
  /** The exact `iss` value; also the discovery base when `jwksUrl` is not given. */
  readonly issuer: string
  /** The JWKS URL; without it, OIDC discovery (`{issuer}/.well-known/openid-configuration`) finds it. */
  readonly jwksUrl?: string | undefined
  /** Accepted audiences; a token's `aud` must contain one. Strongly recommended. */
  readonly audience?: string | ReadonlyArray<string> | undefined
  /** Default `["RS256"]`. */
  readonly algorithms?: ReadonlyArray<KeySet.Algorithm> | undefined
  /** The principal's `provider` (default `jwt`). */
  readonly name?: string | undefined
  readonly claims?: ClaimMapping | undefined
  /** Tells users from machines (default: a client-credentials token is a machine). */
  readonly kind?: ((claims: JwtVerifier.Claims) => Identity.Kind) | undefined
  /** Further verifier options (clock tolerance, `typ`, required claims, the RFC 9068 profile, cache). */
  readonly verifier?: Omit<JwtVerifier.Options, "algorithms" | "issuer" | "audience"> | undefined
  /** JWKS cache tuning. */
  readonly jwks?: Omit<JwksCache.Options, "url" | "provider"> | undefined
}

/**
 * A generic issuer: keys from `jwksUrl` or discovery (fetched lazily, so a down issuer at start-up
 * gives 503s, not a failed start), claims mapped with {@link ClaimMapping}.
 *
 * @since 0.1.0
 */
export const issuer = (
  options: IssuerOptions
): Effect.Effect<Issuer, ConfigError.ConfigError, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const name = options.name ?? "jwt"
    // Keys fetched over plain HTTP could be swapped on the way: https only (http on loopback, for tests).
    const keysUrl = options.jwksUrl ?? options.issuer
    if (!Oidc.isSecureUrl(keysUrl)) {
      return yield* Effect.fail(
        ConfigError.InvalidData(
          [options.jwksUrl === undefined ? "issuer" : "jwksUrl"],
          "must be an https URL (http only on localhost) without credentials"
        )
      )
    }
    const verifier = yield* JwtVerifier.make({
      ...options.verifier,
      algorithms: options.algorithms ?? ["RS256"],
      issuer: options.issuer,
      audience: options.audience
    })
    if (options.audience === undefined) {
      yield* Effect.logWarning(
        `JWT issuer ${options.issuer}: no audience configured, so tokens this issuer made for any other application are accepted`
      )
    }
    const keys = yield* JwksCache.make({
      ...options.jwks,
      provider: name,
      url: options.jwksUrl ?? Oidc.jwksUri(options.issuer, { provider: name })
    })
    const kindOf = options.kind ?? ((claims) => (isClientCredentials(claims) ? "machine" : "user"))
    const built: Issuer = {
      name,
      accepts: (iss) => iss === options.issuer,
      verify: (token) => verifier.verify(token, keys),
      verifyNow: (token, nowMillis) => verifier.verifyNow?.(token, keys, nowMillis),
      identify: ({ claims }) => identityFromClaims(name, claims, { mapping: options.claims, kind: kindOf(claims) })
    }
    return CacheProbe.register(built, (token, nowMillis) => {
      const hit = verifier.cachedNow?.(token, keys, nowMillis)
      return hit === undefined ? undefined : Either.right(hit)
    })
  })

const list = (name: string) =>
  Config.array(Config.nonEmptyString(), name).pipe(
    Config.map((values) => values.map((value) => value.trim()).filter((value) => value.length > 0))
  )

/**
 * The generic issuer's settings from configuration: `AUTH_JWT_ISSUER`, `AUTH_JWT_JWKS_URL`,
 * `AUTH_JWT_AUDIENCE` and `AUTH_JWT_ALGORITHMS` (comma-separated lists).
 *
 * @since 0.1.0
 */
export const issuerConfig: Config.Config<IssuerOptions> = Config.all({
  issuer: Config.nonEmptyString("AUTH_JWT_ISSUER"),
  jwksUrl: Config.option(Config.nonEmptyString("AUTH_JWT_JWKS_URL")),
  audience: Config.option(list("AUTH_JWT_AUDIENCE")),
  algorithms: Config.option(
    list("AUTH_JWT_ALGORITHMS").pipe(
      Config.validate({
        message: `AUTH_JWT_ALGORITHMS lists an algorithm that is not supported (supported: ${KeySet.algorithms.join(", ")})`,
        validation: (values): values is Array<KeySet.Algorithm> => values.every(KeySet.isAlgorithm)
      })
    )
  )
}).pipe(
  Config.map(({ algorithms, audience, issuer, jwksUrl }) => ({
    issuer,
    jwksUrl: Option.getOrUndefined(jwksUrl),
    audience: Option.getOrUndefined(audience),
    algorithms: Option.getOrUndefined(algorithms)
  }))
)

/**
 * {@link issuer} from {@link issuerConfig}, with the JWKS settings `JWKS_CACHE_INTERVAL`, `JWKS_CACHE_USAGES`
 * and `JWKS_UNKNOWN_KID_COOLDOWN` where they are set (over `overrides.jwks`).
 *
 * @since 0.1.0
 */
export const issuerFromConfig = (
  overrides?: Omit<IssuerOptions, "issuer" | "jwksUrl" | "audience" | "algorithms">
): Effect.Effect<Issuer, ConfigError.ConfigError, HttpClient.HttpClient | Scope.Scope> =>
  issuerFromSettings(
    issuerConfig,
    {
      issuer: "AUTH_JWT_ISSUER",
      jwksUrl: "AUTH_JWT_JWKS_URL",
      audience: "AUTH_JWT_AUDIENCE",
      algorithms: "AUTH_JWT_ALGORITHMS"
    },
    (settings, refresh) => issuer({ ...overrides, ...settings, jwks: { ...overrides?.jwks, ...refresh } })
  )
