/**
 * An `ApiKeyStore` read from a file, and re-read when the file changes.
 *
 * Two forms. The line form is compatible with the API-key gateways this library replaces: one
 * `key_id:api_key` per line, `#` comments and blank lines, plus a hashed form `key_id:sha256:<hex>` so the
 * file need not hold secrets. The JSON form (a file that starts with `{` or `[`, or whose name ends in
 * `.json`) adds per-key metadata: `[{ "keyId", "key" | "hash", "expiresAt"?, "disabled"?,
 * "rateLimitPerMinute"?, "groups"?, "roles"?, "permissions"? }]`.
 *
 * @since 0.1.0
 */
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as FsPromises from "node:fs/promises"
import * as Path from "node:path"
import * as ApiKey from "./ApiKey.js"

/**
 * A skipped line or entry. Names the line and the key id (when valid), never the key.
 *
 * @since 0.1.0
 */
export interface Warning {
  /** The line number (line form), the entry's position from 1 (JSON form), or 0 for the whole file. */
  readonly line: number
  readonly keyId?: string | undefined
  readonly reason: string
}

/**
 * What {@link parse} read: the valid entries, one warning per skipped line, and the form it read.
 *
 * @since 0.1.0
 */
export interface Parsed {
  readonly entries: ReadonlyArray<ApiKey.Entry>
  readonly warnings: ReadonlyArray<Warning>
  readonly format: Format
}

/**
 * The line form (`key_id:api_key` / `key_id:sha256:<hex>`) or the JSON form with metadata.
 *
 * @since 0.1.0
 */
export type Format = "lines" | "json"

const hashedKey = /^sha256:([0-9A-Fa-f]{64})$/

/** Keeps the first entry of each hash and warns about the others, naming the key id that has it. */
class Collector {
  readonly entries: Array<ApiKey.Entry> = []
  readonly warnings: Array<Warning> = []
  private readonly firstByHash = new Map<string, { readonly keyId: string; readonly line: number }>()

  warn(line: number, reason: string, keyId?: string) {
    this.warnings.push(keyId === undefined ? { line, reason } : { line, keyId, reason })
  }

  add(line: number, entry: ApiKey.Entry, where: string) {
    const first = this.firstByHash.get(entry.hash)
    if (first !== undefined) {
      this.warn(line, `duplicate key (already used by "${first.keyId}" on ${where} ${first.line})`, entry.keyId)
      return
    }
    this.firstByHash.set(entry.hash, { keyId: entry.keyId, line })
    this.entries.push(entry)
  }
}

/** The stored hash of a line's or entry's key field: a key is hashed, a `sha256:` hash normalised. */
const storedHash = (value: string): string | undefined => {
  const hashed = hashedKey.exec(value)
  if (hashed !== null) return `sha256:${hashed[1]!.toLowerCase()}`
  return ApiKey.isValidKey(value) ? ApiKey.hash(value) : undefined
}

const parseLines = (text: string): Parsed => {
  const collector = new Collector()
  // Python's text mode, which the seed format was written for, also ends a line at a lone "\r".
  text.split(/\r\n|\r|\n/).forEach((raw, index) => {
    const line = index + 1
    const trimmed = raw.trim()
    if (trimmed.length === 0 || trimmed.startsWith("#")) return
    const colon = trimmed.indexOf(":")
    // Nothing of a line without a separator or with an invalid key id is repeated: it may be a key.
    if (colon < 0) return collector.warn(line, "invalid format (missing ':')")
    const keyId = trimmed.slice(0, colon).trim()
    const value = trimmed.slice(colon + 1).trim()
    if (!ApiKey.isValidKeyId(keyId)) return collector.warn(line, "invalid key_id")
    const hash = storedHash(value)
    if (hash === undefined) {
      return collector.warn(
        line,
        value.startsWith("sha256:")
          ? "invalid hash (expected sha256: and 64 hex digits)"
          : "invalid api_key format (16 to 128 letters, digits, '-' or '_')",
        keyId
      )
    }
    collector.add(line, { keyId, hash }, "line")
  })
  return { entries: collector.entries, warnings: collector.warnings, format: "lines" }
}

const Names = Schema.Array(Schema.String)

const JsonEntry = Schema.Struct({
  keyId: Schema.String,
  key: Schema.optional(Schema.String),
  hash: Schema.optional(Schema.String),
  expiresAt: Schema.optional(Schema.Date),
  disabled: Schema.optional(Schema.Boolean),
  rateLimitPerMinute: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.positive())),
  groups: Schema.optional(Names),
  roles: Schema.optional(Names),
  permissions: Schema.optional(Names)
})

// Unknown fields are errors: a misspelt "disabled" must not leave a key silently enabled.
const decodeJsonEntry = Schema.decodeUnknownEither(JsonEntry, { onExcessProperty: "error" })

const metadataOf = (entry: typeof JsonEntry.Type): ApiKey.Metadata | undefined => {
  const metadata: { -readonly [K in keyof ApiKey.Metadata]: ApiKey.Metadata[K] } = {}
  if (entry.expiresAt !== undefined) metadata.expiresAt = entry.expiresAt
  if (entry.disabled !== undefined) metadata.disabled = entry.disabled
  if (entry.rateLimitPerMinute !== undefined) metadata.rateLimitPerMinute = entry.rateLimitPerMinute
  if (entry.groups !== undefined) metadata.groups = entry.groups
  if (entry.roles !== undefined) metadata.roles = entry.roles
  if (entry.permissions !== undefined) metadata.permissions = entry.permissions
  return Object.keys(metadata).length === 0 ? undefined : metadata
}

const parseJson = (text: string): Parsed => {
  const collector = new Collector()
  const done = (): Parsed => ({ entries: collector.entries, warnings: collector.warnings, format: "json" })
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    // JSON.parse's message quotes the input around the error, which may be a key.
    collector.warn(0, "the file is not valid JSON")
    return done()
  }
  const list = Array.isArray(document)
    ? document
    : typeof document === "object" && document !== null && "keys" in document && Array.isArray(document.keys)
      ? (document.keys as ReadonlyArray<unknown>)
      : undefined
  if (list === undefined) {
    collector.warn(0, 'expected an array of keys or { "keys": [...] }')
    return done()
  }
  list.forEach((item, index) => {
    const line = index + 1
    const decoded = decodeJsonEntry(item)
    if (Either.isLeft(decoded)) {
      const rawId =
        typeof item === "object" && item !== null && "keyId" in item && typeof item.keyId === "string"
          ? item.keyId
          : undefined
      // Only the paths of the problems: Schema's messages quote the actual values, which may be a key.
      const fields = Array.from(
        new Set(ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map((issue) => issue.path.join(".")))
      )
      return collector.warn(
        line,
        `invalid entry (check ${fields.map((field) => (field === "" ? "its shape" : `"${field}"`)).join(", ")})`,
        rawId !== undefined && ApiKey.isValidKeyId(rawId) ? rawId : undefined
      )
    }
    const entry = decoded.right
    if (!ApiKey.isValidKeyId(entry.keyId)) return collector.warn(line, "invalid keyId")
    if ((entry.key === undefined) === (entry.hash === undefined)) {
      return collector.warn(line, 'needs exactly one of "key" and "hash"', entry.keyId)
    }
    const hash = entry.key !== undefined ? storedHash(entry.key) : storedHash(entry.hash ?? "")
    if (hash === undefined || (entry.key !== undefined && !ApiKey.isValidKey(entry.key))) {
      return collector.warn(
        line,
        entry.key !== undefined
          ? "invalid key format (16 to 128 letters, digits, '-' or '_')"
          : "invalid hash (expected sha256: and 64 hex digits)",
        entry.keyId
      )
    }
    const metadata = metadataOf(entry)
    collector.add(
      line,
      metadata === undefined ? { keyId: entry.keyId, hash } : { keyId: entry.keyId, hash, metadata },
      "entry"
    )
  })
  return done()
}

/**
 * Parses a key file. The line form: `key_id:api_key` or `key_id:sha256:<64 hex>` per line, `#` comments
 * and blank lines; key ids are letters, digits, `-` and `_`, keys 16 to 128 of the same. The JSON form
 * (chosen by `format`, or when the text starts with `{` or `[`): an array of entries, or `{ "keys": [...] }`.
 * Invalid lines and repeated keys are skipped with a warning naming the line and the key id, never the key;
 * a key id may appear on several lines (several keys for one client, e.g. while rotating).
 *
 * @example
 * ```ts
 * import { ApiKeyFile } from "@effect-auth/core"
 *
 * const { entries, warnings } = ApiKeyFile.parse("production:sk-prod-abc123def456\n")
 * ```
 *
 * @since 0.1.0
 */
export const parse = (text: string, options?: { readonly format?: Format | undefined }): Parsed => {
  const content = text.replace(/^\uFEFF/, "")
  const format = options?.format ?? (/^\s*[[{]/.test(content) ? "json" : "lines")
  return format === "json" ? parseJson(content) : parseLines(content)
}

/**
 * The hashed line for a key: `key_id:sha256:<hex>`. Throws a `TypeError` for an invalid key id or key,
 * which the file would skip.
 *
 * @example
 * ```ts
 * import { ApiKey, ApiKeyFile } from "@effect-auth/core"
 *
 * const line = ApiKeyFile.formatLine("production", ApiKey.generate())
 * ```
 *
 * @since 0.1.0
 */
export const formatLine = (keyId: string, key: string): string => {
  if (!ApiKey.isValidKeyId(keyId)) throw new TypeError("A key id may only hold letters, digits, '-' and '_'")
  if (!ApiKey.isValidKey(key)) throw new TypeError("An API key is 16 to 128 letters, digits, '-' or '_'")
  return `${keyId}:${ApiKey.hash(key)}`
}

/**
 * @since 0.1.0
 */
export interface Options {
  /** Re-read the file when it changes. Default `true`. */
  readonly watch?: boolean | undefined
  /** How often the file is checked besides file-system events, a safety net for missed events. Default 2 s. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** The file's form. Default: JSON when the name ends in `.json` or the content starts with `{` or `[`. */
  readonly format?: Format | undefined
}

interface State {
  readonly store: ApiKey.ApiKeyStore
  readonly size: number
  readonly checksum: string
}

const errorCode = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error ? String(error.code) : "unknown error"

const checksumOf = (bytes: Buffer): string => Crypto.createHash("sha256").update(bytes).digest("hex")

/** Waits after a file-system event so that a file written in several steps is read once it is complete. */
const settle = Duration.millis(25)

/** A changed file is loaded once two reads this far apart agree: a writer may still be half-way through it. */
const stableAfter = Duration.millis(100)

/**
 * A store read from a key file (see {@link parse}). A file that cannot be read when the layer is built is a
 * `ConfigError`; a file without valid keys is accepted with a warning, and then every key is refused.
 *
 * With `watch` (the default) the file is re-read when it changes: its directory is watched (so a file
 * replaced by a rename is seen) and its checksum is also checked every `pollInterval`. A changed file is loaded
 * once two reads 100 ms apart agree, so a file rewritten in place is not read half-written. The new keys
 * replace the old ones in one step, so no request sees a half-loaded set. A file that cannot be read, or has no
 * valid keys while the loaded one had some, is not loaded: the old keys stay and a warning says why. A
 * file with some valid keys replaces the old one, with a warning per skipped line.
 *
 * @example
 * ```ts
 * import { ApiKey, ApiKeyFile, Authenticator } from "@effect-auth/core"
 * import { Layer } from "effect"
 *
 * const AuthLive = Authenticator.layer([ApiKey.provider()]).pipe(
 *   Layer.provide(ApiKeyFile.layer("/etc/effect-auth/api_keys.txt"))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (path: string, options: Options = {}): Layer.Layer<ApiKey.ApiKeyStore, ConfigError.ConfigError> =>
  Layer.scoped(
    ApiKey.ApiKeyStore,
    Effect.gen(function* () {
      const format = options.format ?? (path.toLowerCase().endsWith(".json") ? "json" : undefined)
      const label = `API keys file "${path}"`
      const read = Effect.tryPromise({ try: () => FsPromises.readFile(path), catch: errorCode })

      const load = (bytes: Buffer): { readonly parsed: Parsed; readonly state: State } => {
        const parsed = parse(bytes.toString("utf8"), { format })
        return {
          parsed,
          state: { store: ApiKey.makeMemory(parsed.entries), size: parsed.entries.length, checksum: checksumOf(bytes) }
        }
      }
      const logWarnings = (parsed: Parsed) =>
        Effect.forEach(parsed.warnings, (warning) =>
          Effect.logWarning(
            `${label} ${
              warning.line === 0
                ? "content"
                : parsed.format === "json"
                  ? `entry ${warning.line}`
                  : `line ${warning.line}`
            }${warning.keyId === undefined ? "" : ` (key_id "${warning.keyId}")`}: ${warning.reason}; skipped`
          )
        )

      const bytes = yield* Effect.mapError(read, (code) =>
        ConfigError.InvalidData([], `Cannot read the API keys file "${path}" (${code})`)
      )
      const initial = load(bytes)
      yield* logWarnings(initial.parsed)
      if (initial.state.size === 0) {
        yield* Effect.logWarning(`${label} has no valid keys: every API key is refused`)
      } else {
        yield* Effect.logInfo(`${label}: loaded ${initial.state.size} key(s)`)
      }
      const state = yield* Ref.make(initial.state)

      if (options.watch ?? true) {
        // The last problem reported, so that a poll finding the same broken file does not log it again.
        const reported = yield* Ref.make<string | undefined>(undefined)
        const report = (problem: string, message: string) =>
          Effect.flatMap(Ref.getAndSet(reported, problem), (previous) =>
            previous === problem ? Effect.void : Effect.logWarning(message)
          )
        // One reload at a time, so a slow read can never overwrite the result of a newer one.
        const lock = yield* Effect.makeSemaphore(1)
        const reload = lock
          .withPermits(1)(
            Effect.gen(function* () {
              const current = yield* Ref.get(state)
              const result = yield* Effect.either(read)
              if (Either.isLeft(result)) {
                return yield* report(
                  `read:${result.left}`,
                  `${label} cannot be read (${result.left}); keeping the ${current.size} key(s) loaded before`
                )
              }
              const checksum = checksumOf(result.right)
              if (checksum === current.checksum) return yield* Ref.set(reported, undefined)
              // A file seen changing may be half-written (rewritten in place: cut after a line, or inside a
              // plaintext key, which would load a shorter key). Load it only once two reads agree; while it
              // still changes, the next change event or poll reads it again.
              yield* Effect.sleep(stableAfter)
              const again = yield* Effect.either(read)
              if (Either.isLeft(again) || checksumOf(again.right) !== checksum) return
              const next = load(result.right)
              if (next.state.size === 0 && current.size > 0) {
                // An empty or broken file is far more often a write in progress or a mistake than a wish to
                // refuse every client: keep serving the keys that worked.
                const previous = yield* Ref.getAndSet(reported, `parse:${checksum}`)
                if (previous === `parse:${checksum}`) return
                yield* logWarnings(next.parsed)
                return yield* Effect.logWarning(
                  `${label} changed but has no valid keys${
                    next.parsed.warnings.length === 0 ? "" : ` (${next.parsed.warnings.length} skipped)`
                  }; keeping the ${current.size} key(s) loaded before`
                )
              }
              yield* Ref.set(state, next.state)
              yield* Ref.set(reported, undefined)
              yield* logWarnings(next.parsed)
              yield* next.state.size === 0
                ? Effect.logWarning(`${label} reloaded with no valid keys: every API key is refused`)
                : Effect.logInfo(`${label} reloaded: ${next.state.size} key(s)`)
            })
          )
          .pipe(
            Effect.catchAllCause((cause) =>
              Effect.logWarning(`${label} could not be reloaded; keeping the keys loaded before`, cause)
            )
          )

        const changes = yield* Queue.sliding<void>(1)
        const runFork = Runtime.runFork(yield* Effect.runtime<never>())
        const directory = Path.dirname(Path.resolve(path))
        const name = Path.basename(path)
        yield* Effect.acquireRelease(
          Effect.try(() => {
            // The directory, not the file: an editor or `mv` replacing the file gives it a new inode, which a
            // watch on the old file would never report.
            const watcher = Fs.watch(directory, { persistent: false }, (_event, filename) => {
              if (filename === null || filename === name) Queue.unsafeOffer(changes, undefined)
            })
            watcher.on("error", (error) => {
              runFork(Effect.logWarning(`${label}: watching stopped (${errorCode(error)}); checking every poll only`))
            })
            return watcher
          }),
          (watcher) => Effect.sync(() => watcher.close())
        ).pipe(
          Effect.catchAll((error) =>
            Effect.logWarning(`${label} cannot be watched (${errorCode(error.error)}); checking every poll only`)
          )
        )
        yield* Queue.take(changes).pipe(
          Effect.zipRight(Effect.sleep(settle)),
          Effect.zipRight(Queue.takeAll(changes)),
          Effect.zipRight(reload),
          Effect.forever,
          Effect.forkScoped
        )
        yield* Effect.repeat(reload, Schedule.spaced(options.pollInterval ?? Duration.seconds(2))).pipe(
          Effect.forkScoped
        )
      }

      return ApiKey.ApiKeyStore.of({
        // One read of the state per lookup: a reload swaps the whole store, never part of it.
        lookup: (key) => Effect.flatMap(Ref.get(state), (current) => current.store.lookup(key)),
        size: Effect.map(Ref.get(state), (current) => current.size)
      })
    })
  )
