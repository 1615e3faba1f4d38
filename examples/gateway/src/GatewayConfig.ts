/**
 * The gateway's configuration: the environment-variable contract documented in its README.
 */
import { AuthConfig } from "@effect-auth/core"
import type { ErrorResponse } from "@effect-auth/http"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** Every variable that configures an identity provider: setting any of them turns demo mode off. */
export const providerVariables = [
  "AUTH_BASIC_USERS_FILE",
  "AUTH_JWT_ISSUER",
  "AUTH_JWT_JWKS_URL",
  "AUTH_COGNITO_USER_POOL_ID",
  "AUTH_ENTRA_TENANT_ID",
  "AUTH_API_KEYS_FILE",
  "AUTH_DATABASE_URL"
] as const

/**
 * Settings of the bearer-token providers and of the database, each read only with the provider variable it
 * belongs to: set without it, it is logged as ignored.
 */
export const providerSettings: ReadonlyArray<readonly [setting: string, provider: ReadonlyArray<string>]> = [
  ["AUTH_JWT_AUDIENCE", ["AUTH_JWT_ISSUER", "AUTH_JWT_JWKS_URL"]],
  ["AUTH_JWT_ALGORITHMS", ["AUTH_JWT_ISSUER", "AUTH_JWT_JWKS_URL"]],
  ["AUTH_COGNITO_REGION", ["AUTH_COGNITO_USER_POOL_ID"]],
  ["AUTH_COGNITO_CLIENT_IDS", ["AUTH_COGNITO_USER_POOL_ID"]],
  ["AUTH_COGNITO_TOKEN_USE", ["AUTH_COGNITO_USER_POOL_ID"]],
  ["AUTH_COGNITO_ENDPOINT", ["AUTH_COGNITO_USER_POOL_ID"]],
  ["AUTH_ENTRA_AUDIENCE", ["AUTH_ENTRA_TENANT_ID"]],
  ["AUTH_ENTRA_AUTHORITY", ["AUTH_ENTRA_TENANT_ID"]],
  ["AUTH_DATABASE_POOL_SIZE", ["AUTH_DATABASE_URL"]],
  ["AUTH_DATABASE_CONNECT_TIMEOUT", ["AUTH_DATABASE_URL"]],
  ["AUTH_DATABASE_SOCKET_TIMEOUT", ["AUTH_DATABASE_URL"]],
  ["AUTH_DATABASE_MIGRATE", ["AUTH_DATABASE_URL"]],
  ["AUTH_DATABASE_TABLE_PREFIX", ["AUTH_DATABASE_URL"]],
  ["AUTH_GRANTS_CACHE_TTL", ["AUTH_DATABASE_URL"]]
]

/** JWKS refresh settings, shared by every bearer-token issuer (the seed's names). */
export const jwksCacheVariables: ReadonlyArray<string> = [
  "JWKS_CACHE_INTERVAL",
  "JWKS_CACHE_USAGES",
  "JWKS_UNKNOWN_KID_COOLDOWN"
]

/** Rate limit and audit log settings, read by core's `RateLimit.layerConfig` and `AuditLog.layerConfig`. */
export const limitAndAuditVariables: ReadonlyArray<string> = [
  "AUTH_RATE_LIMIT_PER_MINUTE",
  "MAX_REQUESTS_PER_MINUTE",
  "AUTH_REDIS_URL",
  "AUTH_RATE_LIMIT_FALLBACK",
  "AUTH_RATE_LIMIT_MAX_KEYS",
  "AUTH_AUDIT_LOG"
]

const knownVariables: ReadonlySet<string> = new Set([
  ...providerVariables,
  ...limitAndAuditVariables,
  ...providerSettings.map(([setting]) => setting),
  ...jwksCacheVariables,
  "AUTH_ROUTES_FILE",
  "AUTH_ERROR_STYLE",
  "AUTH_API_KEY_HEADER",
  "AUTH_DISABLED",
  "AUTH_LOG_LEVEL"
])

export interface GatewayConfig {
  readonly port: number
  readonly host: string
  readonly routesFile: Option.Option<string>
  readonly upstreamUrl: Option.Option<URL>
  readonly errorStyle: ErrorResponse.ErrorStyle
  readonly basicUsersFile: Option.Option<string>
  readonly apiKeysFile: Option.Option<string>
  readonly apiKeyHeader: string
  /** Provider variables that are set (non-empty). */
  readonly providersSet: ReadonlyArray<string>
  /** Provider settings that are set while their provider variable is not: they have no effect. */
  readonly orphanSettings: ReadonlyArray<string>
  /** A generic JWT issuer is configured (`AUTH_JWT_ISSUER` or `AUTH_JWT_JWKS_URL`). */
  readonly jwtIssuer: boolean
  /** `AUTH_JWT_AUDIENCE` is set. */
  readonly jwtAudience: boolean
  /** A Cognito user pool is configured (`AUTH_COGNITO_USER_POOL_ID`). */
  readonly cognito: boolean
  /** Entra ID is configured (`AUTH_ENTRA_TENANT_ID`). */
  readonly entraId: boolean
  /** A database holds users, API keys and grants (`AUTH_DATABASE_URL`). */
  readonly database: boolean
  readonly authDisabled: boolean
  readonly production: boolean
  /** `AUTH_*` variables that are set but that no version of the gateway knows: most likely typos. */
  readonly unknownSet: ReadonlyArray<string>
}

const optionalString = (name: string) =>
  Config.map(Config.option(Config.string(name)), (value) => Option.filter(value, (text) => text.trim().length > 0))

const upstream = Config.mapOrFail(optionalString("UPSTREAM_URL"), (value) => {
  if (Option.isNone(value)) return Either.right(Option.none<URL>())
  const url = URL.canParse(value.value) ? new URL(value.value) : undefined
  return url !== undefined && (url.protocol === "http:" || url.protocol === "https:")
    ? Either.right(Option.some(url))
    : Either.left(ConfigError.InvalidData(["UPSTREAM_URL"], "UPSTREAM_URL must be an http:// or https:// URL"))
})

export const load = Effect.gen(function* () {
  const setAmong = (names: ReadonlyArray<string>) =>
    Effect.filter(names, (name) => Effect.map(optionalString(name), Option.isSome))
  const providersSet = yield* setAmong(providerVariables)
  const isSet = (name: string) => providersSet.includes(name)
  const settingsSet = yield* setAmong(providerSettings.map(([setting]) => setting))
  return {
    port: yield* Config.withDefault(
      Config.orElse(Config.port("PORT"), () => Config.map(Config.literal("0")("PORT"), () => 0)),
      8080
    ),
    host: yield* Config.withDefault(Config.string("HOST"), "127.0.0.1"),
    routesFile: yield* optionalString("AUTH_ROUTES_FILE"),
    upstreamUrl: yield* upstream,
    errorStyle: yield* Config.withDefault(Config.literal("problem", "openai")("AUTH_ERROR_STYLE"), "problem"),
    basicUsersFile: yield* optionalString("AUTH_BASIC_USERS_FILE"),
    apiKeysFile: yield* optionalString("AUTH_API_KEYS_FILE"),
    apiKeyHeader: yield* AuthConfig.apiKeyHeader,
    providersSet,
    orphanSettings: providerSettings
      .filter(([setting, providers]) => settingsSet.includes(setting) && !providers.some(isSet))
      .map(([setting]) => setting),
    jwtIssuer: isSet("AUTH_JWT_ISSUER") || isSet("AUTH_JWT_JWKS_URL"),
    jwtAudience: Option.isSome(yield* optionalString("AUTH_JWT_AUDIENCE")),
    cognito: isSet("AUTH_COGNITO_USER_POOL_ID"),
    entraId: isSet("AUTH_ENTRA_TENANT_ID"),
    database: isSet("AUTH_DATABASE_URL"),
    authDisabled: yield* AuthConfig.disabled,
    production: (yield* AuthConfig.nodeEnv) === "production",
    unknownSet: Object.keys(process.env).filter((name) => name.startsWith("AUTH_") && !knownVariables.has(name))
  } satisfies GatewayConfig
})
