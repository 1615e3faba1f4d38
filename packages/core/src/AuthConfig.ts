/**
 * Settings shared by every part of effect-auth, read with `effect/Config` (environment variables by
 * default). Provider-specific settings live beside their providers.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
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

const logLevels: Readonly<Record<string, LogLevel.LogLevel>> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  off: LogLevel.None,
  none: LogLevel.None
}

/**
 * `AUTH_LOG_LEVEL`: `trace`, `debug`, `info` (default), `warning` (or `warn`), `error`, `fatal`, `none`
 * (or `off`), `all`; case-insensitive.
 *
 * @since 0.1.0
 */
export const logLevel: Config.Config<LogLevel.LogLevel> = Config.withDefault(
  Config.mapOrFail(Config.string("AUTH_LOG_LEVEL"), (value) => {
    const level = logLevels[value.trim().toLowerCase()]
    return level === undefined
      ? Either.left(
          ConfigError.InvalidData(
            [],
            `Expected one of ${Object.keys(logLevels).join(", ")}, got ${JSON.stringify(value)}`
          )
        )
      : Either.right(level)
  }),
  LogLevel.Info
)

/**
 * `AUTH_API_KEY_HEADER`: the extra header that carries an API key (default `x-api-key`).
 *
 * @since 0.1.0
 */
export const apiKeyHeader: Config.Config<string> = Config.withDefault(Config.string("AUTH_API_KEY_HEADER"), "x-api-key")
