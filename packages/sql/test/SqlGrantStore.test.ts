import { AuthError, Authenticated, GrantStore, Guard, Identity, Principal } from "@effect-auth/core"
import { Migrations, SqlDatabase, SqlGrantStore } from "@effect-auth/sql"
import { Databases, TcpProxy } from "@effect-auth/testing"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)

const aliceGrants: GrantStore.EffectiveGrants = {
  groups: ["staff"],
  roles: ["editor", "viewer"],
  permissions: ["documents.*", "reports.read", "!documents.delete"]
}

/** alice: group staff -> role editor (documents.*) -> inherits viewer (reports.read); denied documents.delete. */
const seedAlice = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`INSERT INTO auth_principal_groups (principal_id, group_name) VALUES ('alice', 'staff')`
  yield* sql`INSERT INTO auth_principal_permissions (principal_id, permission) VALUES ('alice', '!documents.delete')`
  yield* sql`INSERT INTO auth_group_roles (group_name, role_name) VALUES ('staff', 'editor')`
  yield* sql`INSERT INTO auth_role_permissions (role_name, permission) VALUES ('editor', 'documents.*')`
  yield* sql`INSERT INTO auth_role_inherits (role_name, inherited_role) VALUES ('editor', 'viewer')`
  yield* sql`INSERT INTO auth_role_permissions (role_name, permission) VALUES ('viewer', 'reports.read')`
})

const identity = (id: string) => Identity.make({ id, kind: "user", provider: "test" })

/** One request: a fresh principal (as an `Authenticator` makes one per request) described in full. */
const describeRequest = (id: string) => Effect.flatMap(Principal.make(identity(id)), Principal.describe)

/** One request that authenticates but reads no grant. */
const grantlessRequest = (id: string) =>
  Effect.flatMap(Principal.make(identity(id)), (principal) =>
    Effect.provide(Guard.requireUser(), Authenticated.layer(principal))
  )

type Patchable = Record<string, unknown>

/** Counts calls of driver methods (they still run): every statement the driver sends goes through one. */
const countCalls = (prototype: Patchable, methods: ReadonlyArray<string>) => {
  let calls = 0
  const originals = methods.map((method) => [method, prototype[method]] as const)
  for (const [method, original] of originals) {
    prototype[method] = function (this: unknown, ...args: Array<unknown>) {
      calls++
      return (original as (...args: Array<unknown>) => unknown).apply(this, args)
    }
  }
  return {
    read: Effect.sync(() => calls),
    restore: () => {
      for (const [method, original] of originals) prototype[method] = original
    }
  }
}

interface StatementCounter {
  /** Statements sent to the database so far (by the pool's single connection, on MySQL). */
  readonly read: Effect.Effect<number, unknown, SqlClient.SqlClient>
  /** Statements `read` itself adds. */
  readonly ownCost: number
  readonly restore: () => void
}

/**
 * How statements that reach the database are counted, per dialect:
 * - MariaDB: the server's own `Questions` counter of the session (the pool has one connection). It counts
 *   every statement the server executes for the client, the `SHOW` that reads it included (hence
 *   `ownCost`), and not the `COM_STMT_PREPARE` mysql2 sends once per connection and statement text.
 * - PostgreSQL: `pg_stat_statements` is not installed and the statistics views are updated lazily, so
 *   the count is taken in the driver: every statement `pg` sends to the server is one `Client#query`
 *   call (pool queries included).
 * - SQLite: the database is in-process; every statement runs through one of better-sqlite3's
 *   `Statement` methods `all`, `run`, `get` or `iterate`.
 */
const statementCounter = (dialect: Databases.Dialect["name"]): StatementCounter => {
  switch (dialect) {
    case "mysql":
      return {
        read: Effect.flatMap(SqlClient.SqlClient, (sql) =>
          Effect.map(sql<{ readonly Value: string }>`SHOW SESSION STATUS LIKE 'Questions'`, ([row]) =>
            Number(row?.Value)
          )
        ),
        ownCost: 1,
        restore: () => {}
      }
    case "pg": {
      const pg = require("pg") as { readonly Client: { readonly prototype: Patchable } }
      return { ...countCalls(pg.Client.prototype, ["query"]), ownCost: 0 }
    }
    case "sqlite": {
      const Sqlite = require("better-sqlite3") as new (filename: string) => {
        prepare(sql: string): object
        close(): void
      }
      const db = new Sqlite(":memory:")
      const statementPrototype = Object.getPrototypeOf(db.prepare("SELECT 1")) as Patchable
      db.close()
      return { ...countCalls(statementPrototype, ["all", "run", "get", "iterate"]), ownCost: 0 }
    }
  }
}

const statementsDuring =
  (counter: StatementCounter) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.gen(function* () {
      const before = yield* counter.read
      const result = yield* effect
      const after = yield* counter.read
      return [after - before - counter.ownCost, result] as const
    })

/** The store's layer with its providers over its own pool, as the context of a request. */
const buildGrants = (url: string, options: SqlGrantStore.LayerOptions = {}, poolSize = 1) =>
  Layer.build(
    SqlGrantStore.layer(options).pipe(
      Layer.provideMerge(SqlDatabase.layer({ url: Redacted.make(url), poolSize, connectTimeout: "1 second" }))
    )
  )

const untilOk = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    for (let attempt = 0; attempt < 100; attempt++) {
      const result = yield* Effect.either(effect)
      if (result._tag === "Right") return result.right
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.dieMessage("the database did not come back within 10 seconds")
  })

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = Date.now()
    const result = yield* effect
    return [Date.now() - start, result] as const
  })

for (const dialect of Databases.all) {
  describe.runIf(await dialect.shouldRun())(`SqlGrantStore on ${dialect.name}`, () => {
    let database: Databases.Database | undefined
    let counter: StatementCounter | undefined

    const url = () => {
      if (database === undefined) throw new Error("the database was not created")
      return database.url
    }
    const counted = () => {
      if (counter === undefined) throw new Error("no statement counter")
      return statementsDuring(counter)
    }

    beforeAll(async () => {
      database = await dialect.create()
      await Effect.runPromise(
        Effect.zipRight(Migrations.run(), seedAlice).pipe(
          Effect.provide(SqlDatabase.layer({ url: Redacted.make(database.url) }))
        )
      )
      counter = statementCounter(dialect.name)
    })

    afterAll(async () => {
      counter?.restore()
      await database?.drop()
    })

    it.scopedLive("loads groups, roles and permissions of a principal", () =>
      Effect.gen(function* () {
        const store = Context.get(yield* buildGrants(url()), GrantStore.GrantStore)
        expect(yield* store.load("alice")).toStrictEqual(aliceGrants)
        expect(yield* store.load("nobody")).toStrictEqual({ groups: [], roles: [], permissions: [] })
      })
    )

    it.scopedLive("the statement counter sees every statement", () =>
      Effect.gen(function* () {
        const context = yield* buildGrants(url())
        const sql = Context.get(context, SqlClient.SqlClient)
        const [none] = yield* counted()(Effect.void).pipe(Effect.provide(context))
        const [one] = yield* counted()(sql`SELECT 1`).pipe(Effect.provide(context))
        const [three] = yield* counted()(Effect.all([sql`SELECT 1`, sql`SELECT 2`, sql`SELECT 3`])).pipe(
          Effect.provide(context)
        )
        expect([none, one, three]).toStrictEqual([0, 1, 3])
      })
    )

    it.scopedLive("a request reading groups, roles and permissions costs one statement", () =>
      Effect.gen(function* () {
        const context = yield* buildGrants(url())
        const [first, description] = yield* counted()(describeRequest("alice")).pipe(Effect.provide(context))
        const [second] = yield* counted()(describeRequest("alice")).pipe(Effect.provide(context))
        const [unknown] = yield* counted()(describeRequest("nobody")).pipe(Effect.provide(context))
        expect({
          groups: description.groups,
          roles: description.roles,
          permissions: description.permissions
        }).toStrictEqual(aliceGrants)
        // Without a cache every request loads again, with one statement.
        expect([first, second, unknown]).toStrictEqual([1, 1, 1])
      })
    )

    it.scopedLive("a request reading no grant costs no statement", () =>
      Effect.gen(function* () {
        const context = yield* buildGrants(url())
        const [statements, principal] = yield* counted()(grantlessRequest("alice")).pipe(Effect.provide(context))
        expect(principal.id).toBe("alice")
        expect(statements).toBe(0)
      })
    )

    it.scopedLive("with the TTL cache a repeated request costs nothing until invalidated", () =>
      Effect.gen(function* () {
        const context = yield* buildGrants(url(), { cache: { timeToLive: "1 minute" } })
        const store = Context.get(context, GrantStore.GrantStore)
        const sql = Context.get(context, SqlClient.SqlClient)
        const request = counted()(describeRequest("alice")).pipe(Effect.provide(context))
        const [first] = yield* request
        const [second] = yield* request
        yield* sql`INSERT INTO auth_principal_permissions (principal_id, permission) VALUES ('alice', 'billing.read')`
        const [cachedCount, cached] = yield* request
        yield* store.invalidate("alice")
        const [afterInvalidate, fresh] = yield* request
        yield* sql`DELETE FROM auth_principal_permissions WHERE principal_id = 'alice' AND permission = 'billing.read'`
        yield* store.invalidateAll
        const [afterInvalidateAll, restored] = yield* request
        expect([first, second, cachedCount, afterInvalidate, afterInvalidateAll]).toStrictEqual([1, 0, 0, 1, 1])
        expect(cached.permissions).toStrictEqual(aliceGrants.permissions)
        expect(fresh.permissions).toStrictEqual(["billing.read", "documents.*", "reports.read", "!documents.delete"])
        expect(restored.permissions).toStrictEqual(aliceGrants.permissions)
      })
    )

    it.scopedLive("follows at most maxDepth inheritance levels, in one statement, through a cycle", () =>
      Effect.gen(function* () {
        const context = yield* buildGrants(url(), { maxDepth: 2 })
        const sql = Context.get(context, SqlClient.SqlClient)
        // cyc0 -> cyc1 -> cyc2 -> cyc3 -> cyc0: a cycle longer than the bound.
        yield* sql`INSERT INTO auth_principal_roles (principal_id, role_name) VALUES ('carol', 'cyc0')`
        for (let i = 0; i < 4; i++) {
          yield* sql`INSERT INTO auth_role_inherits (role_name, inherited_role) VALUES (${`cyc${i}`}, ${`cyc${(i + 1) % 4}`})`
          yield* sql`INSERT INTO auth_role_permissions (role_name, permission) VALUES (${`cyc${i}`}, ${`level.${i}`})`
        }
        const [statements, grants] = yield* counted()(
          Effect.flatMap(GrantStore.GrantStore, (store) => store.load("carol"))
        ).pipe(Effect.provide(context))
        expect(statements).toBe(1)
        expect(grants).toStrictEqual({
          groups: [],
          roles: ["cyc0", "cyc1", "cyc2"],
          permissions: ["level.0", "level.1", "level.2"]
        })
        const deep = Context.get(yield* buildGrants(url(), { maxDepth: 64 }), GrantStore.GrantStore)
        expect((yield* deep.load("carol")).roles).toStrictEqual(["cyc0", "cyc1", "cyc2", "cyc3"])
      })
    )

    it.scopedLive("rejects an invalid table prefix or maxDepth when the layer is built", () =>
      Effect.gen(function* () {
        for (const options of [{ tablePrefix: "Auth-" }, { maxDepth: -1 }, { maxDepth: 65 }, { maxDepth: 1.5 }]) {
          const error = yield* Effect.flip(buildGrants(url(), options))
          expect(ConfigError.isConfigError(error), JSON.stringify(options)).toBe(true)
          expect(String(error)).toMatch(/table prefix|maxDepth/)
        }
      })
    )

    if (dialect.name === "sqlite") return

    describe("when the database goes away", () => {
      const queryTimeout = Duration.millis(500)
      // What the 503 may take beyond the query timeout (scheduling, a refused connection).
      const margin = 500
      const target = { host: dialect.host ?? "127.0.0.1", port: dialect.port ?? 0 }

      const proxied = (port: number) => {
        const through = new URL(url())
        through.host = `127.0.0.1:${port}`
        return through.href
      }

      it.scopedLive("fails with ProviderUnavailable within the query timeout and recovers", () =>
        Effect.gen(function* () {
          const proxy = yield* TcpProxy.scoped(target)
          const context = yield* buildGrants(proxied(proxy.port), { queryTimeout }, 2)
          const store = Context.get(context, GrantStore.GrantStore)
          const guard = Effect.flatMap(Principal.make(identity("alice")), (principal) =>
            Effect.provide(Guard.requirePermissions(["documents.read"]), Authenticated.layer(principal))
          ).pipe(Effect.provide(context))
          expect(yield* store.load("alice")).toStrictEqual(aliceGrants)
          expect((yield* guard).id).toBe("alice")

          const unavailable = Effect.gen(function* () {
            for (let i = 0; i < 3; i++) {
              const [loadMillis, loadError] = yield* timed(Effect.flip(store.load("alice")))
              const [guardMillis, guardError] = yield* timed(Effect.flip(guard))
              expect(loadError).toBeInstanceOf(AuthError.ProviderUnavailable)
              expect(guardError._tag).toBe("ProviderUnavailable")
              expect(loadMillis).toBeLessThan(Duration.toMillis(queryTimeout) + margin)
              expect(guardMillis).toBeLessThan(Duration.toMillis(queryTimeout) + margin)
            }
          })

          yield* Effect.promise(() => proxy.cut())
          yield* unavailable
          yield* Effect.promise(() => proxy.restore())
          expect(yield* untilOk(store.load("alice"))).toStrictEqual(aliceGrants)
          expect((yield* untilOk(guard)).id).toBe("alice")

          // A hung server: connections stay open, nothing comes back.
          yield* Effect.promise(() => proxy.stall())
          const [stalledMillis, stalled] = yield* timed(Effect.flip(store.load("alice")))
          expect(stalled.reason).toBe("timeout")
          expect(stalledMillis).toBeGreaterThanOrEqual(Duration.toMillis(queryTimeout) - 50)
          yield* unavailable
          yield* Effect.promise(() => proxy.restore())
          expect(yield* untilOk(store.load("alice"))).toStrictEqual(aliceGrants)
          expect((yield* untilOk(guard)).id).toBe("alice")
        })
      )
    })
  })
}
