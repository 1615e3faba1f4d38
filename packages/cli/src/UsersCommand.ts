/**
 * `effect-auth users …`: add and remove HTTP Basic users in the `users` table of the SQL stores. The
 * password is read from stdin or a hidden prompt, never from the command line (which other users of the
 * machine and the shell history can see), and only its scrypt hash (PHC string) is stored.
 *
 * @since 0.1.0
 */
import { BasicAuth, PasswordHasher } from "@effect-auth/core"
import { SqlAdmin } from "@effect-auth/sql"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Prompt from "@effect/cli/Prompt"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Database from "./internal/database.js"
import type { CliFailure } from "./internal/failure.js"
import { fail } from "./internal/failure.js"
import * as Stdin from "./internal/stdin.js"

/**
 * Reads a password given on stdin: one line, its line ending removed. Empty input, several lines and a
 * password longer than `BasicAuth` accepts (it could never log in) are refused; the message never quotes it.
 *
 * @since 0.1.0
 */
export const passwordOfInput = (text: string): Either.Either<Redacted.Redacted<string>, string> => {
  const password = text.replace(/\r?\n$/, "")
  if (password === "") return Either.left("the password is empty")
  if (/[\r\n]/.test(password)) return Either.left("stdin holds several lines: give the password alone, on one line")
  if (Buffer.byteLength(password, "utf8") > BasicAuth.defaultMaxPasswordBytes) {
    return Either.left(`the password is longer than ${BasicAuth.defaultMaxPasswordBytes} bytes`)
  }
  return Either.right(Redacted.make(password))
}

const fromInput = (text: string): Effect.Effect<Redacted.Redacted<string>, CliFailure> =>
  Either.match(passwordOfInput(text), { onLeft: (message) => Effect.fail(fail(message)), onRight: Effect.succeed })

// On a terminal the password is typed twice, hidden; a mistyped one would otherwise lock the user out.
const prompted = Effect.gen(function* () {
  const first = yield* Prompt.hidden({ message: "Password" })
  const second = yield* Prompt.hidden({ message: "Password (again)" })
  if (Redacted.value(first) !== Redacted.value(second)) return yield* Effect.fail(fail("the passwords differ"))
  return yield* fromInput(Redacted.value(first))
}).pipe(Effect.catchTag("QuitException", () => Effect.fail(fail("cancelled"))))

const readPassword = (fromStdin: boolean) =>
  fromStdin
    ? Effect.flatMap(Stdin.readAll, fromInput)
    : process.stdin.isTTY === true
      ? prompted
      : Effect.fail(fail("stdin is not a terminal: give --password-stdin to read the password from it"))

const usernameArg = Args.text({ name: "username" }).pipe(Args.withDescription("The user name (at most 128 characters)"))

const optionalText = (name: string, description: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.optional)

const add = Command.make(
  "add",
  {
    username: usernameArg,
    id: optionalText("id", "The principal id grants are given to (default: the user name)"),
    name: optionalText("name", "The user's display name"),
    email: optionalText("email", "The user's e-mail address"),
    passwordStdin: Options.boolean("password-stdin").pipe(
      Options.withDescription("Read the password from stdin (one line) instead of a hidden prompt")
    ),
    database: Database.databaseOption,
    tablePrefix: Database.tablePrefixOption
  },
  ({ database, email, id, name, passwordStdin, tablePrefix, username }) =>
    Effect.gen(function* () {
      // The database is checked before the password is asked for: no one types a password for nothing.
      const target = yield* Database.resolve(database, tablePrefix)
      const password = yield* readPassword(passwordStdin)
      yield* Database.run(
        target,
        SqlAdmin.addUser(
          {
            username,
            password,
            ...Option.match(id, { onNone: () => ({}), onSome: (value) => ({ id: value }) }),
            ...Option.match(name, { onNone: () => ({}), onSome: (value) => ({ name: value }) }),
            ...Option.match(email, { onNone: () => ({}), onSome: (value) => ({ email: value }) })
          },
          { tablePrefix: target.tablePrefix }
        ).pipe(Effect.provide(PasswordHasher.layer()))
      )
      yield* Console.log(
        `added user "${username}"` +
          Option.match(id, { onNone: () => "", onSome: (value) => ` (principal "${value}")` })
      )
    })
).pipe(
  Command.withDescription(
    "Add a Basic user; the password comes from a hidden prompt or, with --password-stdin, from stdin, and only its hash is stored"
  )
)

const remove = Command.make(
  "remove",
  { username: usernameArg, database: Database.databaseOption, tablePrefix: Database.tablePrefixOption },
  ({ database, tablePrefix, username }) =>
    Effect.gen(function* () {
      const target = yield* Database.resolve(database, tablePrefix)
      const removed = yield* Database.run(target, SqlAdmin.removeUser(username, { tablePrefix: target.tablePrefix }))
      if (!removed) return yield* Effect.fail(fail(`user "${username}" does not exist in ${target.shown}`))
      yield* Console.log(`removed user "${username}"`)
    })
).pipe(Command.withDescription("Remove a Basic user (their grants stay: revoke them separately)"))

/**
 * The `users` command group.
 *
 * @since 0.1.0
 */
export const command = Command.make("users").pipe(
  Command.withDescription("Manage the Basic users of the SQL stores"),
  Command.withSubcommands([add, remove])
)
