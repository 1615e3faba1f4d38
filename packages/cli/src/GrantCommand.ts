/**
 * `effect-auth grant` and `effect-auth revoke`: give or take a group, a role or a permission to or from a
 * principal, a group or a role, in the grant tables of the SQL stores.
 *
 * @since 0.1.0
 */
import { SqlAdmin } from "@effect-auth/sql"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Database from "./internal/database.js"
import type { CliFailure } from "./internal/failure.js"
import { fail } from "./internal/failure.js"

/**
 * What a grant gives: a group, a role or a permission.
 *
 * @since 0.1.0
 */
export type Kind = "group" | "role" | "permission"

const subjectForms = [
  ["group:", "group"],
  ["role:", "role"],
  ["principal:", "principal"]
] as const

/**
 * Reads a subject: `group:<name>`, `role:<name>`, `principal:<id>`, or a bare principal id (`alice`). The
 * `principal:` form names a principal whose id itself starts with `group:` or `role:`.
 *
 * @since 0.1.0
 */
export const parseSubject = (text: string): Either.Either<SqlAdmin.Subject, string> => {
  for (const [prefix, kind] of subjectForms) {
    if (!text.startsWith(prefix)) continue
    const name = text.slice(prefix.length)
    if (name === "") return Either.left(`invalid subject "${text}": the ${kind} name is missing after "${prefix}"`)
    switch (kind) {
      case "group":
        return Either.right({ group: name })
      case "role":
        return Either.right({ role: name })
      case "principal":
        return Either.right({ principal: name })
    }
  }
  return text === "" ? Either.left("invalid subject: it is empty") : Either.right({ principal: text })
}

/**
 * A subject as the command's messages name it: `principal "alice"`, `group "staff"`, `role "editor"`.
 *
 * @since 0.1.0
 */
export const describeSubject = (subject: SqlAdmin.Subject): string =>
  "principal" in subject
    ? `principal "${subject.principal}"`
    : "group" in subject
      ? `group "${subject.group}"`
      : `role "${subject.role}"`

const grantOf = (kind: Kind, name: string): SqlAdmin.Grant => {
  switch (kind) {
    case "group":
      return { group: name }
    case "role":
      return { role: name }
    case "permission":
      return { permission: name }
  }
}

const describeGrant = (kind: Kind, name: string): string =>
  kind === "permission" && name.startsWith("!") ? `deny "${name.slice(1)}"` : `${kind} "${name}"`

const kindArg = Args.choice<Kind>(
  [
    ["group", "group"],
    ["role", "role"],
    ["permission", "permission"]
  ],
  { name: "kind" }
).pipe(Args.withDescription("group, role or permission"))

const nameArg = Args.text({ name: "name" }).pipe(
  Args.withDescription("The group, role or permission (a permission may end in .* and start with ! to deny)")
)

const subjectDescription = "alice (a principal id), group:<name>, role:<name> (the role inherits it), or principal:<id>"

const toOption = Options.text("to").pipe(Options.withAlias("t"), Options.withDescription(subjectDescription))

const readSubject = (text: string): Effect.Effect<SqlAdmin.Subject, CliFailure> =>
  Either.match(parseSubject(text), { onLeft: (message) => Effect.fail(fail(message)), onRight: Effect.succeed })

/**
 * The `grant` command: `grant <kind> <name> --to <subject>`.
 *
 * @since 0.1.0
 */
export const grant = Command.make(
  "grant",
  {
    kind: kindArg,
    name: nameArg,
    to: toOption,
    database: Database.databaseOption,
    tablePrefix: Database.tablePrefixOption
  },
  ({ database, kind, name, tablePrefix, to }) =>
    Effect.gen(function* () {
      const subject = yield* readSubject(to)
      const target = yield* Database.resolve(database, tablePrefix)
      const added = yield* Database.run(
        target,
        SqlAdmin.grant(subject, grantOf(kind, name), { tablePrefix: target.tablePrefix })
      )
      yield* Console.log(
        added
          ? `granted ${describeGrant(kind, name)} to ${describeSubject(subject)}`
          : `already granted: ${describeGrant(kind, name)} to ${describeSubject(subject)}`
      )
    })
).pipe(
  Command.withDescription(
    "Give a group, role or permission to a principal (alice), a group (group:staff) or a role (role:editor)"
  )
)

/**
 * The `revoke` command: `revoke <kind> <name> --from <subject>` (`--to` is accepted too).
 *
 * @since 0.1.0
 */
export const revoke = Command.make(
  "revoke",
  {
    kind: kindArg,
    name: nameArg,
    from: Options.text("from").pipe(Options.withDescription(subjectDescription), Options.optional),
    to: Options.text("to").pipe(Options.withDescription("The same as --from"), Options.optional),
    database: Database.databaseOption,
    tablePrefix: Database.tablePrefixOption
  },
  ({ database, from, kind, name, tablePrefix, to }) =>
    Effect.gen(function* () {
      if (Option.isSome(from) && Option.isSome(to)) {
        return yield* Effect.fail(fail("give the subject once: --from or --to, not both"))
      }
      const text = Option.orElse(from, () => to)
      if (Option.isNone(text)) return yield* Effect.fail(fail("missing --from <subject>"))
      const subject = yield* readSubject(text.value)
      const target = yield* Database.resolve(database, tablePrefix)
      const removed = yield* Database.run(
        target,
        SqlAdmin.revoke(subject, grantOf(kind, name), { tablePrefix: target.tablePrefix })
      )
      yield* Console.log(
        removed
          ? `revoked ${describeGrant(kind, name)} from ${describeSubject(subject)}`
          : `not granted: ${describeGrant(kind, name)} to ${describeSubject(subject)} (nothing changed)`
      )
    })
).pipe(Command.withDescription("Take a group, role or permission away from a principal, a group or a role"))
