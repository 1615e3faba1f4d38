/**
 * The gateway's SQL stores (`AUTH_DATABASE_URL`, or demo mode's SQLite file): Basic users, API keys and
 * groups/roles/permissions from one database. The schema is checked (or, when asked, migrated) before the
 * gateway listens; once running, a database that cannot answer makes requests wait for it with a 503.
 */
import type {
  ApiKey,
  CredentialsRepository,
  GrantStore,
  GroupsProvider,
  PermissionsProvider,
  RolesProvider
} from "@effect-auth/core"
import { Migrations, SqlApiKeyStore, SqlCredentialsRepository, SqlDatabase, SqlGrantStore } from "@effect-auth/sql"
import type * as Migrator from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/** The settings read with `AUTH_DATABASE_URL` (the pool size and connect timeout: by `SqlDatabase`). */
export interface Settings {
  /** `AUTH_DATABASE_TABLE_PREFIX` (default `auth_`). */
  readonly tablePrefix: string | undefined
  /** `AUTH_DATABASE_MIGRATE=true`: bring the schema up to date at start instead of only checking it. */
  readonly migrate: boolean
  /** `AUTH_GRANTS_CACHE_TTL`: how long a principal's grants are served from memory; none: every request asks. */
  readonly grantsCacheTtl: Option.Option<Duration.Duration>
}

/** The settings for `AUTH_DATABASE_URL`: read only when it is set, so they are never half-applied. */
export const settings: Config.Config<Settings> = Config.all({
  tablePrefix: Config.string("AUTH_DATABASE_TABLE_PREFIX").pipe(
    Config.validate({
      message: "Expected a lowercase letter, then up to 30 lowercase letters, digits or _",
      validation: Migrations.isValidTablePrefix
    }),
    Config.option,
    Config.map(Option.getOrUndefined)
  ),
  migrate: Config.withDefault(Config.boolean("AUTH_DATABASE_MIGRATE"), false),
  grantsCacheTtl: Config.option(Config.duration("AUTH_GRANTS_CACHE_TTL"))
})

/** Demo mode's database: its own schema, migrated by the demo setup, no cache (grant changes count at once). */
export const demoSettings: Settings = { tablePrefix: undefined, migrate: false, grantsCacheTtl: Option.none() }

/**
 * Fails the start with what to do when the schema was never made (or is incomplete), rather than a
 * gateway that listens and then answers every request with a 503. An invalid table prefix stays a
 * `ConfigError` naming it.
 */
const checkSchema = (tablePrefix: string | undefined) =>
  Migrations.verify({ tablePrefix }).pipe(
    Effect.catchTag("MigrationError", (error) =>
      // The driver's own message is left out: the advice is the same, and it is not ours to vouch for.
      Effect.fail(
        `the database has no complete effect-auth schema (${error.message.split(":")[0]}): run \`effect-auth migrate\` ` +
          "against it first, or set AUTH_DATABASE_MIGRATE=true to migrate it at start"
      )
    )
  )

/** Which stores come from the database: grants always, users and keys unless a file is configured for them. */
export interface Uses {
  readonly users: boolean
  readonly apiKeys: boolean
}

/** Every way opening the database and checking (or migrating) its schema can stop the start. */
export type StartError = ConfigError.ConfigError | SqlError | Migrator.MigrationError | string

/** The layers of the SQL stores, all over one database. */
export interface Stores {
  /** The grant store with the groups/roles/permissions providers: they replace the claim-based ones. */
  readonly grants: Layer.Layer<
    | GrantStore.GrantStore
    | GroupsProvider.GroupsProvider
    | RolesProvider.RolesProvider
    | PermissionsProvider.PermissionsProvider,
    StartError
  >
  readonly users: Layer.Layer<CredentialsRepository.CredentialsRepository, StartError>
  readonly apiKeys: Layer.Layer<ApiKey.ApiKeyStore, StartError>
}

/**
 * The layers of the SQL stores over `database`: the grant store with the groups/roles/permissions providers
 * (they replace the claim-based ones), the Basic users, and the API keys. Layer values are shared within
 * one build, so the pool is opened, and the schema checked, once however many of them the gateway uses.
 */
export const stores = (
  database: Layer.Layer<SqlClient.SqlClient, ConfigError.ConfigError | SqlError>,
  settings: Settings
): Stores => {
  const tablePrefix = settings.tablePrefix
  const schema: Layer.Layer<never, StartError, SqlClient.SqlClient> = settings.migrate
    ? Migrations.layerMigrated({ tablePrefix })
    : Layer.effectDiscard(checkSchema(tablePrefix))
  const ready = Layer.provideMerge(schema, database)
  const cache = Option.match(settings.grantsCacheTtl, {
    onNone: () => ({}),
    onSome: (timeToLive) => ({ cache: { timeToLive } })
  })
  return {
    grants: SqlGrantStore.layer({ tablePrefix, ...cache }).pipe(Layer.provide(ready)),
    users: SqlCredentialsRepository.layer({ tablePrefix }).pipe(Layer.provide(ready)),
    apiKeys: SqlApiKeyStore.layer({ tablePrefix }).pipe(Layer.provide(ready))
  }
}

/** `AUTH_DATABASE_URL` and its settings, as `SqlDatabase.layerConfig` and {@link settings} read them. */
export const fromConfig: Effect.Effect<
  { readonly settings: Settings; readonly stores: Stores },
  ConfigError.ConfigError
> = Effect.map(settings, (read) => ({
  settings: read,
  stores: stores(SqlDatabase.layerConfig, read)
}))

/** What the start-up log says about where each store's data comes from. */
export const describeUses = (uses: Uses): string =>
  [
    uses.users ? "Basic users" : undefined,
    uses.apiKeys ? "API keys" : undefined,
    "groups, roles and permissions (for every caller)"
  ]
    .filter((part) => part !== undefined)
    .join(", ")
