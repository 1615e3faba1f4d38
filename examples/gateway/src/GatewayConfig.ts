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
  "AUTH_DATABASE_URL",
  "AUTH_DISABLED"
] as const

/** The providers this version of the gateway can run; the others are recognised but not built yet. */
export const supportedProviderVariables: ReadonlyArray<string> = ["AUTH_BASIC_USERS_FILE", "AUTH_DISABLED"]

export interface GatewayConfig {
  readonly port: number
  readonly host: string
  readonly routesFile: Option.Option<string>
  readonly upstreamUrl: Option.Option<URL>
  readonly errorStyle: ErrorResponse.ErrorStyle
  readonly basicUsersFile: Option.Option<string>
  readonly apiKeyHeader: string
  /** Provider variables that are set (non-empty). */
  readonly providersSet: ReadonlyArray<string>
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
  const providersSet: Array<string> = []
  for (const name of providerVariables) {
    if (Option.isSome(yield* optionalString(name))) providersSet.push(name)
  }
  return {
    port: yield* Config.withDefault(Config.port("PORT"), 8080),
    host: yield* Config.withDefault(Config.string("HOST"), "127.0.0.1"),
    routesFile: yield* optionalString("AUTH_ROUTES_FILE"),
    upstreamUrl: yield* upstream,
    errorStyle: yield* Config.withDefault(Config.literal("problem", "openai")("AUTH_ERROR_STYLE"), "problem"),
    basicUsersFile: yield* optionalString("AUTH_BASIC_USERS_FILE"),
    apiKeyHeader: yield* AuthConfig.apiKeyHeader,
    providersSet
  } satisfies GatewayConfig
})
