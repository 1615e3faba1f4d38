/**
 * Groups, roles and permissions in SQL tables: core's `GrantStore` port, resolved with one statement per
 * load on PostgreSQL, MySQL/MariaDB and SQLite, with the semantics of `GrantStore.resolve`.
 *
 * @since 0.1.0
 */
import type { GroupsProvider, PermissionsProvider, RolesProvider } from "@effect-auth/core"
import { GrantStore, Permission } from "@effect-auth/core"
import * as SqlClient from "@effect/sql/SqlClient"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { guarded } from "./internal/query.js"
import type { Tables } from "./internal/tables.js"
import { tables } from "./internal/tables.js"
import type { StoreOptions } from "./SqlDatabase.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends StoreOptions {
  /**
   * Role inheritance levels followed (default `GrantStore.defaultMaxDepth`, 8; at most
   * {@link maxDepthLimit}). Roles further away are ignored: a chain too long grants less, never more.
   */
  readonly maxDepth?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions extends Options {
  /**
   * Keep loaded grants for `timeToLive` (at most `capacity` principals, default 10 000), so repeated
   * requests of a principal cost no query. Failures are never cached. Changes made to the tables apply
   * after `timeToLive`, or at once after `GrantStore.invalidate`.
   */
  readonly cache?: GrantStore.CacheOptions | undefined
}

/**
 * The largest `maxDepth`: the query walks inheritance level by level, so the bound is also its cost.
 *
 * @since 0.1.0
 */
export const maxDepthLimit = 64

type Kind = "group" | "role" | "permission"

interface Row {
  readonly kind: Kind
  readonly name: string
}

const depthOf = (maxDepth: number | undefined): Effect.Effect<number, ConfigError.ConfigError> => {
  const depth = maxDepth ?? GrantStore.defaultMaxDepth
  return Number.isSafeInteger(depth) && depth >= 0 && depth <= maxDepthLimit
    ? Effect.succeed(depth)
    : Effect.fail(
        ConfigError.InvalidData([], `Invalid maxDepth ${depth}: expected an integer from 0 to ${maxDepthLimit}`)
      )
}

/**
 * One statement for all three kinds. `effective_roles` starts from the direct roles and those of the
 * direct groups (depth 0) and follows `role_inherits` one level per step while `depth < maxDepth`: every
 * role within `maxDepth` steps is reached (so the set equals the breadth-first walk of
 * `GrantStore.resolve`). A cycle ends at the depth bound, and `UNION` keeps one row per
 * `(role, depth)`, so the work is bounded by roles × levels. Names are compared with `=` on columns that are byte-exact on every dialect.
 */
const grantsQuery = (sql: SqlClient.SqlClient, t: Tables, maxDepth: number, principalId: string) => {
  const depthBound = sql.literal(String(maxDepth))
  return sql<Row>`
    WITH RECURSIVE effective_roles (role_name, depth) AS (
      SELECT held.role_name, 0 FROM (
        SELECT pr.role_name FROM ${sql(t.principalRoles)} pr WHERE pr.principal_id = ${principalId}
        UNION
        SELECT gr.role_name FROM ${sql(t.principalGroups)} pg
          JOIN ${sql(t.groupRoles)} gr ON gr.group_name = pg.group_name
          WHERE pg.principal_id = ${principalId}
      ) held
      UNION
      SELECT ri.inherited_role, er.depth + 1 FROM effective_roles er
        JOIN ${sql(t.roleInherits)} ri ON ri.role_name = er.role_name
        WHERE er.depth < ${depthBound}
    )
    SELECT 'group' AS kind, pg.group_name AS name FROM ${sql(t.principalGroups)} pg
      WHERE pg.principal_id = ${principalId}
    UNION ALL
    SELECT DISTINCT 'role' AS kind, er.role_name AS name FROM effective_roles er
    UNION ALL
    SELECT 'permission' AS kind, pp.permission AS name FROM ${sql(t.principalPermissions)} pp
      WHERE pp.principal_id = ${principalId}
    UNION ALL
    SELECT DISTINCT 'permission' AS kind, rp.permission AS name FROM effective_roles er
      JOIN ${sql(t.rolePermissions)} rp ON rp.role_name = er.role_name`
}

const maxNameLength = 255

const noGrants: GrantStore.EffectiveGrants = { groups: [], roles: [], permissions: [] }

/** Whether a principal id could be in the tables: well-formed UTF-16, no NUL, at most 255 characters. */
const canBeStored = (id: string): boolean =>
  id.length > 0 && !/[\0\p{Cs}]/u.test(id) && Array.from(id).length <= maxNameLength

// Code-unit order, as `GrantStore.resolve` sorts: the same on every dialect whatever its collation.
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const sorted = (names: Iterable<string>): ReadonlyArray<string> => Array.from(new Set(names)).sort(byCodeUnit)

const grantsOf = (rows: ReadonlyArray<Row>): GrantStore.EffectiveGrants => {
  const groups: Array<string> = []
  const roles: Array<string> = []
  const permissions: Array<string> = []
  for (const row of rows) {
    if (row.kind === "group") groups.push(row.name)
    else if (row.kind === "role") roles.push(row.name)
    else permissions.push(row.name)
  }
  return { groups: sorted(groups), roles: sorted(roles), permissions: Permission.normalize(permissions) }
}

/**
 * A grant store over the tables of `Migrations` (run them first). Each `load` is one statement, bounded
 * by `queryTimeout`; a timeout or any database error fails it with `ProviderUnavailable` (503), never
 * with empty grants. Fails with a `ConfigError` for an invalid `tablePrefix` or `maxDepth`.
 *
 * @example
 * ```ts
 * import { SqlGrantStore } from "@effect-auth/sql"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const store = yield* SqlGrantStore.make({ queryTimeout: "1 second" })
 *   return yield* store.load("alice") // { groups, roles, permissions }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<GrantStore.GrantStore, ConfigError.ConfigError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const t = yield* tables(options.tablePrefix)
    const maxDepth = yield* depthOf(options.maxDepth)
    const sql = yield* SqlClient.SqlClient
    const withinTimeout = guarded(options.queryTimeout)
    return GrantStore.GrantStore.of({
      load: (principalId) =>
        // An id no stored name can equal gets no grants without a query: the drivers would turn a lone
        // surrogate into U+FFFD (and so into another principal's id), and PostgreSQL refuses a NUL.
        !canBeStored(principalId)
          ? Effect.succeed(noGrants)
          : withinTimeout(grantsQuery(sql, t, maxDepth, principalId)).pipe(
              Effect.map(grantsOf),
              Effect.withSpan("SqlGrantStore.load")
            ),
      invalidate: () => Effect.void,
      invalidateAll: Effect.void
    })
  })

/**
 * The SQL grant store with `GroupsProvider`, `RolesProvider` and `PermissionsProvider` over it (one
 * load per request, shared by the three, none when a request reads no grant), exposing the
 * `GrantStore` too (for `invalidate`). With `cache`, loads are kept for `cache.timeToLive`.
 *
 * @example
 * ```ts
 * import { SqlDatabase, SqlGrantStore } from "@effect-auth/sql"
 * import { Layer } from "effect"
 *
 * const Grants = SqlGrantStore.layer({ cache: { timeToLive: "30 seconds" } }).pipe(
 *   Layer.provide(SqlDatabase.layerConfig)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: LayerOptions = {}
): Layer.Layer<
  | GrantStore.GrantStore
  | GroupsProvider.GroupsProvider
  | RolesProvider.RolesProvider
  | PermissionsProvider.PermissionsProvider,
  ConfigError.ConfigError,
  SqlClient.SqlClient
> => {
  const { cache } = options
  const store =
    cache === undefined ? make(options) : Effect.flatMap(make(options), (store) => GrantStore.cached(store, cache))
  return Layer.provideMerge(GrantStore.layerProviders, Layer.effect(GrantStore.GrantStore, store))
}
