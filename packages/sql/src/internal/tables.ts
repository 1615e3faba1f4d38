import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"

/** The table prefix used when none is given. */
export const defaultPrefix = "auth_"

// Identifiers are escaped by the SQL client too; the grammar keeps them portable across the three
// dialects (MySQL allows 64 characters) and out of any quoting question.
const prefixPattern = /^[a-z][a-z0-9_]{0,30}$/

/** The names of every table of the schema under one prefix. */
export interface Tables {
  readonly prefix: string
  readonly principalGroups: string
  readonly principalRoles: string
  readonly principalPermissions: string
  readonly groupRoles: string
  readonly rolePermissions: string
  readonly roleInherits: string
  readonly users: string
  readonly apiKeys: string
  readonly migrations: string
}

/** The tables under `prefix` (default `auth_`), or a `ConfigError` naming the invalid prefix. */
export const tables = (prefix: string = defaultPrefix): Either.Either<Tables, ConfigError.ConfigError> =>
  prefixPattern.test(prefix)
    ? Either.right({
        prefix,
        principalGroups: `${prefix}principal_groups`,
        principalRoles: `${prefix}principal_roles`,
        principalPermissions: `${prefix}principal_permissions`,
        groupRoles: `${prefix}group_roles`,
        rolePermissions: `${prefix}role_permissions`,
        roleInherits: `${prefix}role_inherits`,
        users: `${prefix}users`,
        apiKeys: `${prefix}api_keys`,
        migrations: `${prefix}migrations`
      })
    : Either.left(
        ConfigError.InvalidData(
          [],
          `Invalid SQL table prefix "${prefix}": expected a lowercase letter, then up to 30 lowercase letters, digits or "_"`
        )
      )
