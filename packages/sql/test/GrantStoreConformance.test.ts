// Every grant store conformance case, seeded with plain INSERTs and loaded through the SQL store, on
// PostgreSQL, MariaDB and SQLite: the loaded grants must equal the case's expectation (and
// `GrantStore.resolve`) exactly, and the permission checks must hold with `Permission.allows`.
import { GrantStore, Permission } from "@effect-auth/core"
import { Migrations, SqlDatabase, SqlGrantStore } from "@effect-auth/sql"
import { Databases, GrantStoreCases } from "@effect-auth/testing"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"

type Model = GrantStoreCases.Case["model"]

const linkTables = [
  "auth_principal_groups",
  "auth_principal_roles",
  "auth_principal_permissions",
  "auth_group_roles",
  "auth_role_permissions",
  "auth_role_inherits"
] as const

/** The rows of every link table a model describes, as `[table, left, right]`. */
const rowsOf = (model: Model): ReadonlyArray<readonly [(typeof linkTables)[number], string, string]> => {
  const rows: Array<readonly [(typeof linkTables)[number], string, string]> = []
  for (const [principal, grants] of Object.entries(model.principals ?? {})) {
    for (const group of grants.groups ?? []) rows.push(["auth_principal_groups", principal, group])
    for (const role of grants.roles ?? []) rows.push(["auth_principal_roles", principal, role])
    for (const permission of grants.permissions ?? []) rows.push(["auth_principal_permissions", principal, permission])
  }
  for (const [group, { roles }] of Object.entries(model.groups ?? {})) {
    for (const role of roles ?? []) rows.push(["auth_group_roles", group, role])
  }
  for (const [role, { inherits, permissions }] of Object.entries(model.roles ?? {})) {
    for (const permission of permissions ?? []) rows.push(["auth_role_permissions", role, permission])
    for (const inherited of inherits ?? []) rows.push(["auth_role_inherits", role, inherited])
  }
  return rows
}

const columns: Record<(typeof linkTables)[number], readonly [string, string]> = {
  auth_principal_groups: ["principal_id", "group_name"],
  auth_principal_roles: ["principal_id", "role_name"],
  auth_principal_permissions: ["principal_id", "permission"],
  auth_group_roles: ["group_name", "role_name"],
  auth_role_permissions: ["role_name", "permission"],
  auth_role_inherits: ["role_name", "inherited_role"]
}

/** Empties the link tables, then inserts the model row by row. */
const seed = (model: Model) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    for (const table of linkTables) yield* sql`DELETE FROM ${sql(table)}`
    for (const [table, left, right] of rowsOf(model)) {
      const [leftColumn, rightColumn] = columns[table]
      yield* sql`INSERT INTO ${sql(table)} (${sql(leftColumn)}, ${sql(rightColumn)}) VALUES (${left}, ${right})`
    }
  })

for (const dialect of Databases.all) {
  describe.runIf(await dialect.shouldRun())(`GrantStore conformance on ${dialect.name}`, () => {
    let database: Databases.Database | undefined
    let runtime: ManagedRuntime.ManagedRuntime<SqlClient.SqlClient, unknown> | undefined

    beforeAll(async () => {
      database = await dialect.create()
      runtime = ManagedRuntime.make(Layer.orDie(SqlDatabase.layer({ url: Redacted.make(database.url), poolSize: 2 })))
      await runtime.runPromise(Migrations.run())
    })

    afterAll(async () => {
      await runtime?.dispose()
      await database?.drop()
    })

    const run = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => {
      if (runtime === undefined) throw new Error("the database was not created")
      return runtime.runPromise(effect)
    }

    it("has cases to run", () => {
      expect(GrantStoreCases.cases.length).toBeGreaterThan(10)
    })

    // One after the other: the cases share the tables.
    describe.sequential("cases", () => {
      for (const testCase of GrantStoreCases.cases) {
        it(testCase.name, async () => {
          const loaded = await run(
            Effect.gen(function* () {
              yield* seed(testCase.model)
              const store = yield* SqlGrantStore.make({ maxDepth: testCase.maxDepth })
              return yield* Effect.forEach(Object.keys(testCase.expect), (id) =>
                Effect.map(store.load(id), (grants) => [id, grants] as const)
              )
            })
          )
          for (const [id, grants] of loaded) {
            expect(grants, `grants of ${JSON.stringify(id)}`).toStrictEqual(testCase.expect[id])
            expect(grants, `grants of ${JSON.stringify(id)} against resolve`).toStrictEqual(
              GrantStore.resolve(testCase.model, id, { maxDepth: testCase.maxDepth })
            )
          }
          const checked = await run(
            Effect.gen(function* () {
              const store = yield* SqlGrantStore.make({ maxDepth: testCase.maxDepth })
              const results: Array<readonly [string, string, boolean]> = []
              for (const [id, checks] of Object.entries(testCase.checks ?? {})) {
                const { permissions } = yield* store.load(id)
                for (const [required] of checks) results.push([id, required, Permission.allows(permissions, required)])
              }
              return results
            })
          )
          const expected = Object.entries(testCase.checks ?? {}).flatMap(([id, checks]) =>
            checks.map(([required, allowed]) => [id, required, allowed] as const)
          )
          expect(checked).toStrictEqual(expected)
        })
      }
    })
  })
}
