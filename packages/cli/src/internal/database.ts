import { SqlDatabase } from "@effect-auth/sql"
import * as Options from "@effect/cli/Options"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { CliFailure, fail } from "./failure.js"

/** `--database URL` (`-d`); `$AUTH_DATABASE_URL` when absent. */
export const databaseOption = Options.text("database").pipe(
  Options.withAlias("d"),
  Options.withDescription(
    "The database: postgres://…, mysql://…, mariadb://…, sqlite:<path> (default: $AUTH_DATABASE_URL)"
  ),
  Options.optional
)

/** `--table-prefix auth_`. */
export const tablePrefixOption = Options.text("table-prefix").pipe(
  Options.withDescription("Prefix of the table names (default auth_)"),
  Options.withDefault("auth_")
)

/** How long connecting may take before the command gives up (one line, exit 1, no hang). */
export const connectTimeout = Duration.seconds(5)

// The grammar the SQL stores accept: checked here too, so a typo is refused before any connection.
const tablePrefixPattern = /^[a-z][a-z0-9_]{0,30}$/

/** A database the command may connect to: its URL (secret) and the form that may be printed. */
export interface Database {
  readonly url: Redacted.Redacted<string>
  /** The URL with its password replaced by `***`: the only form ever printed. */
  readonly shown: string
  readonly tablePrefix: string
}

const environmentUrl: Effect.Effect<Option.Option<Redacted.Redacted<string>>> = Config.redacted(
  "AUTH_DATABASE_URL"
).pipe(
  Config.option,
  Effect.orElseSucceed(() => Option.none<Redacted.Redacted<string>>()),
  Effect.map(Option.filter((url: Redacted.Redacted<string>) => Redacted.value(url).trim() !== ""))
)

/** The database of `--database`, else of `$AUTH_DATABASE_URL`; neither, or an unknown kind of URL, is an error. */
export const resolve = (option: Option.Option<string>, tablePrefix: string): Effect.Effect<Database, CliFailure> =>
  Effect.gen(function* () {
    if (!tablePrefixPattern.test(tablePrefix)) {
      return yield* Effect.fail(
        fail(`invalid --table-prefix "${tablePrefix}": a lowercase letter, then up to 30 of a-z, 0-9 and "_"`)
      )
    }
    const url = Option.isSome(option) ? Option.some(Redacted.make(option.value.trim())) : yield* environmentUrl
    if (Option.isNone(url) || Redacted.value(url.value) === "") {
      return yield* Effect.fail(fail("no database: give --database URL or set AUTH_DATABASE_URL"))
    }
    const shown = SqlDatabase.redactUrl(Redacted.value(url.value))
    if (SqlDatabase.dialectOf(Redacted.value(url.value)) === undefined) {
      return yield* Effect.fail(
        fail(`unsupported database URL "${shown}": expected postgres://, mysql://, mariadb:// or sqlite:<path>`)
      )
    }
    return { url: url.value, shown, tablePrefix }
  })

// Driver messages are bounded and scrubbed of the URL's secrets: the URL itself must never reach the terminal.
const maxDetailLength = 300

const secretsOf = (url: string): ReadonlyArray<string> => {
  const secrets = [url]
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") secrets.push(parsed.password, decodeURIComponent(parsed.password))
  } catch {
    // Not a URL with user info (sqlite:<path>): nothing else to hide.
  }
  return secrets.filter((secret) => secret.length > 0)
}

const scrub = (text: string, database: Database): string => {
  let scrubbed = text
  for (const secret of secretsOf(Redacted.value(database.url))) scrubbed = scrubbed.split(secret).join("***")
  const line = scrubbed.split(/\r?\n/, 1)[0] ?? ""
  return line.length > maxDetailLength ? `${line.slice(0, maxDetailLength)}…` : line
}

// How PostgreSQL, MySQL/MariaDB and SQLite say that a table is not there.
const missingTable = /does not exist|doesn't exist|no such table/i

const messageOf = (value: unknown): string | undefined =>
  typeof value === "object" && value !== null && "message" in value && typeof value.message === "string"
    ? value.message
    : undefined

const tagOf = (value: unknown): string | undefined =>
  typeof value === "object" && value !== null && "_tag" in value && typeof value._tag === "string"
    ? value._tag
    : undefined

/** The one line a failure of a database command prints. */
const describe = (error: unknown, database: Database): CliFailure => {
  if (error instanceof CliFailure) return error
  switch (tagOf(error)) {
    case "AdminError":
      return fail(scrub(messageOf(error) ?? "refused", database))
    case "MigrationError":
      return fail(`migration failed: ${scrub(messageOf(error) ?? "unknown reason", database)}`)
    case "SqlError":
    case "ProviderUnavailable": {
      const cause = typeof error === "object" && error !== null && "cause" in error ? error.cause : undefined
      const detail = [messageOf(error), messageOf(cause)].filter((part) => part !== undefined && part !== "").join(": ")
      return fail(
        `database error on ${database.shown}` +
          (detail === "" ? "" : `: ${scrub(detail, database)}`) +
          (missingTable.test(detail) ? ` (tables ${database.tablePrefix}*: run "effect-auth migrate" first)` : "")
      )
    }
  }
  if (ConfigError.isConfigError(error)) return fail(scrub(String(error), database))
  return fail(`database error on ${database.shown}`)
}

/**
 * Runs a command's work with a connection to the database, closed afterwards. A database that cannot be
 * reached fails within {@link connectTimeout} (one redacted line, exit 1); every other failure becomes one
 * line too: validation messages as they are, driver messages bounded and without the URL's secrets.
 */
export const run = <A, E>(
  database: Database,
  work: Effect.Effect<A, E, SqlClient.SqlClient>
): Effect.Effect<A, CliFailure> =>
  Effect.scoped(
    Effect.gen(function* () {
      const context = yield* Layer.build(SqlDatabase.layer({ url: database.url, connectTimeout })).pipe(
        // The layer has its own connect timeout; this one only makes sure the command never hangs.
        Effect.timeoutFail({
          duration: Duration.sum(connectTimeout, Duration.seconds(2)),
          onTimeout: () => fail(`cannot connect to ${database.shown} (timed out)`)
        }),
        Effect.mapError((error) =>
          error instanceof CliFailure
            ? error
            : // The layer's message names the database (redacted) and the reason.
              fail(scrub(messageOf(error) ?? `cannot connect to ${database.shown}`, database))
        )
      )
      return yield* Effect.provide(work, context)
    })
  ).pipe(
    Effect.mapError((error) => describe(error, database)),
    // Defects of the drivers may carry a connection string; they are reported as one redacted line too.
    Effect.catchAllDefect((defect) => Effect.fail(describe(defect, database)))
  )
