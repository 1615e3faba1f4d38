import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as JwksCache from "../JwksCache.js"

/**
 * Replaces option names in a configuration error's paths with the variables they were read from, so a
 * `*FromConfig` constructor that fails says which variable to fix.
 */
export const namingVariables =
  (variables: Readonly<Record<string, string>>) =>
  (error: ConfigError.ConfigError): ConfigError.ConfigError => {
    const rename = (path: Array<string>) => path.map((segment) => variables[segment] ?? segment)
    const renameAll = namingVariables(variables)
    switch (error._op) {
      case "And":
        return ConfigError.And(renameAll(error.left), renameAll(error.right))
      case "Or":
        return ConfigError.Or(renameAll(error.left), renameAll(error.right))
      case "InvalidData":
        return ConfigError.InvalidData(rename(error.path), error.message)
      case "MissingData":
        return ConfigError.MissingData(rename(error.path), error.message)
      case "SourceUnavailable":
        return ConfigError.SourceUnavailable(rename(error.path), error.message, error.cause)
      case "Unsupported":
        return ConfigError.Unsupported(rename(error.path), error.message)
    }
  }

/**
 * The JWKS settings whose variable is set (`JWKS_CACHE_INTERVAL`, `JWKS_CACHE_USAGES`,
 * `JWKS_UNKNOWN_KID_COOLDOWN`); the others are left out, so a value the caller passes in code keeps
 * applying instead of being replaced by the variable's default.
 */
export type JwksRefresh = Partial<Config.Config.Success<typeof JwksCache.config>>

const isSet = (name: string) => Effect.map(Config.option(Config.string(name)), Option.isSome)

const jwksRefreshSet: Effect.Effect<JwksRefresh, ConfigError.ConfigError> = Effect.gen(function* () {
  // JwksCache.config validates every variable that is set; only their presence is read here.
  const refresh = yield* JwksCache.config
  return {
    ...((yield* isSet("JWKS_CACHE_INTERVAL")) ? { refreshInterval: refresh.refreshInterval } : {}),
    ...((yield* isSet("JWKS_CACHE_USAGES")) ? { refreshAfterUses: refresh.refreshAfterUses } : {}),
    ...((yield* isSet("JWKS_UNKNOWN_KID_COOLDOWN")) ? { unknownKidCooldown: refresh.unknownKidCooldown } : {})
  }
})

/**
 * An issuer built from configuration: its own settings plus the JWKS refresh settings, with errors that
 * name the variables rather than the options they fill.
 */
export const issuerFromConfig = <Settings, A, R>(
  settings: Config.Config<Settings>,
  variables: Readonly<Record<string, string>>,
  build: (settings: Settings, refresh: JwksRefresh) => Effect.Effect<A, ConfigError.ConfigError, R>
): Effect.Effect<A, ConfigError.ConfigError, R> =>
  Effect.gen(function* () {
    const read = yield* settings
    const refresh = yield* jwksRefreshSet
    return yield* Effect.mapError(build(read, refresh), namingVariables(variables))
  })
