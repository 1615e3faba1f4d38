/**
 * `effect-auth migrate`: creates or updates the tables of the SQL stores (`@effect-auth/sql`) in the
 * database of `--database` or `$AUTH_DATABASE_URL`.
 *
 * @since 0.1.0
 */
import { Migrations } from "@effect-auth/sql"
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Database from "./internal/database.js"

/**
 * The `migrate` command: applies the migrations that have not run yet and prints each one it applied, or
 * `already up to date`.
 *
 * @since 0.1.0
 */
export const command = Command.make(
  "migrate",
  { database: Database.databaseOption, tablePrefix: Database.tablePrefixOption },
  ({ database, tablePrefix }) =>
    Effect.gen(function* () {
      const target = yield* Database.resolve(database, tablePrefix)
      const applied = yield* Database.run(target, Migrations.run({ tablePrefix: target.tablePrefix }))
      if (applied.length === 0) {
        yield* Console.log("already up to date")
      } else {
        for (const [id, name] of applied) yield* Console.log(`applied ${id}_${name}`)
      }
      yield* Console.error(`Schema of ${target.shown} (tables ${target.tablePrefix}*) is up to date.`)
    })
).pipe(Command.withDescription("Create or update the tables of the SQL stores (safe to run again)"))
