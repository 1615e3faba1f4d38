/**
 * HTTP Basic users in the `users` table: core's `CredentialsRepository` on PostgreSQL, MySQL/MariaDB or
 * SQLite. Add users with `SqlAdmin.addUser` or `effect-auth users add`; the password hash is checked by
 * `BasicAuth` with core's `PasswordHasher`, and the user's groups, roles and permissions come from the
 * grant tables (`SqlGrantStore`), keyed on the identity id.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { CredentialsRepository } from "@effect-auth/core"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { guarded } from "./internal/query.js"
import { tables } from "./internal/tables.js"
import type { StoreOptions } from "./SqlDatabase.js"

interface UserRow {
  readonly username: string
  readonly password_hash: string
  readonly principal_id: string | null
  readonly name: string | null
  readonly email: string | null
  readonly attributes: string | null
}

/** The longest user name the `users` table holds, in characters. */
const maxUsernameLength = 128

/** Attributes longer than this are not parsed: a row edited by hand must not cost a request megabytes. */
const maxAttributesLength = 65_535

// Grants of SQL users live in the grant tables, keyed on the identity id. Attributes with these names
// would become claims that claim-based grant providers read, a second source of grants nobody manages.
const grantClaims = new Set(["groups", "roles", "permissions"])

const optional = (value: string | null): string | undefined => (value === null ? undefined : value)

/** The claims of a user: its `attributes` JSON object, or nothing (logged) when it is anything else. */
const claimsOf = (row: UserRow): Effect.Effect<Readonly<Record<string, unknown>> | undefined> => {
  if (row.attributes === null) return Effect.succeed(undefined)
  let parsed: unknown = undefined
  if (row.attributes.length <= maxAttributesLength) {
    try {
      parsed = JSON.parse(row.attributes)
    } catch {
      parsed = undefined
    }
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    // The value is not logged: attributes may hold personal data.
    return Effect.as(
      Effect.logWarning(`SQL user "${row.username}" has attributes that are not a JSON object; they are ignored`),
      undefined
    )
  }
  const claims: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(parsed)) {
    if (!grantClaims.has(key)) claims[key] = value
  }
  return Effect.succeed(claims)
}

/**
 * Builds a repository over the `users` table. The table prefix is checked here: an invalid one is a
 * `ConfigError`.
 *
 * Only an enabled user (`disabled = 0`) whose name is byte for byte the asked name is found: `Alice` and
 * `alice ` do not find `alice`. The identity id is the row's `principal_id`, or the user name when it is
 * null; `name` and `email` become the identity's, and the `attributes` JSON object its claims (a value
 * that is not an object is ignored with a warning; `groups`, `roles` and `permissions` keys are dropped,
 * grants come from the grant tables). Every query is bounded by `queryTimeout` (default 2 seconds), and
 * a database that cannot answer fails the request with `ProviderUnavailable` (503), never a 401.
 *
 * @since 0.1.0
 */
export const make = (
  options: StoreOptions = {}
): Effect.Effect<CredentialsRepository.CredentialsRepository, ConfigError.ConfigError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const t = yield* tables(options.tablePrefix)
    const bounded = guarded(options.queryTimeout)

    const findByUsername = (username: string) =>
      Effect.gen(function* () {
        // No stored name is longer, and PostgreSQL refuses a NUL in a text parameter: neither can match,
        // and neither may turn a wrong user name into a 503.
        if (username.length === 0 || Array.from(username).length > maxUsernameLength || username.includes("\0")) {
          return Option.none()
        }
        const rows = yield* bounded(
          sql<UserRow>`SELECT username, password_hash, principal_id, name, email, attributes
            FROM ${sql(t.users)}
            WHERE username = ${username} AND disabled = 0`
        )
        // The columns compare byte for byte on every dialect; checking again here keeps that true even
        // for a table created with another collation (MySQL's default one ignores case and trailing spaces).
        const row = rows.find((candidate) => candidate.username === username)
        if (row === undefined || typeof row.password_hash !== "string") return Option.none()
        const claims = yield* claimsOf(row)
        return Option.some<CredentialsRepository.StoredCredentials>({
          username: row.username,
          passwordHash: row.password_hash,
          // An empty principal id (only a hand-written row has one) would key grants on "": the user name instead.
          id: row.principal_id === null || row.principal_id === "" ? row.username : row.principal_id,
          name: optional(row.name),
          email: optional(row.email),
          claims
        })
      })

    return CredentialsRepository.CredentialsRepository.of({ findByUsername })
  })

/**
 * The repository as a layer, for `BasicAuth.provider`.
 *
 * @example
 * ```ts
 * import { Authenticator, BasicAuth, PasswordHasher } from "@effect-auth/core"
 * import { SqlCredentialsRepository, SqlDatabase, SqlGrantStore } from "@effect-auth/sql"
 * import { Layer } from "effect"
 *
 * const AuthLive = Authenticator.layer([BasicAuth.provider()]).pipe(
 *   Layer.provide(SqlCredentialsRepository.layer({ queryTimeout: "1 second" })),
 *   Layer.provide(PasswordHasher.layer()),
 *   Layer.provideMerge(SqlGrantStore.layer()),
 *   Layer.provide(SqlDatabase.layerConfig)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (
  options: StoreOptions = {}
): Layer.Layer<CredentialsRepository.CredentialsRepository, ConfigError.ConfigError, SqlClient.SqlClient> =>
  Layer.effect(CredentialsRepository.CredentialsRepository, make(options))
