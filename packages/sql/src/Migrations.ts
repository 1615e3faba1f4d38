/**
 * The schema of the SQL stores, as migrations run by `@effect/sql`'s Migrator. They run only when asked:
 * `effect-auth migrate`, {@link run} or {@link layerMigrated}; importing a store never touches the schema.
 *
 * Every table name starts with the prefix (`auth_` by default). Names (principals, groups, roles,
 * permissions, user names, key ids) compare byte for byte on every dialect: on MySQL/MariaDB their columns
 * are binary and NO PAD, so `Alice` is not `alice` and `alice ` is not `alice`.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type { Tables } from "./internal/tables.js"
import { tables } from "./internal/tables.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** Prefix of every table name. Default `auth_`. */
  readonly tablePrefix?: string | undefined
}

/**
 * Whether a table prefix is valid: a lowercase letter, then up to 30 lowercase letters, digits or `_`
 * (portable across the three dialects, and never needing quotes).
 *
 * @since 0.1.0
 */
export const isValidTablePrefix = (prefix: string): boolean => Either.isRight(tables(prefix))

/** The column type of a byte-exact name on the connected dialect. */
const nameType = (sql: SqlClient.SqlClient, length: number) =>
  sql.onDialectOrElse({
    mysql: () =>
      Effect.map(
        sql<{ readonly version: string }>`SELECT VERSION() AS version`,
        ([row]) =>
          `VARCHAR(${length}) CHARACTER SET utf8mb4 COLLATE ${
            row?.version.includes("MariaDB") === true ? "utf8mb4_nopad_bin" : "utf8mb4_0900_bin"
          }`
      ),
    orElse: () => Effect.succeed(`VARCHAR(${length})`)
  })

const createSchema = (t: Tables) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const name = sql.literal(yield* nameType(sql, 255))
    const shortName = sql.literal(yield* nameType(sql, 128))
    const link = (table: string, left: string, right: string) =>
      sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
        ${sql(left)} ${name} NOT NULL,
        ${sql(right)} ${name} NOT NULL,
        PRIMARY KEY (${sql(left)}, ${sql(right)})
      )`
    yield* link(t.principalGroups, "principal_id", "group_name")
    yield* link(t.principalRoles, "principal_id", "role_name")
    yield* link(t.principalPermissions, "principal_id", "permission")
    yield* link(t.groupRoles, "group_name", "role_name")
    yield* link(t.rolePermissions, "role_name", "permission")
    yield* link(t.roleInherits, "role_name", "inherited_role")
    // The reverse lookups of the grants query: which roles a group grants is a primary-key prefix, but
    // "who holds this group" is not needed at request time, so no further index is made.
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(t.users)} (
      username ${shortName} NOT NULL PRIMARY KEY,
      password_hash VARCHAR(255) NOT NULL,
      principal_id ${name} NULL,
      name VARCHAR(255) NULL,
      email VARCHAR(255) NULL,
      attributes TEXT NULL,
      disabled SMALLINT NOT NULL DEFAULT 0,
      created_at BIGINT NOT NULL
    )`
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(t.apiKeys)} (
      key_id ${shortName} NOT NULL PRIMARY KEY,
      key_hash ${sql.literal(yield* nameType(sql, 71))} NOT NULL UNIQUE,
      owner ${name} NULL,
      description VARCHAR(255) NULL,
      expires_at BIGINT NULL,
      disabled SMALLINT NOT NULL DEFAULT 0,
      rate_limit_per_minute INTEGER NULL,
      created_at BIGINT NOT NULL
    )`
  })

/** Every table with the columns the stores read and write. */
const expectedColumns = (t: Tables): ReadonlyArray<readonly [string, ReadonlyArray<string>]> => [
  [t.principalGroups, ["principal_id", "group_name"]],
  [t.principalRoles, ["principal_id", "role_name"]],
  [t.principalPermissions, ["principal_id", "permission"]],
  [t.groupRoles, ["group_name", "role_name"]],
  [t.rolePermissions, ["role_name", "permission"]],
  [t.roleInherits, ["role_name", "inherited_role"]],
  [t.users, ["username", "password_hash", "principal_id", "name", "email", "attributes", "disabled", "created_at"]],
  [
    t.apiKeys,
    ["key_id", "key_hash", "owner", "description", "expires_at", "disabled", "rate_limit_per_minute", "created_at"]
  ]
]

/**
 * Checks that every table and column of the schema exists (one `SELECT … WHERE 1 = 0` per table), and
 * fails with a `MigrationError` naming the first table that does not. {@link run} ends with it, because on
 * MySQL/MariaDB DDL commits implicitly: a migration that failed halfway is recorded as applied, and only
 * this check says so.
 *
 * @since 0.1.0
 */
export const verify = (
  options: Options = {}
): Effect.Effect<void, Migrator.MigrationError | ConfigError.ConfigError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const t = yield* tables(options.tablePrefix)
    const sql = yield* SqlClient.SqlClient
    for (const [table, columns] of expectedColumns(t)) {
      // The column names are this module's constants, never input.
      yield* sql`SELECT ${sql.literal(columns.join(", "))} FROM ${sql(table)} WHERE 1 = 0`.pipe(
        Effect.mapError(
          (cause) =>
            new Migrator.MigrationError({
              reason: "bad-state",
              message: `The table "${table}" is missing or incomplete: run "effect-auth migrate" (after a failed migration on MySQL/MariaDB, delete its row from "${t.migrations}" first)`,
              cause
            })
        )
      )
    }
  })

const loader = (t: Tables): Migrator.Loader => Migrator.fromRecord({ "1_create_schema": createSchema(t) })

/**
 * Applies the migrations that have not run yet, checks the schema ({@link verify}) and answers the
 * migrations it applied (`[id, name]`). The tables are created with `IF NOT EXISTS`, so a run that a
 * concurrent one beat, or a rerun after a failed migration, completes the schema instead of failing on
 * the tables already there. The Migrator takes a table lock on PostgreSQL only; elsewhere concurrent runs
 * rely on the migrations table's primary key.
 *
 * @example
 * ```ts
 * import { Migrations, SqlDatabase } from "@effect-auth/sql"
 * import { Effect, Redacted } from "effect"
 *
 * const applied = Migrations.run().pipe(
 *   Effect.provide(SqlDatabase.layer({ url: Redacted.make("sqlite:./auth.db") }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const run = (
  options: Options = {}
): Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError | ConfigError.ConfigError,
  SqlClient.SqlClient
> =>
  Effect.flatMap(tables(options.tablePrefix), (t) =>
    Effect.tap(Migrator.make({})({ loader: loader(t), table: t.migrations }), () => verify(options))
  )

/**
 * A layer that brings the schema up to date when it is built: the explicit opt-in for apps that want
 * their stores migrated at start-up.
 *
 * @example
 * ```ts
 * import { Migrations, SqlDatabase, SqlGrantStore } from "@effect-auth/sql"
 * import { Layer } from "effect"
 *
 * const Grants = SqlGrantStore.layer().pipe(
 *   Layer.provide(Migrations.layerMigrated()),
 *   Layer.provideMerge(SqlDatabase.layerConfig)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layerMigrated = (
  options: Options = {}
): Layer.Layer<never, Migrator.MigrationError | SqlError | ConfigError.ConfigError, SqlClient.SqlClient> =>
  Layer.effectDiscard(
    Effect.tap(run(options), (applied) =>
      applied.length === 0
        ? Effect.void
        : Effect.logInfo(`Applied SQL migrations: ${applied.map(([id, name]) => `${id}_${name}`).join(", ")}`)
    )
  )
