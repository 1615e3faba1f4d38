/**
 * Azure Entra ID (formerly Azure AD) access tokens as a `JwtProvider.Issuer`: v1 and v2 tokens, one
 * tenant, a list of tenants, or any (work-or-school) tenant, with the checks Microsoft's multi-tenant
 * model needs that a plain issuer comparison cannot make: the issuer must name the token's own tenant
 * (`tid`), a signing key bound to one tenant may only sign for it, and Microsoft Graph tokens are never
 * accepted.
 *
 * @since 0.1.0
 */
import type { AuthProvider, Identity } from "@effect-auth/core"
import { AuthError } from "@effect-auth/core"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as CacheProbe from "./internal/cacheProbe.js"
import { nonEmptyString } from "./internal/claims.js"
import { issuerFromConfig as issuerFromSettings } from "./internal/config.js"
import { FetchFailure, fetchJson } from "./internal/fetchJson.js"
import * as JwksCache from "./JwksCache.js"
import * as JwtProvider from "./JwtProvider.js"
import * as JwtVerifier from "./JwtVerifier.js"

/**
 * Microsoft's token versions: v1 tokens are issued by `https://sts.windows.net/{tid}/`, v2 tokens by
 * `{authority}/{tid}/v2.0`. Which one an API receives is set by `accessTokenAcceptedVersion` in its app
 * registration's manifest.
 *
 * @since 0.1.0
 */
export type Version = "1.0" | "2.0"

/**
 * @since 0.1.0
 */
export interface Options {
  /**
   * Whose tokens are accepted: a tenant id (a GUID; a verified domain such as `contoso.com` is refused,
   * because it cannot be compared with the token's issuer), a list of tenant ids, `"organizations"` (any
   * work-or-school tenant, not personal Microsoft accounts) or `"common"` (any tenant).
   */
  readonly tenant: string | ReadonlyArray<string>
  /** With `"common"` or `"organizations"`: only these tenant ids (say, your customers'). */
  readonly allowedTenants?: ReadonlyArray<string> | undefined
  /** The API's client id (a GUID) and/or its application id URI (`api://…`); `aud` must be one of them. */
  readonly audience: string | ReadonlyArray<string>
  /** Default `https://login.microsoftonline.com`; a national cloud's login host, or a local test issuer. */
  readonly authority?: string | undefined
  /** Token versions accepted, default both. */
  readonly versions?: ReadonlyArray<Version> | undefined
  /** Further verifier options (clock tolerance, `typ`, required claims, cache). Algorithms are always RS256. */
  readonly verifier?: Omit<JwtVerifier.Options, "algorithms" | "issuer" | "audience"> | undefined
  /** JWKS cache tuning. */
  readonly jwks?: Omit<JwksCache.Options, "url" | "provider"> | undefined
}

/**
 * Microsoft's public cloud login host.
 *
 * @since 0.1.0
 */
export const defaultAuthority = "https://login.microsoftonline.com"

/**
 * The tenant of personal Microsoft accounts (outlook.com, xbox…), which `"organizations"` excludes.
 *
 * @since 0.1.0
 */
export const consumerTenant = "9188040d-6c67-4c5b-b112-36a304b66dad"

/**
 * The issuer host of v1 tokens, the same for every tenant: Microsoft fixed it, so it does not follow the
 * authority (tests mint v1 tokens with this exact `iss`; it is only ever compared, never fetched).
 *
 * @since 0.1.0
 */
export const v1IssuerPrefix = "https://sts.windows.net/"

const name = "entra"
const algorithms = ["RS256"] as const
const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const guidAnyCase = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const tenantTemplate = "{tenantid}"
const tenantAliases: ReadonlySet<string> = new Set(["common", "organizations", "consumers"])

// Microsoft Graph (and the retired Azure AD Graph) in every cloud. A Graph token is meant for Graph; an
// API that accepted one would let any app holding a user's Graph token call it as that user.
const graphAudiences: ReadonlySet<string> = new Set(
  [
    "00000003-0000-0000-c000-000000000000",
    "00000002-0000-0000-c000-000000000000",
    "https://graph.microsoft.com",
    "https://graph.microsoft.us",
    "https://dod-graph.microsoft.us",
    "https://microsoftgraph.chinacloudapi.cn",
    "https://graph.windows.net"
  ].flatMap((audience) => [audience, `${audience}/`])
)

const isGraphAudience = (audience: string): boolean => graphAudiences.has(audience.toLowerCase())

/** Who may sign in, as validated from `tenant` / `allowedTenants`. */
type Tenants =
  | { readonly _tag: "Listed"; readonly tenants: ReadonlySet<string> }
  | {
      readonly _tag: "Any"
      readonly authorityTenant: "common" | "organizations"
      readonly allowed: ReadonlySet<string> | undefined
    }

interface Settings {
  readonly tenants: Tenants
  readonly audiences: ReadonlyArray<string>
  readonly authority: string
  readonly versions: ReadonlySet<Version>
}

const asList = (value: string | ReadonlyArray<string>): ReadonlyArray<string> =>
  (typeof value === "string" ? [value] : value).map((entry) => entry.trim())

const tenantIds = (entries: ReadonlyArray<string>, what: string): Either.Either<ReadonlySet<string>, string> => {
  if (entries.length === 0) return Either.left(`${what} is empty`)
  for (const [index, entry] of entries.entries()) {
    if (!guidAnyCase.test(entry)) {
      return Either.left(
        `${what}: entry ${index + 1} is not a tenant id (GUID); a domain name cannot be checked against the token's issuer`
      )
    }
  }
  // Microsoft writes tenant ids in lower case in `iss` and `tid`; comparisons below are exact.
  return Either.right(new Set(entries.map((entry) => entry.toLowerCase())))
}

const validateTenants = (
  tenant: string | ReadonlyArray<string>,
  allowedTenants: ReadonlyArray<string> | undefined
): Either.Either<Tenants, string> => {
  const entries = asList(tenant)
  const single = entries.length === 1 ? entries[0]?.toLowerCase() : undefined
  if (single === "common" || single === "organizations") {
    if (allowedTenants === undefined) return Either.right({ _tag: "Any", authorityTenant: single, allowed: undefined })
    return Either.flatMap(tenantIds(asList(allowedTenants), "allowedTenants"), (allowed) =>
      single === "organizations" && allowed.has(consumerTenant)
        ? Either.left('allowedTenants lists the consumer tenant, which "organizations" excludes; use "common"')
        : Either.right({ _tag: "Any", authorityTenant: single, allowed })
    )
  }
  if (allowedTenants !== undefined) {
    return Either.left('allowedTenants only narrows "common" or "organizations"; list the tenant ids in tenant instead')
  }
  if (entries.some((entry) => tenantAliases.has(entry.toLowerCase()))) {
    return Either.left(
      'tenant: "common" or "organizations" stand alone (narrow them with allowedTenants); for personal accounts use the consumer tenant id'
    )
  }
  return Either.map(tenantIds(entries, "tenant"), (tenants): Tenants => ({ _tag: "Listed", tenants }))
}

const validateAudiences = (audience: string | ReadonlyArray<string>): Either.Either<ReadonlyArray<string>, string> => {
  const audiences = asList(audience)
  if (audiences.length === 0) return Either.left("audience is empty: name the API's client id or application id URI")
  for (const [index, entry] of audiences.entries()) {
    if (entry.length === 0 || /\s/.test(entry)) {
      return Either.left(`audience: entry ${index + 1} is empty or has spaces`)
    }
    if (isGraphAudience(entry)) {
      return Either.left(`audience: entry ${index + 1} is Microsoft Graph, whose tokens are never accepted`)
    }
  }
  // A client id is compared exactly, and Microsoft writes it in lower case.
  return Either.right(audiences.map((entry) => (guidAnyCase.test(entry) ? entry.toLowerCase() : entry)))
}

const isLoopback = (hostname: string): boolean =>
  hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]"

const validateAuthority = (authority: string | undefined): Either.Either<string, string> => {
  if (authority === undefined) return Either.right(defaultAuthority)
  let url: URL
  try {
    url = new URL(authority.trim())
  } catch {
    return Either.left("authority is not an absolute URL")
  }
  // Keys are fetched from here: plain HTTP only to this machine (local test issuers).
  if (!(url.protocol === "https:" || (url.protocol === "http:" && isLoopback(url.hostname)))) {
    return Either.left("authority must be an https URL (http only on localhost)")
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    return Either.left("authority must not carry credentials, a query or a fragment")
  }
  const path = url.pathname.replace(/\/+$/, "")
  // A common slip: the tenant (or the v2.0 suffix) written into the authority, which would double it.
  const segments = path.split("/").map((segment) => segment.toLowerCase())
  if (segments.some((segment) => guidAnyCase.test(segment) || tenantAliases.has(segment) || segment === "v2.0")) {
    return Either.left("authority is the login host only, without the tenant or v2.0 (set those in tenant)")
  }
  return Either.right(`${url.origin}${path}`)
}

const validateVersions = (
  versions: ReadonlyArray<Version> | undefined
): Either.Either<ReadonlySet<Version>, string> => {
  const set = new Set<Version>(versions ?? ["1.0", "2.0"])
  if (set.size === 0) return Either.left("versions is empty")
  if ([...set].some((version) => version !== "1.0" && version !== "2.0")) {
    return Either.left('versions may only list "1.0" and "2.0"')
  }
  return Either.right(set)
}

const validate = (options: Options): Either.Either<Settings, string> =>
  Either.all({
    tenants: validateTenants(options.tenant, options.allowedTenants),
    audiences: validateAudiences(options.audience),
    authority: validateAuthority(options.authority),
    versions: validateVersions(options.versions)
  })

const v2Issuer = (authority: string, tid: string): string => `${authority}/${tid}/v2.0`

/** The tenant and version an issuer string names, when it has one of Microsoft's two shapes. */
const parseIssuer = (
  authority: string,
  iss: string
): { readonly tid: string; readonly version: Version } | undefined => {
  const v2Prefix = `${authority}/`
  if (iss.startsWith(v2Prefix) && iss.endsWith("/v2.0")) {
    const tid = iss.slice(v2Prefix.length, -"/v2.0".length)
    return guid.test(tid) ? { tid, version: "2.0" } : undefined
  }
  if (iss.startsWith(v1IssuerPrefix) && iss.endsWith("/")) {
    const tid = iss.slice(v1IssuerPrefix.length, -1)
    return guid.test(tid) ? { tid, version: "1.0" } : undefined
  }
  return undefined
}

const isAllowed = (tenants: Tenants, tid: string): boolean => {
  switch (tenants._tag) {
    case "Listed":
      return tenants.tenants.has(tid)
    case "Any":
      if (tenants.authorityTenant === "organizations" && tid === consumerTenant) return false
      return tenants.allowed === undefined || tenants.allowed.has(tid)
  }
}

const invalid = (reason: AuthError.InvalidToken["reason"], detail: string) =>
  Either.left(new AuthError.InvalidToken({ reason, detail }))

/**
 * Checks a verified token against its own tenant. The verifier only knew that `iss` had an accepted
 * shape; Microsoft's keys sign for every tenant, so what ties a token to one is `iss` naming the same
 * tenant as `tid`, and the key's JWK `issuer` (a `{tenantid}` template, or one tenant's issuer) naming
 * the token's issuer once the template is filled in with `tid`.
 */
const checkTenant = (
  settings: Settings,
  verified: JwtVerifier.Verified
): Either.Either<JwtVerifier.Verified, AuthError.InvalidToken> => {
  const { claims } = verified
  const tid = claims.tid
  if (tid === undefined) return invalid("missing-claim", "The token has no tenant (tid)")
  if (typeof tid !== "string" || !guid.test(tid)) {
    return invalid("invalid-claim", "The token's tenant (tid) is not a GUID")
  }
  const iss = claims.iss
  const parsed = typeof iss === "string" ? parseIssuer(settings.authority, iss) : undefined
  if (parsed === undefined || parsed.tid !== tid) {
    return invalid("wrong-issuer", "The token's issuer does not name its own tenant")
  }
  if (!isAllowed(settings.tenants, tid) || !settings.versions.has(parsed.version)) {
    return invalid("wrong-issuer", "The token's tenant is not accepted")
  }
  const keyIssuer = verified.key.jwk.issuer
  if (keyIssuer !== undefined) {
    // A JWK's `issuer` is `{authority}/{tenantid}/v2.0` for Microsoft's shared keys (any tenant), or one
    // tenant's issuer for keys bound to it (apps with their own signing keys). As Microsoft prescribes,
    // the template is filled in with the token's `tid` and must then be the token's `iss`: merely
    // containing `{tenantid}` proves nothing (`https://evil.example/{tenantid}/v2.0` would pass), and a
    // bound key proves nothing for another tenant. Either is written in the v2 shape also for v1 tokens,
    // so the tenant's v2 issuer under the configured authority counts as well.
    const resolved = typeof keyIssuer === "string" ? keyIssuer.replaceAll(tenantTemplate, tid) : undefined
    if (resolved === undefined || (resolved !== iss && resolved !== v2Issuer(settings.authority, tid))) {
      return invalid("bad-signature", "The signing key belongs to another issuer")
    }
  }
  const aud = claims.aud
  const audiences = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : []
  if (audiences.some((audience) => typeof audience === "string" && isGraphAudience(audience))) {
    return invalid("wrong-audience", "Microsoft Graph tokens are not accepted")
  }
  return Either.right(verified)
}

const emailLike = /^[^\s@#]+@[^\s@]+\.[^\s@]+$/

/**
 * `idtyp` (an optional claim, recommended) says it outright. Without it: an app-only token has no `scp`
 * and its `sub` is the calling service principal's object id (`oid`); a user's `sub` is pairwise, never
 * the `oid`, so a user token (or an ID token, which has no `scp` either) never reads as a machine.
 */
const kindOf = (claims: JwtVerifier.Claims): Identity.Kind => {
  const idtyp = claims.idtyp
  if (idtyp !== undefined) return idtyp === "app" ? "machine" : "user"
  const oid = nonEmptyString(claims.oid)
  return claims.scp === undefined && oid !== undefined && oid === nonEmptyString(claims.sub) ? "machine" : "user"
}

/**
 * Groups overage: a user in more groups than fit in a token (200 in a JWT) gets no `groups` claim but a
 * pointer to Microsoft Graph (`_claim_names.groups`, or `hasgroups: true` in implicit-flow tokens).
 */
const hasGroupsOverage = (claims: JwtVerifier.Claims): boolean => {
  if (claims.groups !== undefined) return false
  const names = claims._claim_names
  const pointer = typeof names === "object" && names !== null && Object.hasOwn(names, "groups")
  return pointer || claims.hasgroups === true
}

const identify = (claims: JwtVerifier.Claims): Either.Either<Identity.Identity, AuthError.InvalidToken> =>
  Either.map(
    JwtProvider.identityFromClaims(name, claims, {
      // `oid` is the user's (or service principal's) object id, the same for every app in the tenant;
      // `sub` is pairwise per app. A present but unusable `oid` is refused, not skipped.
      mapping: {
        id: claims.oid === undefined ? "sub" : "oid",
        name: "name",
        email: "email",
        groups: ["groups"],
        roles: ["roles"],
        permissions: ["scp"]
      },
      kind: kindOf(claims)
    }),
    (identity) => {
      const upn = [nonEmptyString(claims.preferred_username), nonEmptyString(claims.upn)].find(
        (value) => value !== undefined && emailLike.test(value)
      )
      const grants: Identity.Grants | undefined = hasGroupsOverage(claims)
        ? { roles: identity.grants?.roles, permissions: identity.grants?.permissions, incomplete: ["groups"] }
        : identity.grants
      return { ...identity, email: identity.email ?? upn, grants }
    }
  )

const Discovery = Schema.Struct({ issuer: Schema.String, jwks_uri: Schema.String })

const discoveryTenant = (tenants: Tenants): string => {
  if (tenants._tag === "Any") return tenants.authorityTenant
  const [only, ...others] = tenants.tenants
  // One JWKS for a list of tenants: Microsoft's shared keys are the same in every tenant's document.
  return only !== undefined && others.length === 0 ? only : "common"
}

const sameOrigin = (url: string, authority: string): boolean => {
  try {
    return new URL(url).origin === new URL(authority).origin
  } catch {
    return false
  }
}

/**
 * The JWKS URL from the tenant's discovery document, fetched when keys are first needed (so an
 * unreachable authority at start-up gives 503s, not a failed start). Not `Oidc.discover`: multi-tenant
 * documents carry the template `{authority}/{tenantid}/v2.0` as their issuer.
 */
const jwksUri = (
  settings: Settings,
  options: Options
): Effect.Effect<string, AuthError.ProviderUnavailable, HttpClient.HttpClient> => {
  const tenant = discoveryTenant(settings.tenants)
  const expectedIssuer = v2Issuer(settings.authority, guid.test(tenant) ? tenant : tenantTemplate)
  const failure = (reason: AuthError.ProviderUnavailable["reason"], message: string) =>
    Effect.fail(new AuthError.ProviderUnavailable({ reason, provider: name, cause: new FetchFailure(message) }))
  return Effect.flatMap(
    fetchJson(`${settings.authority}/${tenant}/v2.0/.well-known/openid-configuration`, Discovery, {
      provider: name,
      timeout: options.jwks?.timeout ?? JwksCache.defaults.timeout,
      maxResponseBytes: options.jwks?.maxResponseBytes ?? JwksCache.defaults.maxResponseBytes
    }),
    (document) => {
      if (document.issuer !== expectedIssuer) {
        return failure("misconfigured", "The discovery document is for another issuer (check the authority and tenant)")
      }
      // Keys are only trusted from the authority itself, however the document came to name another host.
      if (!sameOrigin(document.jwks_uri, settings.authority)) {
        return failure("bad-response", "The discovery document's jwks_uri is not on the authority")
      }
      return Effect.succeed(document.jwks_uri)
    }
  )
}

/**
 * An Entra ID issuer for `JwtProvider.provider`. Misconfiguration (a domain instead of a tenant id, no
 * audience, a Graph audience, a non-https authority) fails with a `ConfigError` here; keys are fetched
 * on first use.
 *
 * Refusals: an issuer of another tenant is `unknown-issuer` (no issuer accepts it); `iss` naming another
 * tenant than `tid` is `wrong-issuer`, a missing `tid` `missing-claim`, a `tid` that is not a GUID
 * `invalid-claim`; a key whose JWK `issuer`, with `{tenantid}` replaced by `tid`, is neither the token's
 * `iss` nor its tenant's v2 issuer (a key bound to another tenant, a template on another host) is
 * `bad-signature`; an `aud` that is not configured, or Microsoft Graph, is `wrong-audience`.
 *
 * @since 0.1.0
 */
export const issuer = (
  options: Options
): Effect.Effect<JwtProvider.Issuer, ConfigError.ConfigError, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const settings = yield* Either.mapLeft(validate(options), (message) =>
      ConfigError.InvalidData([], `Entra ID: ${message}`)
    )
    const accepts = (iss: string): boolean => {
      const parsed = parseIssuer(settings.authority, iss)
      return parsed !== undefined && settings.versions.has(parsed.version) && isAllowed(settings.tenants, parsed.tid)
    }
    const verifier = yield* JwtVerifier.make({
      ...options.verifier,
      algorithms,
      issuer: (iss) => accepts(iss),
      audience: settings.audiences
    })
    const client = yield* HttpClient.HttpClient
    const keys = yield* JwksCache.make({
      ...options.jwks,
      provider: name,
      url: Effect.provideService(jwksUri(settings, options), HttpClient.HttpClient, client)
    })
    const built: JwtProvider.Issuer = {
      name,
      accepts,
      verify: (token) => Effect.flatMap(verifier.verify(token, keys), (verified) => checkTenant(settings, verified)),
      verifyNow: (token, nowMillis) => {
        const verified = verifier.verifyNow?.(token, keys, nowMillis)
        return verified === undefined ? undefined : Either.flatMap(verified, (done) => checkTenant(settings, done))
      },
      identify: ({ claims }) => identify(claims)
    }
    return CacheProbe.register(built, (token, nowMillis) => {
      const hit = verifier.cachedNow?.(token, keys, nowMillis)
      return hit === undefined ? undefined : checkTenant(settings, hit)
    })
  })

/**
 * An `AuthProvider` for one Entra ID configuration: `JwtProvider.provider([EntraId.issuer(options)])`.
 *
 * @example
 * ```ts
 * import { Authenticator } from "@effect-auth/core"
 * import { EntraId } from "@effect-auth/jwt"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * const AuthLive = Authenticator.layer([
 *   EntraId.provider({
 *     tenant: "11111111-2222-3333-4444-555555555555",
 *     audience: ["api://orders", "66666666-7777-8888-9999-000000000000"]
 *   })
 * ]).pipe(Layer.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 */
export const provider = (
  options: Options
): Effect.Effect<AuthProvider.AuthProvider, ConfigError.ConfigError, HttpClient.HttpClient | Scope.Scope> =>
  JwtProvider.provider([issuer(options)])

const list = (variable: string) =>
  Config.array(Config.nonEmptyString(), variable).pipe(
    Config.map((values) => values.map((value) => value.trim()).filter((value) => value.length > 0))
  )

const checked = <A>(variable: string, check: (value: A) => Either.Either<unknown, string>) =>
  Config.mapOrFail((value: A) =>
    Either.match(check(value), {
      onLeft: (message) => Either.left(ConfigError.InvalidData([variable], message)),
      onRight: () => Either.right(value)
    })
  )

/**
 * The settings from configuration: `AUTH_ENTRA_TENANT_ID` (a tenant id, a comma-separated list of them,
 * `common` or `organizations`), `AUTH_ENTRA_AUDIENCE` (comma-separated) and `AUTH_ENTRA_AUTHORITY`
 * (optional URL).
 *
 * @since 0.1.0
 */
export const issuerConfig: Config.Config<Pick<Options, "tenant" | "audience" | "authority">> = Config.all({
  tenant: list("AUTH_ENTRA_TENANT_ID").pipe(
    Config.map((values): string | ReadonlyArray<string> =>
      values.length === 1 && values[0] !== undefined ? values[0] : values
    ),
    checked("AUTH_ENTRA_TENANT_ID", (tenant: string | ReadonlyArray<string>) => validateTenants(tenant, undefined))
  ),
  audience: list("AUTH_ENTRA_AUDIENCE").pipe(checked("AUTH_ENTRA_AUDIENCE", validateAudiences)),
  authority: Config.option(Config.nonEmptyString("AUTH_ENTRA_AUTHORITY")).pipe(
    Config.map(Option.getOrUndefined),
    checked("AUTH_ENTRA_AUTHORITY", validateAuthority)
  )
})

/**
 * {@link issuer} from {@link issuerConfig}, with the JWKS settings `JWKS_CACHE_INTERVAL`, `JWKS_CACHE_USAGES`
 * and `JWKS_UNKNOWN_KID_COOLDOWN` where they are set (over `overrides.jwks`).
 *
 * @since 0.1.0
 */
export const issuerFromConfig = (
  overrides?: Omit<Options, "tenant" | "audience" | "authority"> | undefined
): Effect.Effect<JwtProvider.Issuer, ConfigError.ConfigError, HttpClient.HttpClient | Scope.Scope> =>
  // Entra's own checks already name the AUTH_ENTRA_* variables in their errors.
  issuerFromSettings(issuerConfig, {}, (settings, refresh) =>
    issuer({ ...overrides, ...settings, jwks: { ...overrides?.jwks, ...refresh } })
  )
