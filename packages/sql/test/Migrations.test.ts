import { Migrations, SqlDatabase } from "@effect-auth/sql"
import { Databases } from "@effect-auth/testing"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"

const schemaTables = [
  "auth_principal_groups",
  "auth_principal_roles",
  "auth_principal_permissions",
  "auth_group_roles",
  "auth_role_permissions",
  "auth_role_inherits",
  "auth_users",
  "auth_api_keys"
]

const failureMessage = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isFailure(exit) ? String((exit.cause as { error?: { message?: string } }).toString()) : ""

for (const dialect of Databases.all) {
  describe.runIf(await dialect.shouldRun())(`Migrations on ${dialect.name}`, () => {
    let database: Databases.Database
    let runtime: ManagedRuntime.ManagedRuntime<SqlClient.SqlClient, unknown>
    const run = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => runtime.runPromise(effect)
    const runExit = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => runtime.runPromiseExit(effect)
    const fresh = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
      Effect.runPromise(Effect.provide(effect, SqlDatabase.layer({ url: Redacted.make(database.url), poolSize: 1 })))
    const statement = (text: string) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(text))

    beforeAll(async () => {
      database = await dialect.create()
      runtime = ManagedRuntime.make(Layer.orDie(SqlDatabase.layer({ url: Redacted.make(database.url), poolSize: 1 })))
    })
    afterAll(async () => {
      await runtime.dispose()
      await database.drop()
    })

    it("creates every table once; a second run applies nothing", async () => {
      expect(await run(Migrations.run())).toEqual([[1, "create_schema"]])
      expect(await run(Migrations.run())).toEqual([])
      for (const table of schemaTables) {
        expect(await run(statement(`SELECT COUNT(*) AS n FROM ${table}`))).toHaveLength(1)
      }
      await run(Migrations.verify())
    })

    it("keeps schemas with different prefixes apart", async () => {
      expect(await run(Migrations.run({ tablePrefix: "tenant_a_" }))).toEqual([[1, "create_schema"]])
      await run(Migrations.verify({ tablePrefix: "tenant_a_" }))
      await run(statement("INSERT INTO tenant_a_principal_groups (principal_id, group_name) VALUES ('alice', 'x')"))
      expect(await run(statement("SELECT * FROM auth_principal_groups"))).toEqual([])
    })

    it("refuses an invalid table prefix before touching the database", async () => {
      const exit = await runExit(Migrations.run({ tablePrefix: "x; DROP TABLE auth_users; --" }))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(failureMessage(exit)).toMatch(/Invalid SQL table prefix/)
      await run(Migrations.verify())
    })

    it("says so, naming the table, when the schema is incomplete, and a rerun completes it", async () => {
      // A table of the same name but another shape, as a half-failed or hand-made schema leaves it.
      await run(statement("CREATE TABLE broken_users (x INTEGER)"))
      const exit = await runExit(Migrations.run({ tablePrefix: "broken_" }))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(failureMessage(exit)).toMatch(/"broken_users" is missing or incomplete/)
      // Whatever the dialect recorded, verification keeps failing until the table is fixed...
      expect(Exit.isFailure(await runExit(Migrations.verify({ tablePrefix: "broken_" })))).toBe(true)
      // ...and after the documented repair, a rerun completes the schema.
      await run(statement("DROP TABLE broken_users"))
      await run(statement("DELETE FROM broken_migrations"))
      // In a new process (SQLite's client remembers a statement that failed to prepare for a while).
      await fresh(Migrations.run({ tablePrefix: "broken_" }))
      await fresh(Migrations.verify({ tablePrefix: "broken_" }))
    })
  })
}
