/**
 * Amazon Cognito user pools as a JWT issuer: the pool's id and access tokens, verified against the pool's
 * JWKS, with Cognito's own rules on top of the signature (`token_use`, the app client in `aud` or
 * `client_id`), and `cognito:groups`, scopes and machine-to-machine clients mapped onto the identity.
 *
 * @since 0.1.0
 */
import type { AuthProvider } from "@effect-auth/core"
import { AuthError, Identity } from "@effect-auth/core"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { isNonEmptyString, nonEmptyString } from "./internal/claims.js"
import { issuerFromConfig as issuerFromSettings } from "./internal/config.js"
import * as Compact from "./internal/compact.js"
import * as JwksCache from "./JwksCache.js"
import * as JwtProvider from "./JwtProvider.js"
import * as JwtVerifier from "./JwtVerifier.js"
import * as Oidc from "./Oidc.js"

/**
 * Which tokens of the pool are accepted: id tokens (what a browser app usually sends), access tokens
 * (what an OAuth client or a machine-to-machine client sends), or both.
 *
 * @since 0.1.0
 */
export type TokenUse = "id" | "access" | "any"

/**
 * Name and email of a user, read from the token's claims.
 *
 * @since 0.1.0
 */
export interface Profile {
  readonly name?: string | undefined
  readonly email?: string | undefined
}

/**
 * Where the user pool is.
 *
 * @since 0.1.0
 */
export interface UserPoolOptions {
  /** The pool's id, `<region>_<id>` (e.g. `eu-central-1_AbC123xyz`). */
  readonly userPoolId: string
  /** The pool's region; derived from the id's prefix, so only needed as a cross-check. */
  readonly region?: string | undefined
  /**
   * Replaces `https://cognito-idp.{region}.amazonaws.com`, for local emulators (cognito-local, LocalStack).
   * The issuer becomes `{endpoint}/{userPoolId}`. An `https:` URL, or `http:` to a loopback host only.
   */
  readonly endpoint?: string | undefined
  /**
   * Also accept AWS's updated issuer, `https://issuer-cognito-idp.{region}.amazonaws.com/{userPoolId}` (the
   * pool's issuer once its issuer type is "UPDATED", required for multi-Region replication). Its keys are
   * fetched from that issuer's own JWKS, and only when such a token arrives. Default `false`.
   */
  readonly acceptNewIssuerForm?: boolean | undefined
  /**
   * Replaces `https://issuer-cognito-idp.{region}.amazonaws.com` for the updated issuer (emulators and
   * tests); required with `endpoint` when `acceptNewIssuerForm` is on.
   */
  readonly newIssuerEndpoint?: string | undefined
}

/**
 * A Cognito user pool issuer.
 *
 * @since 0.1.0
 */
export interface IssuerOptions extends UserPoolOptions {
  /** The app clients whose tokens are accepted (an id token's `aud`, an access token's `client_id`). */
  readonly clientIds: ReadonlyArray<string>
  /** Default `"any"`. */
  readonly tokenUse?: TokenUse | undefined
  /**
   * Roles from the user's groups: `true` makes every group a role, a function maps groups to roles. Off
   * by default, when a Cognito principal has no roles from its token (see the guide for why
   * `cognito:roles` is not used).
   */
  readonly groupsAsRoles?: boolean | ((groups: ReadonlyArray<string>) => ReadonlyArray<string>) | undefined
  /** Name and email from claims; default `name`, else `cognito:username`, else `username`; and `email`. */
  readonly profile?: ((claims: JwtVerifier.Claims) => Profile) | undefined
  /** The principal's `provider` (default `cognito`). */
  readonly name?: string | undefined
  /** Further verifier options (clock tolerance, size, cache, `maxAge`). */
  readonly verifier?: Omit<JwtVerifier.Options, "algorithms" | "issuer" | "audience" | "requireExp"> | undefined
  /** JWKS cache tuning. */
  readonly jwks?: Omit<JwksCache.Options, "url" | "provider"> | undefined
}

/**
 * A user pool's resolved addresses.
 *
 * @since 0.1.0
 */
export interface UserPool {
  readonly userPoolId: string
  readonly region: string
  /** `https://cognito-idp.{region}.amazonaws.com/{userPoolId}` or `{endpoint}/{userPoolId}`. */
  readonly issuer: string
  /** The updated issuer, when accepted. */
  readonly newIssuer: string | undefined
  /**
   * The pool as an identity pool names it in `Logins`: `cognito-idp.{region}.amazonaws.com/{userPoolId}`
   * (always the AWS form, also with an emulator `endpoint`).
   */
  readonly providerName: string
}

// A region: a 2-4 letter partition/area prefix, one or more words, a number (us-east-1, us-gov-west-1,
// cn-north-1, eusc-de-east-1). Pool ids are `<region>_<alphanumerics>`, at most 55 characters (the API's limit).
const awsPoolId = /^([a-z]{2,4}(?:-[a-z]+)+-\d{1,2})_[0-9A-Za-z]+$/
// The API's own pattern, `[\w-]+_[0-9a-zA-Z]+`: what emulators produce (cognito-local: `local_AbCd1234`).
const emulatorPoolId = /^([A-Za-z0-9-]+)_[0-9A-Za-z]+$/
const maxPoolIdLength = 55

const invalid = (path: string, message: string) => ConfigError.InvalidData([path], message)

/** An endpoint without a trailing `/`, or a ConfigError. */
const endpointBase = (path: string, endpoint: string): Either.Either<string, ConfigError.ConfigError> => {
  // A plain-HTTP endpoint anywhere but on this machine would let anyone on the path swap the keys.
  if (!Oidc.isSecureUrl(endpoint)) {
    return Either.left(invalid(path, "Expected an https URL (http only to localhost, 127.0.0.1 or [::1])"))
  }
  const url = new URL(endpoint)
  if (url.search !== "" || url.hash !== "")
    return Either.left(invalid(path, "Expected a URL without query or fragment"))
  return Either.right(endpoint.replace(/\/+$/, ""))
}

/**
 * Resolves a pool's issuer(s) and region from its id. Fails with a `ConfigError` for an id that is not a
 * Cognito pool id (emulator ids such as cognito-local's `local_AbCd1234` only with an `endpoint`), a
 * `region` that disagrees with the id, or an endpoint that is not https (or http to a loopback host).
 *
 * @example
 * ```ts
 * import { Cognito } from "@effect-auth/jwt"
 *
 * // { region: "eu-central-1", issuer: "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_AbC123", … }
 * const pool = Cognito.userPool({ userPoolId: "eu-central-1_AbC123" })
 * ```
 *
 * @since 0.1.0
 */
export const userPool = (options: UserPoolOptions): Either.Either<UserPool, ConfigError.ConfigError> =>
  Either.gen(function* () {
    const { userPoolId } = options
    const aws = typeof userPoolId === "string" ? awsPoolId.exec(userPoolId) : null
    const emulator =
      options.endpoint !== undefined && typeof userPoolId === "string" ? emulatorPoolId.exec(userPoolId) : null
    const prefix = (aws ?? emulator)?.[1]
    if (prefix === undefined || userPoolId.length > maxPoolIdLength) {
      return yield* Either.left(
        invalid(
          "userPoolId",
          options.endpoint === undefined
            ? "Expected a Cognito user pool id: <region>_<id>, e.g. us-east-1_AbC123xyz"
            : "Expected a user pool id: <prefix>_<id>"
        )
      )
    }
    if (options.region !== undefined && options.region !== prefix) {
      return yield* Either.left(invalid("region", "The region does not match the user pool id's prefix"))
    }
    const region = prefix
    const base =
      options.endpoint === undefined
        ? `https://cognito-idp.${region}.amazonaws.com`
        : yield* endpointBase("endpoint", options.endpoint)
    let newIssuer: string | undefined
    if (options.acceptNewIssuerForm === true) {
      if (options.newIssuerEndpoint !== undefined) {
        newIssuer = `${yield* endpointBase("newIssuerEndpoint", options.newIssuerEndpoint)}/${userPoolId}`
      } else if (options.endpoint === undefined) {
        newIssuer = `https://issuer-cognito-idp.${region}.amazonaws.com/${userPoolId}`
      } else {
        return yield* Either.left(
          invalid("newIssuerEndpoint", "With an endpoint, accepting the updated issuer needs a newIssuerEndpoint")
        )
      }
    }
    return {
      userPoolId,
      region,
      issuer: `${base}/${userPoolId}`,
      newIssuer,
      providerName: `cognito-idp.${region}.amazonaws.com/${userPoolId}`
    }
  })

type Reason = AuthError.InvalidToken["reason"]

const refuse = (reason: Reason, detail: string) => new AuthError.InvalidToken({ reason, detail })

/**
 * Cognito's rules after the signature: `token_use` says which token this is, and each kind names its app
 * client in a different claim, so no generic audience check can do it.
 */
const checkCognitoClaims = (
  claims: JwtVerifier.Claims,
  tokenUse: TokenUse,
  clientIds: ReadonlyArray<string>
): AuthError.InvalidToken | undefined => {
  const use = claims.token_use
  if (use === undefined) return refuse("missing-claim", "The token has no token_use")
  if (use !== "id" && use !== "access") return refuse("wrong-type", "The token's token_use is neither id nor access")
  if (tokenUse !== "any" && use !== tokenUse) return refuse("wrong-type", "This kind of Cognito token is not accepted")
  if (use === "id") {
    const aud = claims.aud
    if (aud === undefined) return refuse("missing-claim", "The id token has no audience (aud)")
    const audiences: ReadonlyArray<unknown> = Array.isArray(aud) ? aud : [aud]
    if (!audiences.some((value) => typeof value === "string" && clientIds.includes(value))) {
      return refuse("wrong-audience", "The id token was issued to another app client")
    }
    return undefined
  }
  const clientId = claims.client_id
  if (clientId === undefined) return refuse("missing-claim", "The access token has no client_id")
  if (typeof clientId !== "string" || !clientIds.includes(clientId)) {
    return refuse("wrong-audience", "The access token was issued to another app client")
  }
  return undefined
}

const noNames: ReadonlyArray<string> = []

const defaultProfile = (claims: JwtVerifier.Claims): Profile => ({
  name: nonEmptyString(claims.name) ?? nonEmptyString(claims["cognito:username"]) ?? nonEmptyString(claims.username),
  email: nonEmptyString(claims.email)
})

/**
 * A machine-to-machine (client-credentials) access token: no user name, and the app client is its own
 * subject.
 */
const isMachine = (claims: JwtVerifier.Claims): boolean =>
  claims.token_use === "access" && claims.username === undefined && JwtProvider.isClientCredentials(claims)

/**
 * The identity of verified Cognito claims (those `issuer`'s `verify` returned).
 *
 * @since 0.1.0
 */
export const identityFromClaims = (
  claims: JwtVerifier.Claims,
  options?: Pick<IssuerOptions, "groupsAsRoles" | "profile" | "name">
): Either.Either<Identity.Identity, AuthError.InvalidToken> => {
  const provider = options?.name ?? "cognito"
  const kind: Identity.Kind = isMachine(claims) ? "machine" : "user"
  return Either.flatMap(
    JwtProvider.identityFromClaims(provider, claims, {
      kind,
      // Only an access token's scopes are permissions; an id token carries none.
      mapping: { groups: ["cognito:groups"], roles: [], permissions: claims.token_use === "access" ? ["scope"] : [] }
    }),
    (identity) => {
      const groups = identity.grants?.groups ?? noNames
      const asRoles = options?.groupsAsRoles
      const roles =
        asRoles === true ? groups : typeof asRoles === "function" ? safeNames(() => asRoles(groups)) : noNames
      if (roles === undefined) {
        return Either.left(refuse("invalid-claim", "The groups could not be mapped to roles"))
      }
      const profile = options?.profile ?? defaultProfile
      let mapped: Profile
      try {
        mapped = profile(claims)
      } catch {
        return Either.left(refuse("invalid-claim", "The profile could not be read from the claims"))
      }
      return Either.right(
        Identity.make({
          ...identity,
          name: mapped.name,
          email: mapped.email,
          grants: { ...identity.grants, groups, roles }
        })
      )
    }
  )
}

/** An application mapper that throws or returns something else than names refuses the token. */
const safeNames = (map: () => ReadonlyArray<string>): ReadonlyArray<string> | undefined => {
  try {
    const names = map()
    return Array.isArray(names) && names.every((name) => typeof name === "string") ? names : undefined
  } catch {
    return undefined
  }
}

interface Form {
  readonly issuer: string
  readonly verifier: JwtVerifier.JwtVerifier
  readonly keys: JwksCache.JwksCache
}

/**
 * A Cognito user pool as a `JwtProvider.Issuer`. Only RS256 is accepted (what Cognito signs with), `exp` is
 * required, and after the signature: `token_use` must be `id` or `access` and allowed by `tokenUse`
 * (`wrong-type`; `missing-claim` when absent), an id token's `aud` and an access token's `client_id` must
 * be one of `clientIds` (`wrong-audience`). Keys come from `{issuer}/.well-known/jwks.json`, fetched on
 * first use.
 *
 * The identity: `sub` as id; groups from `cognito:groups`; permissions from an access token's `scope`;
 * roles only with `groupsAsRoles`; a machine for a client-credentials access token (no `username`,
 * `sub` = `client_id`).
 *
 * @example
 * ```ts
 * import { Authenticator } from "@effect-auth/core"
 * import { Cognito, JwtProvider } from "@effect-auth/jwt"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * const AuthLive = Authenticator.layer([
 *   JwtProvider.provider([
 *     Cognito.issuer({ userPoolId: "eu-central-1_AbC123xyz", clientIds: ["4r5t6y7u8i9o0p"], groupsAsRoles: true })
 *   ])
 * ]).pipe(Layer.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 */
export const issuer = (
  options: IssuerOptions
): Effect.Effect<JwtProvider.Issuer, ConfigError.ConfigError, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const pool = yield* userPool(options)
    const clientIds = options.clientIds
    if (!Array.isArray(clientIds) || clientIds.length === 0 || !clientIds.every(isNonEmptyString)) {
      return yield* Effect.fail(invalid("clientIds", "Expected a non-empty list of app client ids"))
    }
    const tokenUse = options.tokenUse ?? "any"
    if (tokenUse !== "id" && tokenUse !== "access" && tokenUse !== "any") {
      return yield* Effect.fail(invalid("tokenUse", "Expected id, access or any"))
    }
    const name = options.name ?? "cognito"
    const issuers = pool.newIssuer === undefined ? [pool.issuer] : [pool.issuer, pool.newIssuer]
    // One verifier and one key cache per issuer form: a token is checked against the keys its own issuer
    // publishes, and the updated issuer's JWKS is only fetched if such a token ever arrives.
    const form = (iss: string): Effect.Effect<Form, ConfigError.ConfigError, HttpClient.HttpClient | Scope.Scope> =>
      Effect.gen(function* () {
        const verifier = yield* JwtVerifier.make({
          ...options.verifier,
          algorithms: ["RS256"],
          issuer: iss,
          requireExp: true
        })
        const keys = yield* JwksCache.make({ ...options.jwks, provider: name, url: `${iss}/.well-known/jwks.json` })
        return { issuer: iss, verifier, keys }
      })
    const original = yield* form(pool.issuer)
    const updated = pool.newIssuer === undefined ? undefined : yield* form(pool.newIssuer)
    const maxTokenBytes = options.verifier?.maxTokenBytes ?? JwtVerifier.defaultMaxTokenBytes
    const formFor = (token: string): Form =>
      // Unknown or unreadable: the original form's verifier names the precise reason.
      updated !== undefined && Compact.peekIssuer(token, maxTokenBytes) === updated.issuer ? updated : original
    const checkClaims = (
      verified: JwtVerifier.Verified
    ): Either.Either<JwtVerifier.Verified, AuthError.InvalidToken> => {
      const refused = checkCognitoClaims(verified.claims, tokenUse, clientIds)
      return refused === undefined ? Either.right(verified) : Either.left(refused)
    }
    const identifyOptions = { groupsAsRoles: options.groupsAsRoles, profile: options.profile, name }
    return {
      name,
      accepts: (iss) => issuers.includes(iss),
      verify: (token) =>
        Effect.suspend(() => {
          const { keys, verifier } = formFor(token)
          return Effect.flatMap(verifier.verify(token, keys), checkClaims)
        }),
      verifyNow: (token, nowMillis) => {
        const { keys, verifier } = formFor(token)
        const verified = verifier.verifyNow?.(token, keys, nowMillis)
        return verified === undefined ? undefined : Either.flatMap(verified, checkClaims)
      },
      identify: (verified) => identityFromClaims(verified.claims, identifyOptions)
    }
  })

/**
 * A provider for one user pool: `JwtProvider.provider([Cognito.issuer(options)])`.
 *
 * @example
 * ```ts
 * import { Authenticator } from "@effect-auth/core"
 * import { Cognito } from "@effect-auth/jwt"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * const AuthLive = Authenticator.layer([
 *   Cognito.provider({ userPoolId: "us-east-1_AbC123xyz", clientIds: ["4r5t6y7u8i9o0p"], tokenUse: "access" })
 * ]).pipe(Layer.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 */
export const provider = (
  options: IssuerOptions
): Effect.Effect<AuthProvider.AuthProvider, ConfigError.ConfigError, HttpClient.HttpClient | Scope.Scope> =>
  JwtProvider.provider([issuer(options)])

const list = (name: string) =>
  Config.array(Config.string(), name).pipe(
    Config.map((values) => values.map((value) => value.trim()).filter((value) => value.length > 0)),
    Config.validate({
      message: "Expected a comma-separated list of app client ids",
      validation: (ids) => ids.length > 0
    })
  )

/**
 * The settings read from configuration.
 *
 * @since 0.1.0
 */
export type ConfiguredOptions = Pick<IssuerOptions, "userPoolId" | "region" | "clientIds" | "tokenUse" | "endpoint">

/**
 * A user pool from configuration: `AUTH_COGNITO_USER_POOL_ID`, `AUTH_COGNITO_REGION` (optional),
 * `AUTH_COGNITO_CLIENT_IDS` (comma-separated), `AUTH_COGNITO_TOKEN_USE` (`id`, `access` or `any`, default
 * `any`) and `AUTH_COGNITO_ENDPOINT` (optional, for emulators).
 *
 * @since 0.1.0
 */
export const issuerConfig: Config.Config<ConfiguredOptions> = Config.all({
  userPoolId: Config.nonEmptyString("AUTH_COGNITO_USER_POOL_ID"),
  region: Config.option(Config.nonEmptyString("AUTH_COGNITO_REGION")),
  clientIds: list("AUTH_COGNITO_CLIENT_IDS"),
  tokenUse: Config.literal("id", "access", "any")("AUTH_COGNITO_TOKEN_USE").pipe(Config.withDefault("any" as const)),
  endpoint: Config.option(Config.nonEmptyString("AUTH_COGNITO_ENDPOINT"))
}).pipe(
  Config.map(({ clientIds, endpoint, region, tokenUse, userPoolId }) => ({
    userPoolId,
    region: Option.getOrUndefined(region),
    clientIds,
    tokenUse,
    endpoint: Option.getOrUndefined(endpoint)
  }))
)

/**
 * {@link issuer} from {@link issuerConfig}, with the JWKS settings `JWKS_CACHE_INTERVAL`, `JWKS_CACHE_USAGES`
 * and `JWKS_UNKNOWN_KID_COOLDOWN` where they are set (over `overrides.jwks`).
 *
 * @since 0.1.0
 */
export const issuerFromConfig = (
  overrides?: Omit<IssuerOptions, keyof ConfiguredOptions>
): Effect.Effect<JwtProvider.Issuer, ConfigError.ConfigError, HttpClient.HttpClient | Scope.Scope> =>
  issuerFromSettings(
    issuerConfig,
    {
      userPoolId: "AUTH_COGNITO_USER_POOL_ID",
      region: "AUTH_COGNITO_REGION",
      clientIds: "AUTH_COGNITO_CLIENT_IDS",
      tokenUse: "AUTH_COGNITO_TOKEN_USE",
      endpoint: "AUTH_COGNITO_ENDPOINT"
    },
    (settings, refresh) => issuer({ ...overrides, ...settings, jwks: { ...overrides?.jwks, ...refresh } })
  )
