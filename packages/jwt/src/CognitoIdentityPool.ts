/**
 * Temporary AWS credentials for a signed-in user: a Cognito user pool id token exchanged with a Cognito
 * identity pool (`GetId`, then `GetCredentialsForIdentity`). The token is verified here first, the
 * credentials are cached per id token until shortly before they (or the token) expire, and concurrent
 * requests with one token share one exchange.
 *
 * `@aws-sdk/client-cognito-identity` (v3) is an optional peer dependency, imported only when this service
 * is built: applications that never exchange tokens need not install it.
 *
 * @since 0.1.0
 */
import { AuthError } from "@effect-auth/core"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as CognitoIdentitySdk from "@aws-sdk/client-cognito-identity"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import * as Cognito from "./Cognito.js"
import * as Lru from "./internal/lru.js"
import * as JwksCache from "./JwksCache.js"
import * as Oidc from "./Oidc.js"

/**
 * Temporary credentials of an identity pool identity. The secret parts are `Redacted`: logging them
 * prints `<redacted>`.
 *
 * @since 0.1.0
 */
export interface AwsCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: Redacted.Redacted<string>
  readonly sessionToken: Redacted.Redacted<string>
  readonly expiration: Date
  /** The identity pool's id for the user (`<region>:<uuid>`). */
  readonly identityId: string
}

/**
 * @since 0.1.0
 */
export interface CognitoIdentityPool {
  /**
   * Credentials for the user of a user pool id token (the raw token: a principal does not carry it). The
   * token is verified first (signature, issuer, expiry, `token_use` `id`, app client); only then may cached
   * credentials be returned. They are cached per token, never per user: the role the identity pool picks
   * depends on the token (its app client, groups, preferred role).
   */
  readonly credentialsFor: (
    idToken: string | Redacted.Redacted<string>
  ) => Effect.Effect<AwsCredentials, AuthError.ProviderUnavailable | AuthError.InvalidToken>
}

/**
 * @since 0.1.0
 */
export const CognitoIdentityPool: Context.Tag<CognitoIdentityPool, CognitoIdentityPool> =
  Context.GenericTag<CognitoIdentityPool>("@effect-auth/jwt/CognitoIdentityPool")

/**
 * @since 0.1.0
 */
export interface Options {
  /** `<region>:<uuid>`, e.g. `eu-central-1:0a1b2c3d-…`. */
  readonly identityPoolId: string
  /** The identity pool's region; derived from its id, so only needed as a cross-check. */
  readonly region?: string | undefined
  /** The user pool whose id tokens are exchanged; its tokens are verified with `Cognito.issuer`. */
  readonly userPool: Omit<Cognito.IssuerOptions, "tokenUse" | "groupsAsRoles" | "profile">
  /**
   * The `Logins` key, the user pool as the identity pool knows it. Default
   * `cognito-idp.{region}.amazonaws.com/{userPoolId}` (also with an emulator endpoint).
   */
  readonly loginProvider?: string | undefined
  /** Replaces the Cognito Identity endpoint (`https://cognito-identity.{region}.amazonaws.com`), for emulators. */
  readonly endpoint?: string | undefined
  /** `GetId`'s optional `AccountId`. */
  readonly accountId?: string | undefined
  /** `GetCredentialsForIdentity`'s optional `CustomRoleArn` (a role the identity pool's rules allow). */
  readonly customRoleArn?: string | undefined
  /** Bound on one whole exchange, both calls (default 5 seconds). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Cached credentials are renewed this long before they expire (default 5 minutes). */
  readonly refreshBefore?: Duration.DurationInput | undefined
  /** Tokens whose credentials are kept (default 1000); the least recently used are dropped first. */
  readonly maxEntries?: number | undefined
}

/**
 * The defaults of `Options`.
 *
 * @since 0.1.0
 */
export const defaults = {
  timeout: Duration.seconds(5),
  refreshBefore: Duration.minutes(5),
  maxEntries: 1000
} as const

const provider = "cognito-identity"

const awsIdentityPoolId = /^([a-z]{2,4}(?:-[a-z]+)+-\d{1,2}):[0-9a-f-]+$/
const emulatorIdentityPoolId = /^([A-Za-z0-9_-]+):[0-9A-Za-z-]+$/
const maxIdentityPoolIdLength = 55

const invalid = (path: string, message: string) => ConfigError.InvalidData([path], message)

/**
 * Why an exchange failed, as the `cause` of a `ProviderUnavailable`: the operation, the AWS error name and
 * the HTTP status, never the SDK's error itself, whose raw response may hold the credentials.
 *
 * @since 0.1.0
 */
export class ExchangeFailure extends Error {
  override readonly name = "ExchangeFailure"
}

const millis = (
  path: string,
  input: Duration.DurationInput,
  accept: (millis: number) => boolean
): Either.Either<number, ConfigError.ConfigError> => {
  const decoded = Duration.decodeUnknown(input)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value) || !accept(Duration.toMillis(decoded.value))) {
    return Either.left(invalid(path, "Expected a finite duration in range"))
  }
  return Either.right(Duration.toMillis(decoded.value))
}

interface Settings {
  readonly identityPoolId: string
  readonly region: string
  readonly endpoint: string | undefined
  readonly loginProvider: string
  readonly timeoutMillis: number
  readonly refreshBeforeMillis: number
  readonly maxEntries: number
}

const settings = (options: Options): Either.Either<Settings, ConfigError.ConfigError> =>
  Either.gen(function* () {
    const { identityPoolId } = options
    const match =
      typeof identityPoolId !== "string" || identityPoolId.length > maxIdentityPoolIdLength
        ? null
        : (awsIdentityPoolId.exec(identityPoolId) ??
          (options.endpoint === undefined ? null : emulatorIdentityPoolId.exec(identityPoolId)))
    const prefix = match?.[1]
    if (prefix === undefined) {
      return yield* Either.left(invalid("identityPoolId", "Expected an identity pool id: <region>:<uuid>"))
    }
    if (options.region !== undefined && options.region !== prefix) {
      return yield* Either.left(invalid("region", "The region does not match the identity pool id's prefix"))
    }
    let endpoint: string | undefined
    if (options.endpoint !== undefined) {
      // Plain HTTP anywhere but on this machine would send users' tokens, and receive their credentials,
      // in the clear.
      if (!Oidc.isSecureUrl(options.endpoint)) {
        return yield* Either.left(
          invalid("endpoint", "Expected an https URL (http only to localhost, 127.0.0.1 or [::1])")
        )
      }
      endpoint = options.endpoint
    }
    const pool = yield* Cognito.userPool(options.userPool)
    const loginProvider = options.loginProvider ?? pool.providerName
    if (loginProvider.length === 0) return yield* Either.left(invalid("loginProvider", "Expected a provider name"))
    const timeoutMillis = yield* millis("timeout", options.timeout ?? defaults.timeout, (ms) => ms > 0)
    const refreshBeforeMillis = yield* millis(
      "refreshBefore",
      options.refreshBefore ?? defaults.refreshBefore,
      (ms) => ms >= 0
    )
    const maxEntries = options.maxEntries ?? defaults.maxEntries
    if (!Number.isSafeInteger(maxEntries) || maxEntries <= 0) {
      return yield* Either.left(invalid("maxEntries", "Expected a positive integer"))
    }
    return {
      identityPoolId,
      region: prefix,
      endpoint,
      loginProvider,
      timeoutMillis,
      refreshBeforeMillis,
      maxEntries
    }
  })

const loadSdk: Effect.Effect<typeof CognitoIdentitySdk, ConfigError.ConfigError> = Effect.tryPromise({
  try: () => import("@aws-sdk/client-cognito-identity"),
  catch: () =>
    invalid(
      "@aws-sdk/client-cognito-identity",
      "Exchanging tokens with an identity pool needs @aws-sdk/client-cognito-identity (v3) to be installed"
    )
})

type ExchangeError = AuthError.ProviderUnavailable | AuthError.InvalidToken

const tokenKey = (token: string): string => createHash("sha256").update(token).digest("base64url")

const unavailable = (reason: AuthError.ProviderUnavailable["reason"], message: string) =>
  new AuthError.ProviderUnavailable({ reason, provider, cause: new ExchangeFailure(message) })

const misconfiguration: ReadonlySet<string> = new Set([
  "ResourceNotFoundException",
  "InvalidIdentityPoolConfigurationException",
  "InvalidParameterException"
])

const outage: ReadonlySet<string> = new Set([
  "TooManyRequestsException",
  "LimitExceededException",
  "InternalErrorException",
  "ExternalServiceException"
])

/** What an SDK failure means. Only fixed text and the error's name and status are kept. */
const classify = (operation: string, error: unknown): ExchangeError => {
  const failure = typeof error === "object" && error !== null ? (error as Record<string, unknown>) : {}
  const name = typeof failure.name === "string" ? failure.name : "Error"
  const metadata = failure.$metadata
  const status =
    typeof metadata === "object" && metadata !== null && "httpStatusCode" in metadata
      ? metadata.httpStatusCode
      : undefined
  const described = `${operation} failed: ${name}${typeof status === "number" ? ` (HTTP ${status})` : ""}`
  // The token was verified just before, so a refusal means the identity pool will not take it any more:
  // the user signed out everywhere or was deleted (server-side token check), or the pool stopped trusting
  // this user pool or app client.
  if (name === "NotAuthorizedException") {
    return new AuthError.InvalidToken({ reason: "revoked", detail: "The identity pool did not accept the token" })
  }
  if (misconfiguration.has(name)) return unavailable("misconfigured", described)
  if (outage.has(name) || failure.$fault === "server") return unavailable("unreachable", described)
  // An answer that is not a known Cognito error (an emulator's or a proxy's page, a body the SDK cannot read).
  if (typeof status === "number") return unavailable("bad-response", described)
  return unavailable("unreachable", described)
}

/**
 * Builds the service: validates the options (a `ConfigError` for bad ids, regions, endpoints, durations, or
 * when the AWS SDK is not installed), builds the user pool verifier and the SDK client (closed with the
 * scope). Nothing is fetched or exchanged until the first `credentialsFor`.
 *
 * Failures of `credentialsFor`: an `InvalidToken` for a token that does not verify or is not an id token
 * (`wrong-type`), and `revoked` when the identity pool refuses it (`NotAuthorizedException`); a
 * `ProviderUnavailable` (`cognito-identity`) for `timeout`, an outage or throttling (`unreachable`), an
 * unknown pool or bad parameters (`misconfigured`), or an answer that cannot be read (`bad-response`).
 * Failures are not cached.
 *
 * @since 0.1.0
 */
export const make = (
  options: Options
): Effect.Effect<CognitoIdentityPool, ConfigError.ConfigError, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const config = yield* settings(options)
    const verifier = yield* Cognito.issuer({ ...options.userPool, tokenUse: "id" })
    const sdk = yield* loadSdk
    const client = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new sdk.CognitoIdentityClient({
            region: config.region,
            ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
            // One attempt: the exchange's own timeout bounds the call, and a failure is not cached, so the
            // next request simply tries again.
            maxAttempts: 1
          })
      ),
      (client) => Effect.sync(() => client.destroy())
    )
    const scope = yield* Effect.scope

    const call = <A>(operation: string, send: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, ExchangeError> =>
      Effect.tryPromise({ try: send, catch: (error) => classify(operation, error) })

    const exchange = (token: string): Effect.Effect<AwsCredentials, ExchangeError> =>
      Effect.gen(function* () {
        const logins = { [config.loginProvider]: token }
        const id = yield* call("GetId", (abortSignal) =>
          client.send(
            new sdk.GetIdCommand({
              IdentityPoolId: config.identityPoolId,
              AccountId: options.accountId,
              Logins: logins
            }),
            { abortSignal }
          )
        )
        const identityId = id.IdentityId
        if (typeof identityId !== "string" || identityId.length === 0) {
          return yield* unavailable("bad-response", "GetId answered without an IdentityId")
        }
        const answer = yield* call("GetCredentialsForIdentity", (abortSignal) =>
          client.send(
            new sdk.GetCredentialsForIdentityCommand({
              IdentityId: identityId,
              Logins: logins,
              CustomRoleArn: options.customRoleArn
            }),
            { abortSignal }
          )
        )
        const credentials = answer.Credentials
        const expiration = credentials?.Expiration
        if (
          typeof credentials?.AccessKeyId !== "string" ||
          typeof credentials.SecretKey !== "string" ||
          typeof credentials.SessionToken !== "string" ||
          !(expiration instanceof Date) ||
          Number.isNaN(expiration.getTime())
        ) {
          return yield* unavailable("bad-response", "GetCredentialsForIdentity answered without complete credentials")
        }
        return {
          accessKeyId: credentials.AccessKeyId,
          secretAccessKey: Redacted.make(credentials.SecretKey),
          sessionToken: Redacted.make(credentials.SessionToken),
          expiration,
          identityId: answer.IdentityId ?? identityId
        }
      }).pipe(
        // Interrupting the calls aborts their HTTP requests (the signal above).
        Effect.timeoutFail({
          duration: Duration.millis(config.timeoutMillis),
          onTimeout: () =>
            new AuthError.ProviderUnavailable({
              reason: "timeout",
              provider,
              cause: new Cause.TimeoutException("The identity pool did not answer in time")
            })
        })
      )

    // All cache state is read and written in synchronous sections only, so a check and the update that
    // follows it cannot interleave with another fiber.
    const ready = Lru.make<string, { readonly credentials: AwsCredentials; readonly refreshAt: number }>(
      config.maxEntries
    )
    const pending = new Map<string, Deferred.Deferred<AwsCredentials, ExchangeError>>()

    const remember = (key: string, credentials: AwsCredentials, tokenExpiresAt: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          // Never served past the token's own expiry: a later request must bring a token the identity pool
          // still takes (the user may have signed out, or left a group, meanwhile).
          const refreshAt = Math.min(credentials.expiration.getTime() - config.refreshBeforeMillis, tokenExpiresAt)
          // Credentials already inside the refresh window are handed out once, not kept.
          if (refreshAt > now) ready.set(key, { credentials, refreshAt })
        })
      )

    type Lookup =
      | { readonly credentials: AwsCredentials }
      | { readonly wait: Deferred.Deferred<AwsCredentials, ExchangeError>; readonly start: boolean }

    /** Cached credentials, the exchange under way for the same token, or a new exchange (registered here). */
    const lookup = (key: string, now: number): Lookup => {
      const hit = ready.get(key)
      if (hit !== undefined && now < hit.refreshAt) return { credentials: hit.credentials }
      const running = pending.get(key)
      if (running !== undefined) return { wait: running, start: false }
      const deferred = Deferred.unsafeMake<AwsCredentials, ExchangeError>(FiberId.none)
      pending.set(key, deferred)
      return { wait: deferred, start: true }
    }

    const credentialsFor = (
      idToken: string | Redacted.Redacted<string>
    ): Effect.Effect<AwsCredentials, ExchangeError> =>
      Effect.gen(function* () {
        const token = typeof idToken === "string" ? idToken : Redacted.value(idToken)
        // Verified before the cache is consulted: a forged token must never pick up anyone's credentials.
        const { claims } = yield* verifier.verify(token)
        const sub = claims.sub
        if (typeof sub !== "string" || sub.length === 0) {
          return yield* new AuthError.InvalidToken({ reason: "missing-claim", detail: "The id token has no subject" })
        }
        // The verifier requires `exp`; without a usable one nothing is kept.
        const tokenExpiresAt = typeof claims.exp === "number" ? claims.exp * 1000 : Number.NEGATIVE_INFINITY
        // Keyed by the token, not the user: the role the identity pool picks depends on the token (the app
        // client in `aud`, rules on groups and custom claims, `cognito:preferred_role`), so another token of
        // the same user must get its own exchange. A digest, so the cache holds no bearer tokens.
        const key = tokenKey(token)
        const now = yield* Clock.currentTimeMillis
        const next = lookup(key, now)
        if ("credentials" in next) return next.credentials
        if (next.start) {
          // The exchange runs in its own fiber, in the service's scope: a caller that gives up (its own
          // timeout, a failed sibling) does not cancel it for the others waiting; it is bounded by `timeout`.
          yield* exchange(token).pipe(
            Effect.tap((credentials) => remember(key, credentials, tokenExpiresAt)),
            Effect.ensuring(Effect.sync(() => pending.delete(key))),
            Effect.intoDeferred(next.wait),
            Effect.forkIn(scope)
          )
        }
        return yield* Deferred.await(next.wait)
      })

    return CognitoIdentityPool.of({ credentialsFor })
  })

/**
 * The service as a layer.
 *
 * @example
 * ```ts
 * import { CognitoIdentityPool } from "@effect-auth/jwt"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * const IdentityPoolLive = CognitoIdentityPool.layer({
 *   identityPoolId: "eu-central-1:0a1b2c3d-1111-2222-3333-444455556666",
 *   userPool: { userPoolId: "eu-central-1_AbC123xyz", clientIds: ["4r5t6y7u8i9o0p"] }
 * }).pipe(Layer.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<CognitoIdentityPool, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.scoped(CognitoIdentityPool, make(options))

/**
 * The identity pool from configuration: `AUTH_COGNITO_IDENTITY_POOL_ID`, `AUTH_COGNITO_IDENTITY_REGION`
 * (optional) and `AUTH_COGNITO_IDENTITY_ENDPOINT` (optional, for emulators).
 *
 * @since 0.1.0
 */
export const config: Config.Config<Pick<Options, "identityPoolId" | "region" | "endpoint">> = Config.all({
  identityPoolId: Config.nonEmptyString("AUTH_COGNITO_IDENTITY_POOL_ID"),
  region: Config.option(Config.nonEmptyString("AUTH_COGNITO_IDENTITY_REGION")),
  endpoint: Config.option(Config.nonEmptyString("AUTH_COGNITO_IDENTITY_ENDPOINT"))
}).pipe(
  Config.map(({ endpoint, identityPoolId, region }) => ({
    identityPoolId,
    region: Option.getOrUndefined(region),
    endpoint: Option.getOrUndefined(endpoint)
  }))
)

/**
 * The service with the identity pool from {@link config}, the user pool from `Cognito.issuerConfig`
 * (`AUTH_COGNITO_USER_POOL_ID`, `AUTH_COGNITO_CLIENT_IDS`, …; its token use is always `id` here) and the
 * JWKS refresh policy from `JwksCache.config`.
 *
 * @since 0.1.0
 */
export const layerConfig = (
  overrides?: Omit<Options, "identityPoolId" | "region" | "endpoint" | "userPool">
): Layer.Layer<CognitoIdentityPool, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.scoped(
    CognitoIdentityPool,
    Effect.gen(function* () {
      const identityPool = yield* config
      const { tokenUse: _tokenUse, ...userPool } = yield* Cognito.issuerConfig
      const refresh = yield* JwksCache.config
      return yield* make({ ...overrides, ...identityPool, userPool: { ...userPool, jwks: refresh } })
    })
  )
