/**
 * Settings shared by every part of effect-auth, read with `effect/Config` (environment variables by
 * default). Provider-specific settings live beside their providers.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as LogLevel from "effect/LogLevel"

/**
 * `AUTH_DISABLED`: accept every request as a development user (refused when `NODE_ENV=production`).
 *
 * @since 0.1.0
 */
export const disabled: Config.Config<boolean> = Config.withDefault(Config.boolean("AUTH_DISABLED"), false)

/**
 * `NODE_ENV`, lower-cased; empty when unset.
 *
 * @since 0.1.0
 */
export const nodeEnv: Config.Config<string> = Config.map(Config.withDefault(Config.string("NODE_ENV"), ""), (value) =>
  value.trim().toLowerCase()
)

/**
 * `AUTH_LOG_LEVEL`: `trace`, `debug`, `info` (default), `warning`, `error`, `fatal`, `none`.
 *
 * @since 0.1.0
 */
export const logLevel: Config.Config<LogLevel.LogLevel> = Config.withDefault(
  Config.logLevel("AUTH_LOG_LEVEL"),
  LogLevel.Info
)

/**
 * `AUTH_API_KEY_HEADER`: the extra header that carries an API key (default `x-api-key`).
 *
 * @since 0.1.0
 */
export const apiKeyHeader: Config.Config<string> = Config.withDefault(Config.string("AUTH_API_KEY_HEADER"), "x-api-key")
