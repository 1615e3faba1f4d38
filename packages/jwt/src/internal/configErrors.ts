import * as ConfigError from "effect/ConfigError"

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
