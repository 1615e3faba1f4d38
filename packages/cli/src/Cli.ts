/**
 * The `effect-auth` command tree and its entry point: runs a command line and answers an exit code, with
 * every failure reported as one line on stderr (no stack traces).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import type * as NodeContext from "@effect/platform-node/NodeContext"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as GrantCommand from "./GrantCommand.js"
import * as KeysCommand from "./KeysCommand.js"
import * as MigrateCommand from "./MigrateCommand.js"
import * as TokenCommand from "./TokenCommand.js"
import * as UsersCommand from "./UsersCommand.js"

/**
 * The CLI's version.
 *
 * @since 0.1.0
 */
export const version = "0.1.0"

/**
 * The root command: `keys`, `token`, and the SQL stores' `migrate`, `grant`, `revoke` and `users`.
 *
 * @since 0.1.0
 */
export const command = Command.make("effect-auth").pipe(
  Command.withDescription("API keys, tokens, grants and users for effect-auth"),
  Command.withSubcommands([
    KeysCommand.command,
    TokenCommand.command,
    MigrateCommand.command,
    GrantCommand.grant,
    GrantCommand.revoke,
    UsersCommand.command
  ])
)

const cli = Command.run(command, { name: "effect-auth", version })

/**
 * The short usage printed after a command line that could not be parsed.
 *
 * @since 0.1.0
 */
export const usage = `Usage:
  effect-auth keys create <key_id> [--file PATH] [--prefix sk-]
  effect-auth keys list [--file PATH]
  effect-auth keys revoke <key_id> [--file PATH]
  effect-auth keys hash [--key-id ID] < keys.txt
  effect-auth token inspect [--issuer ISS] [--jwks-url URL] [--audience AUD] [--algorithms RS256,...] <jwt | ->

With a database (--database URL, else $AUTH_DATABASE_URL; --table-prefix auth_):
  effect-auth migrate
  effect-auth grant <group|role|permission> <name> --to <alice | group:NAME | role:NAME | principal:ID>
  effect-auth revoke <group|role|permission> <name> --from <alice | group:NAME | role:NAME | principal:ID>
  effect-auth users add <username> [--id ID] [--name N] [--email E] [--password-stdin]
  effect-auth users remove <username>
  effect-auth keys create <key_id> --sql [--owner ID] [--expires 2027-01-31] [--rate-limit N] [--description TEXT]
  effect-auth keys list --sql
  effect-auth keys revoke <key_id> --sql

The key file defaults to $AUTH_API_KEYS_FILE, else ./api_keys.txt.
Run "effect-auth <command> --help" for details.`

// Library logs (a JWKS fetch that failed) go to stderr, so stdout holds only the command's answer.
const stderrLogger = Logger.make(({ logLevel, message }) => {
  const parts = Array.isArray(message) ? message : [message]
  process.stderr.write(`${logLevel.label.toLowerCase()}: ${parts.map(String).join(" ")}\n`)
})

/**
 * Runs a command line (`process.argv`: the node executable and the script first) and answers its exit code:
 * 0 success, 1 bad input, an unreachable issuer or database, 2 an invalid token (`token inspect`).
 *
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number, never, NodeContext.NodeContext> =>
  cli(argv).pipe(
    Effect.as(0),
    Effect.catchAll((error) => {
      // @effect/cli has already printed what was wrong with the command line; the short usage follows.
      if (ValidationError.isValidationError(error)) return Effect.as(Console.error(usage), 1)
      return error.message === ""
        ? Effect.succeed(error.exitCode)
        : Effect.as(Console.error(`effect-auth: ${error.message}`), error.exitCode)
    }),
    Effect.catchAllCause((cause) => {
      // A defect's message or stack could quote what was being processed (a key): only its kind is shown.
      const squashed = Cause.squash(cause)
      const kind = squashed instanceof Error ? squashed.name : "unknown"
      return Effect.as(
        Console.error(
          Cause.isInterruptedOnly(cause) ? "effect-auth: interrupted" : `effect-auth: unexpected error (${kind})`
        ),
        1
      )
    }),
    Effect.provide(Logger.replace(Logger.defaultLogger, stderrLogger)),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
