/**
 * `effect-auth keys …`: create, list, revoke and hash API keys in a key file (the line form read by
 * `ApiKeyFile.layer`), or with `--sql` in the `api_keys` table of the SQL stores (`SqlApiKeyStore`).
 *
 * @since 0.1.0
 */
import { ApiKey, ApiKeyFile } from "@effect-auth/core"
import { SqlAdmin } from "@effect-auth/sql"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Database from "./internal/database.js"
import type { CliFailure } from "./internal/failure.js"
import { fail } from "./internal/failure.js"
import * as KeysFile from "./internal/keysFile.js"
import * as Stdin from "./internal/stdin.js"

/**
 * The key file used when `--file` is not given: `AUTH_API_KEYS_FILE` (the gateway's variable), else
 * `api_keys.txt` in the current directory.
 *
 * @since 0.1.0
 */
export const defaultFile: Effect.Effect<string> = Config.string("AUTH_API_KEYS_FILE").pipe(
  Config.withDefault(""),
  Effect.orElseSucceed(() => ""),
  Effect.map((path) => (path.trim() === "" ? "api_keys.txt" : path))
)

const fileOption = Options.text("file").pipe(
  Options.withAlias("f"),
  Options.withDescription("The key file (default: $AUTH_API_KEYS_FILE, else ./api_keys.txt)"),
  Options.optional
)

const resolveFile = (file: Option.Option<string>): Effect.Effect<string> =>
  Option.match(file, { onNone: () => defaultFile, onSome: Effect.succeed })

const sqlOption = Options.boolean("sql").pipe(
  Options.withDescription(
    "Use the api_keys table of the database (--database, else $AUTH_DATABASE_URL), not a key file"
  )
)

/** The database of a `--sql` command; `--file` names a key file, so the two exclude each other. */
const sqlDatabase = (
  file: Option.Option<string>,
  database: Option.Option<string>,
  tablePrefix: string
): Effect.Effect<Database.Database, CliFailure> =>
  Option.isSome(file)
    ? Effect.fail(fail("--file and --sql exclude each other: a key is stored in a key file or in the database"))
    : Database.resolve(database, tablePrefix)

/** A file command refuses the database options rather than ignore them (a key meant for the database). */
const requireFileOnly = (given: ReadonlyArray<readonly [string, boolean]>): Effect.Effect<void, CliFailure> => {
  const names = given.filter(([, isGiven]) => isGiven).map(([name]) => name)
  return names.length === 0
    ? Effect.void
    : Effect.fail(fail(`${names.join(", ")} only with --sql (the key file keeps no such setting)`))
}

const isoDate = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/

/**
 * Reads `--expires`: an ISO-8601 date (`2027-01-31`, midnight UTC) or date and time with its offset
 * (`2027-01-31T18:00:00Z`, `2027-01-31T18:00:00+01:00`). A time without an offset is refused: whose
 * midnight it means would depend on the machine.
 *
 * @since 0.1.0
 */
export const parseExpiry = (text: string): Option.Option<Date> => {
  if (!isoDate.test(text)) return Option.none()
  const date = new Date(text)
  return Number.isNaN(date.getTime()) ? Option.none() : Option.some(date)
}

const keyIdArg = Args.text({ name: "key_id" }).pipe(
  Args.withDescription("The key's id: letters, digits, '-' and '_' (it names the caller in logs)")
)

const requireKeyId = (keyId: string): Effect.Effect<void, CliFailure> =>
  ApiKey.isValidKeyId(keyId)
    ? Effect.void
    : Effect.fail(fail(`invalid key_id "${keyId}": use letters, digits, '-' and '_' only`))

const describeWarning = (warning: ApiKeyFile.Warning, format: ApiKeyFile.Format): string => {
  const where = warning.line === 0 ? "file" : format === "json" ? `entry ${warning.line}` : `line ${warning.line}`
  const id = warning.keyId === undefined ? "" : ` (key_id "${warning.keyId}")`
  return `warning: ${where}${id}: ${warning.reason}; skipped`
}

const printWarnings = (parsed: ApiKeyFile.Parsed): Effect.Effect<void> =>
  Effect.forEach(parsed.warnings, (warning) => Console.error(describeWarning(warning, parsed.format)), {
    discard: true
  })

// Only the line form can be edited line by line; rewriting the JSON form would lose its layout.
const requireLineForm = (path: string, parsed: ApiKeyFile.Parsed): Effect.Effect<void, CliFailure> =>
  parsed.format === "json" || path.toLowerCase().endsWith(".json")
    ? Effect.fail(fail(`"${path}" is a JSON key file: edit it by hand (this command edits the line form only)`))
    : Effect.void

const warnIfShared = (path: string): Effect.Effect<void, CliFailure> =>
  Effect.flatMap(KeysFile.modeOf(path), (mode) =>
    (mode & 0o077) === 0
      ? Effect.void
      : Console.error(
          `warning: "${path}" is readable by other users (mode ${mode.toString(8).padStart(4, "0")}); consider chmod 600`
        )
  )

// ---------------------------------------------------------------------------------------------------------
// keys create

const createInFile = (keyId: string, file: Option.Option<string>, prefix: string) =>
  Effect.gen(function* () {
    const path = yield* resolveFile(file)
    const existing = yield* KeysFile.readIfExists(path)
    if (existing !== undefined) {
      const parsed = ApiKeyFile.parse(existing)
      yield* requireLineForm(path, parsed)
      // Skipped lines count too: a broken line for this id is most likely a key someone meant to keep.
      const taken =
        parsed.entries.some((entry) => entry.keyId === keyId) ||
        KeysFile.splitLines(existing).some((line) => KeysFile.keyIdOfLine(line.content) === keyId)
      if (taken) {
        return yield* Effect.fail(
          fail(
            `key_id "${keyId}" already exists in "${path}": revoke it first (effect-auth keys revoke ${keyId}) or choose another id`
          )
        )
      }
      yield* warnIfShared(path)
    } else if (path.toLowerCase().endsWith(".json")) {
      return yield* Effect.fail(fail(`"${path}" would be a JSON key file: this command writes the line form only`))
    }
    const key = yield* Effect.try({
      try: () => ApiKey.generate({ prefix }),
      catch: () => fail(`invalid --prefix: use at most 85 letters, digits, '-' or '_'`)
    })
    // The file is written before the key is shown: a key whose line could not be stored is never printed.
    yield* KeysFile.appendLine(path, existing, ApiKeyFile.formatLine(keyId, key))
    yield* Console.log(key)
    yield* Console.error(
      `Created key "${keyId}" in "${path}" (only its SHA-256 hash is stored).\n` +
        "Copy the key now: it cannot be shown again."
    )
  })

interface SqlKeySettings {
  readonly owner: Option.Option<string>
  readonly expires: Option.Option<string>
  readonly rateLimit: Option.Option<number>
  readonly description: Option.Option<string>
}

const createInDatabase = (keyId: string, prefix: string, target: Database.Database, settings: SqlKeySettings) =>
  Effect.gen(function* () {
    let expiresAt: Date | undefined = undefined
    if (Option.isSome(settings.expires)) {
      const parsed = parseExpiry(settings.expires.value)
      if (Option.isNone(parsed)) {
        return yield* Effect.fail(
          fail(
            `invalid --expires "${settings.expires.value}": use an ISO-8601 date (2027-01-31) or 2027-01-31T18:00:00Z`
          )
        )
      }
      if (parsed.value.getTime() <= Date.now()) {
        return yield* Effect.fail(fail(`invalid --expires "${settings.expires.value}": it is in the past`))
      }
      expiresAt = parsed.value
    }
    const created = yield* Database.run(
      target,
      SqlAdmin.createApiKey(
        {
          keyId,
          prefix,
          ...Option.match(settings.owner, { onNone: () => ({}), onSome: (owner) => ({ owner }) }),
          ...Option.match(settings.description, { onNone: () => ({}), onSome: (description) => ({ description }) }),
          ...(expiresAt === undefined ? {} : { expiresAt }),
          ...Option.match(settings.rateLimit, {
            onNone: () => ({}),
            onSome: (rateLimitPerMinute) => ({ rateLimitPerMinute })
          })
        },
        { tablePrefix: target.tablePrefix }
      )
    )
    // The row is written before the key is shown: a key that could not be stored is never printed.
    yield* Console.log(Redacted.value(created.key))
    yield* Console.error(
      `Created key "${created.keyId}" in ${target.shown} (only its SHA-256 hash is stored).\n` +
        "Copy the key now: it cannot be shown again."
    )
  })

const create = Command.make(
  "create",
  {
    keyId: keyIdArg,
    file: fileOption,
    prefix: Options.text("prefix").pipe(
      Options.withDescription("The key's prefix, to recognize it (letters, digits, '-', '_')"),
      Options.withDefault("sk-")
    ),
    sql: sqlOption,
    database: Database.databaseOption,
    tablePrefix: Database.tablePrefixOption,
    owner: Options.text("owner").pipe(
      Options.withDescription("With --sql: the principal the key is issued to (its claims' owner)"),
      Options.optional
    ),
    expires: Options.text("expires").pipe(
      Options.withDescription("With --sql: when the key stops working (2027-01-31 or 2027-01-31T18:00:00Z)"),
      Options.optional
    ),
    rateLimit: Options.integer("rate-limit").pipe(
      Options.withDescription("With --sql: the key's own limit, in requests per minute"),
      Options.optional
    ),
    description: Options.text("description").pipe(
      Options.withDescription("With --sql: a note on the key (who has it, what for)"),
      Options.optional
    )
  },
  ({ database, file, keyId, prefix, sql, tablePrefix, ...settings }) =>
    Effect.gen(function* () {
      yield* requireKeyId(keyId)
      if (!sql) {
        yield* requireFileOnly([
          ["--database", Option.isSome(database)],
          ["--owner", Option.isSome(settings.owner)],
          ["--expires", Option.isSome(settings.expires)],
          ["--rate-limit", Option.isSome(settings.rateLimit)],
          ["--description", Option.isSome(settings.description)]
        ])
        return yield* createInFile(keyId, file, prefix)
      }
      const target = yield* sqlDatabase(file, database, tablePrefix)
      yield* createInDatabase(keyId, prefix, target, settings)
    })
).pipe(
  Command.withDescription(
    "Create a random API key, print it once and store its hash in the key file (or, with --sql, the database)"
  )
)

// ---------------------------------------------------------------------------------------------------------
// keys list

interface Listed {
  readonly keyId: string
  readonly stored: "hashed" | "plaintext"
  readonly notes: ReadonlyArray<string>
}

const hashedValue = /^sha256:/i

/** Pairs each parsed entry with the line (or JSON entry) it came from, to tell hashed ones from plaintext. */
const listEntries = (text: string, parsed: ApiKeyFile.Parsed): ReadonlyArray<Listed> => {
  const skipped = new Set(parsed.warnings.map((warning) => warning.line))
  const stored: Array<"hashed" | "plaintext"> = []
  if (parsed.format === "json" && parsed.entries.length > 0) {
    // parse found entries, so the text is JSON.
    const document: unknown = JSON.parse(text.replace(/^\uFEFF/, ""))
    const items: ReadonlyArray<unknown> = Array.isArray(document)
      ? document
      : typeof document === "object" && document !== null && "keys" in document && Array.isArray(document.keys)
        ? document.keys
        : []
    items.forEach((item, index) => {
      if (skipped.has(index + 1)) return
      stored.push(typeof item === "object" && item !== null && "key" in item ? "plaintext" : "hashed")
    })
  } else if (parsed.format === "lines") {
    KeysFile.splitLines(text).forEach((line, index) => {
      if (skipped.has(index + 1) || KeysFile.keyIdOfLine(line.content) === undefined) return
      stored.push(hashedValue.test(KeysFile.valueOfLine(line.content) ?? "") ? "hashed" : "plaintext")
    })
  }
  return parsed.entries.map((entry, index) => {
    const notes: Array<string> = []
    if (entry.metadata?.disabled === true) notes.push("disabled")
    if (entry.metadata?.expiresAt !== undefined) notes.push(`expires ${entry.metadata.expiresAt.toISOString()}`)
    return { keyId: entry.keyId, stored: stored[index] ?? "hashed", notes }
  })
}

const listFile = (file: Option.Option<string>) =>
  Effect.gen(function* () {
    const path = yield* resolveFile(file)
    const text = yield* KeysFile.read(path)
    const parsed = ApiKeyFile.parse(text, path.toLowerCase().endsWith(".json") ? { format: "json" } : undefined)
    yield* printWarnings(parsed)
    const entries = listEntries(text, parsed)
    const width = Math.max(6, ...entries.map((entry) => entry.keyId.length))
    for (const entry of entries) {
      yield* Console.log([entry.keyId.padEnd(width), entry.stored.padEnd(9), ...entry.notes].join("  ").trimEnd())
    }
    const plaintext = entries.filter((entry) => entry.stored === "plaintext").length
    yield* Console.error(
      `${entries.length} key(s) in "${path}"` +
        (plaintext === 0
          ? ""
          : `; ${plaintext} stored in plaintext (convert ${
              parsed.format === "json"
                ? 'each "key" to a "hash" with: effect-auth keys hash --key-id ID'
                : "them with: effect-auth keys hash"
            })`)
    )
  })

const listDatabase = (target: Database.Database) =>
  Effect.gen(function* () {
    const keys = yield* Database.run(target, SqlAdmin.listApiKeys({ tablePrefix: target.tablePrefix }))
    const now = Date.now()
    const width = Math.max(6, ...keys.map((key) => key.keyId.length))
    for (const key of keys) {
      const notes: Array<string> = []
      if (key.disabled) notes.push("revoked")
      if (key.expiresAt !== undefined) {
        notes.push(`${key.expiresAt.getTime() <= now ? "expired" : "expires"} ${key.expiresAt.toISOString()}`)
      }
      if (key.owner !== undefined) notes.push(`owner "${key.owner}"`)
      if (key.rateLimitPerMinute !== undefined) notes.push(`${key.rateLimitPerMinute}/min`)
      if (key.description !== undefined) notes.push(`"${key.description}"`)
      yield* Console.log([key.keyId.padEnd(width), ...notes].join("  ").trimEnd())
    }
    yield* Console.error(`${keys.length} key(s) in ${target.shown}`)
  })

const list = Command.make(
  "list",
  { file: fileOption, sql: sqlOption, database: Database.databaseOption, tablePrefix: Database.tablePrefixOption },
  ({ database, file, sql, tablePrefix }) =>
    sql
      ? Effect.flatMap(sqlDatabase(file, database, tablePrefix), listDatabase)
      : Effect.zipRight(requireFileOnly([["--database", Option.isSome(database)]]), listFile(file))
).pipe(
  Command.withDescription(
    "List the key ids of the key file and how each key is stored (or, with --sql, the database's keys); never the keys"
  )
)

// ---------------------------------------------------------------------------------------------------------
// keys revoke

const revokeFile = (keyId: string, file: Option.Option<string>) =>
  Effect.gen(function* () {
    const path = yield* resolveFile(file)
    const text = yield* KeysFile.read(path)
    yield* requireLineForm(path, ApiKeyFile.parse(text))
    const lines = KeysFile.splitLines(text)
    const kept = lines.filter((line) => KeysFile.keyIdOfLine(line.content) !== keyId)
    const removed = lines.length - kept.length
    if (removed === 0) return yield* Effect.fail(fail(`key_id "${keyId}" is not in "${path}"`))
    yield* KeysFile.replace(path, kept.map((line) => line.content + line.terminator).join(""))
    yield* Console.error(`Revoked "${keyId}" (${removed} line${removed === 1 ? "" : "s"} removed from "${path}")`)
  })

const revokeDatabase = (keyId: string, target: Database.Database) =>
  Effect.gen(function* () {
    const found = yield* Database.run(target, SqlAdmin.revokeApiKey(keyId, { tablePrefix: target.tablePrefix }))
    if (!found) {
      return yield* Effect.fail(
        fail(`key_id "${keyId}" is not an active key in ${target.shown} (unknown or already revoked)`)
      )
    }
    yield* Console.error(`Revoked "${keyId}" (disabled in ${target.shown}; its row is kept for the record)`)
  })

const revoke = Command.make(
  "revoke",
  {
    keyId: keyIdArg,
    file: fileOption,
    sql: sqlOption,
    database: Database.databaseOption,
    tablePrefix: Database.tablePrefixOption
  },
  ({ database, file, keyId, sql, tablePrefix }) =>
    Effect.gen(function* () {
      yield* requireKeyId(keyId)
      if (!sql) {
        yield* requireFileOnly([["--database", Option.isSome(database)]])
        return yield* revokeFile(keyId, file)
      }
      yield* revokeDatabase(keyId, yield* sqlDatabase(file, database, tablePrefix))
    })
).pipe(
  Command.withDescription(
    "Remove every key of a key id from the key file (rewritten atomically), or with --sql disable it in the database"
  )
)

// ---------------------------------------------------------------------------------------------------------
// keys hash

const hexHash = /^sha256:([0-9A-Fa-f]{64})$/

/** Converts a plaintext key file (or a list of `key_id:key` lines) to the hashed form, line by line. */
const hashLines = (text: string): Effect.Effect<void> =>
  Effect.gen(function* () {
    const lines = KeysFile.splitLines(text)
    // The text's final newline leaves an empty last line, which is not part of the output.
    if (lines.length > 1 && lines[lines.length - 1]!.content === "") lines.pop()
    const output: Array<string> = []
    for (const [index, line] of lines.entries()) {
      const number = index + 1
      const trimmed = line.content.trim()
      if (trimmed === "" || trimmed.startsWith("#")) {
        output.push(line.content)
        continue
      }
      const keyId = KeysFile.keyIdOfLine(line.content)
      const value = KeysFile.valueOfLine(line.content) ?? ""
      // A dropped line is never echoed, not even as a comment: it may be a key with a typo.
      if (keyId === undefined) {
        yield* Console.error(`warning: line ${number}: expected key_id:key (for a single key use --key-id ID); dropped`)
      } else if (!ApiKey.isValidKeyId(keyId)) {
        yield* Console.error(`warning: line ${number}: invalid key_id; dropped`)
      } else if (hexHash.test(value)) {
        output.push(`${keyId}:${value.toLowerCase()}`)
      } else if (ApiKey.isValidKey(value)) {
        output.push(ApiKeyFile.formatLine(keyId, value))
      } else {
        yield* Console.error(
          `warning: line ${number} (key_id "${keyId}"): invalid api_key format (16 to 128 letters, digits, '-' or '_'); dropped`
        )
      }
    }
    if (output.length > 0) yield* Console.log(output.join("\n"))
  })

const hash = Command.make(
  "hash",
  {
    keyId: Options.text("key-id").pipe(
      Options.withDescription("Read a single key from stdin and print its line for this key id"),
      Options.optional
    )
  },
  ({ keyId }) =>
    Effect.gen(function* () {
      const text = yield* Stdin.readAll
      if (text.trim() === "") return yield* Effect.fail(fail("no input on stdin"))
      if (/^\uFEFF?\s*[[{]/.test(text)) {
        return yield* Effect.fail(fail('stdin looks like a JSON key file: put hashes in its "hash" fields by hand'))
      }
      if (Option.isNone(keyId)) return yield* hashLines(text)
      yield* requireKeyId(keyId.value)
      const key = text.trim()
      if (/[\r\n]/.test(key)) {
        return yield* Effect.fail(fail("--key-id takes a single key on stdin, but there are several lines"))
      }
      if (!ApiKey.isValidKey(key)) {
        return yield* Effect.fail(fail("stdin is not a valid API key (16 to 128 letters, digits, '-' or '_')"))
      }
      yield* Console.log(ApiKeyFile.formatLine(keyId.value, key))
    })
).pipe(
  Command.withDescription(
    "Print hashed lines (key_id:sha256:<hex>) for keys read from stdin: key_id:key lines (a plaintext key file; " +
      "comments and blank lines are kept), or one key with --key-id"
  )
)

/**
 * The `keys` command group.
 *
 * @since 0.1.0
 */
export const command = Command.make("keys").pipe(
  Command.withDescription("Manage API keys: the key file, or with --sql the database"),
  Command.withSubcommands([create, list, revoke, hash])
)
