import { ApiKey, ApiKeyFile } from "@effect-auth/core"
import { assert, describe, expect, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const fixtures = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "fixtures")
const fixture = (name: string) => Path.join(fixtures, name)
const readFixture = (name: string) => Fs.readFile(fixture(name), "utf8")

const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make((options) => {
    lines.push(Logger.logfmtLogger.log(options))
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** Every key written in the fixtures: no warning or log line may contain one. */
const fixtureKeys = [
  "sk-prod-abc123def456",
  "sk-alice-xyz789",
  "sk-dev-test123",
  "sk-ci-0123456789abcdef",
  "sk-abcdefghijklmnop",
  "sk-empty-id-0123456789",
  "sk-bad-id-0123456789",
  "sk-bad.chars.0123456789",
  "a".repeat(129),
  "b".repeat(128),
  "0123456789abcdef",
  "sk-prod-second-key-0001",
  "sk-extra-0123456789",
  "sk-tabbed-0123456789",
  "sk-retired-0123456789",
  "sk-suspended-0123456789",
  "sk-too-short",
  "sk-typo-0123456789abc",
  "sk-both-0123456789abc",
  "sk-bad-date-0123456789"
]

const expectNoKeys = (rendered: string) => {
  for (const key of fixtureKeys) expect(rendered).not.toContain(key)
}

/** What the seed decides for each line of the file: accepted key ids and skipped lines. */
interface Decisions {
  readonly accepted: ReadonlyArray<string>
  readonly skipped: ReadonlyArray<{ readonly line: number; readonly keyId?: string }>
}

const decisionsOf = (parsed: ApiKeyFile.Parsed): Decisions => ({
  accepted: parsed.entries.map((entry) => entry.keyId),
  skipped: parsed.warnings.map((warning) =>
    warning.keyId === undefined ? { line: warning.line } : { line: warning.line, keyId: warning.keyId }
  )
})

// Worked out by running the seed's `_load_keys` loop on the fixtures: `alice-laptop` and `development`
// have keys of 15 and 14 characters, under the 16 the seed requires, so its own example loads one key.
const seedExampleDecisions: Decisions = {
  accepted: ["production"],
  skipped: [
    { line: 3, keyId: "alice-laptop" },
    { line: 4, keyId: "development" }
  ]
}

const mixedDecisions: Decisions = {
  accepted: ["production", "ci-runner", "max-length", "min-length", "production", "tabbed"],
  skipped: [
    { line: 4, keyId: "alice-laptop" }, // 15 characters
    { line: 5, keyId: "development" }, // 14 characters
    { line: 7 }, // no ':'
    { line: 8 }, // empty key_id
    { line: 9 }, // space in the key_id
    { line: 10, keyId: "bad-chars" }, // dots in the key
    { line: 11, keyId: "too-long" }, // 129 characters
    { line: 14, keyId: "production-copy" }, // the key of line 3 again
    { line: 16, keyId: "extra-colon" }, // ':' in the key
    { line: 18, keyId: "empty-key" },
    { line: 21, keyId: "bad-hash" } // the seed reads "sha256:0123" as a (too short) key
  ]
}

/** The file with every line the seed accepts rewritten in the hashed form. */
const hashLines = (text: string) =>
  text
    .split("\n")
    .map((line) => {
      const colon = line.indexOf(":")
      if (line.trim().startsWith("#") || colon < 0) return line
      const keyId = line.slice(0, colon).trim()
      const key = line.slice(colon + 1).trim()
      return ApiKey.isValidKeyId(keyId) && ApiKey.isValidKey(key) ? ApiKeyFile.formatLine(keyId, key) : line
    })
    .join("\n")

describe("ApiKeyFile.parse", () => {
  it("the seed's own example: the same decisions as the seed", async () => {
    const parsed = ApiKeyFile.parse(await readFixture("seed-example.txt"))
    expect(parsed.format).toBe("lines")
    expect(decisionsOf(parsed)).toStrictEqual(seedExampleDecisions)
    expect(parsed.entries[0]).toStrictEqual({ keyId: "production", hash: ApiKey.hash("sk-prod-abc123def456") })
    expectNoKeys(JSON.stringify(parsed.warnings))
  })

  it("bad lines: the same decisions as the seed, warnings name the line and key id, never the key", async () => {
    const parsed = ApiKeyFile.parse(await readFixture("mixed.txt"))
    expect(decisionsOf(parsed)).toStrictEqual(mixedDecisions)
    expect(parsed.warnings.find((warning) => warning.line === 7)?.reason).toContain("missing ':'")
    expect(parsed.warnings.find((warning) => warning.line === 14)?.reason).toContain('already used by "production"')
    expect(parsed.warnings.find((warning) => warning.line === 11)?.reason).toContain("invalid api_key format")
    expectNoKeys(JSON.stringify(parsed.warnings))
    // A key id may hold several keys (rotation), as in the seed.
    const production = parsed.entries.filter((entry) => entry.keyId === "production").map((entry) => entry.hash)
    expect(production).toStrictEqual([ApiKey.hash("sk-prod-abc123def456"), ApiKey.hash("sk-prod-second-key-0001")])
  })

  it("the hashed form gives the same decisions and the same hashes", async () => {
    for (const name of ["seed-example.txt", "mixed.txt"]) {
      const plain = await readFixture(name)
      const hashed = hashLines(plain)
      expect(hashed).toContain(":sha256:")
      expect(hashed).not.toContain("sk-prod-abc123def456")
      const fromPlain = ApiKeyFile.parse(plain)
      const fromHashed = ApiKeyFile.parse(hashed)
      expect(decisionsOf(fromHashed)).toStrictEqual(decisionsOf(fromPlain))
      expect(fromHashed.entries).toStrictEqual(fromPlain.entries)
    }
  })

  it("a key and its hash on two lines are one key, and hex digits may be upper case", () => {
    const hash = ApiKey.hash("sk-prod-abc123def456")
    const parsed = ApiKeyFile.parse(
      ["one:sk-prod-abc123def456", `two:${hash}`, `three:sha256:${hash.slice(7).toUpperCase()}`].join("\n")
    )
    expect(decisionsOf(parsed)).toStrictEqual({
      accepted: ["one"],
      skipped: [
        { line: 2, keyId: "two" },
        { line: 3, keyId: "three" }
      ]
    })
    expect(ApiKeyFile.parse(`up:sha256:${hash.slice(7).toUpperCase()}`).entries).toStrictEqual([{ keyId: "up", hash }])
    expect(decisionsOf(ApiKeyFile.parse(`short:sha256:${"a".repeat(63)}`)).skipped).toStrictEqual([
      { line: 1, keyId: "short" }
    ])
  })

  it("reads CRLF, lone CR and a byte order mark", () => {
    const parsed = ApiKeyFile.parse("\uFEFFa:sk-a-0123456789abcdef\r\nb:sk-b-0123456789abcdef\rc:short\r\n")
    expect(decisionsOf(parsed)).toStrictEqual({ accepted: ["a", "b"], skipped: [{ line: 3, keyId: "c" }] })
  })

  it("key ids and keys are ASCII letters, digits, '-' and '_' only", () => {
    const parsed = ApiKeyFile.parse("clé:sk-unicode-0123456789\nunicode:sk-ünïcode-0123456789\n")
    expect(decisionsOf(parsed)).toStrictEqual({ accepted: [], skipped: [{ line: 1 }, { line: 2, keyId: "unicode" }] })
  })

  describe("JSON", () => {
    it("reads metadata and skips bad entries with warnings that never hold a key", async () => {
      const parsed = ApiKeyFile.parse(await readFixture("api-keys.json"))
      expect(parsed.format).toBe("json")
      expect(decisionsOf(parsed)).toStrictEqual({
        accepted: ["production", "batch", "retired", "suspended"],
        skipped: [
          { line: 5, keyId: "short" },
          { line: 6, keyId: "typo" }, // unknown field "disabeld": never silently ignored
          { line: 7, keyId: "both" },
          { line: 8 }, // invalid keyId and date
          { line: 9, keyId: "copy" }
        ]
      })
      expect(parsed.warnings.find((warning) => warning.line === 6)?.reason).toContain('"disabeld"')
      expectNoKeys(JSON.stringify(parsed.warnings))
      expect(parsed.entries[0]).toStrictEqual({
        keyId: "production",
        hash: ApiKey.hash("sk-prod-abc123def456"),
        metadata: {
          groups: ["clients"],
          roles: ["chat"],
          permissions: ["chat:write", "models:read"],
          rateLimitPerMinute: 500
        }
      })
      expect(parsed.entries[1]).toStrictEqual({ keyId: "batch", hash: ApiKey.hash("sk-batch-0123456789abcdef") })
      expect(parsed.entries[2]?.metadata?.expiresAt?.toISOString()).toBe("2020-01-01T00:00:00.000Z")
      expect(parsed.entries[3]?.metadata).toStrictEqual({ disabled: true })
    })

    it('accepts { "keys": [...] } and refuses other documents without quoting them', () => {
      const parsed = ApiKeyFile.parse('{ "keys": [{ "keyId": "a", "key": "sk-a-0123456789abcdef" }] }')
      expect(decisionsOf(parsed)).toStrictEqual({ accepted: ["a"], skipped: [] })

      const broken = ApiKeyFile.parse('[{ "keyId": "a", "key": "sk-prod-abc123def456" ')
      expect(broken).toStrictEqual({
        entries: [],
        warnings: [{ line: 0, reason: "the file is not valid JSON" }],
        format: "json"
      })
      expect(ApiKeyFile.parse('{ "production": "sk-prod-abc123def456" }').warnings).toStrictEqual([
        { line: 0, reason: 'expected an array of keys or { "keys": [...] }' }
      ])
    })

    it("a wrongly typed value is not quoted either", () => {
      const parsed = ApiKeyFile.parse(
        JSON.stringify([
          { keyId: "a", key: 1234567890123456 },
          { keyId: "b", hash: ["sk-prod-abc123def456"] },
          { keyId: "c", key: "sk-c-0123456789abcdef", note: "sk-prod-abc123def456" }
        ])
      )
      expect(decisionsOf(parsed).skipped).toStrictEqual([
        { line: 1, keyId: "a" },
        { line: 2, keyId: "b" },
        { line: 3, keyId: "c" }
      ])
      const rendered = JSON.stringify(parsed.warnings)
      expectNoKeys(rendered)
      expect(rendered).not.toContain("1234567890123456")
    })

    it("format: 'json' reads a file that does not start with a bracket", () => {
      const parsed = ApiKeyFile.parse("production:sk-prod-abc123def456", { format: "json" })
      expect(parsed.entries).toStrictEqual([])
      expect(parsed.warnings).toStrictEqual([{ line: 0, reason: "the file is not valid JSON" }])
    })
  })
})

describe("ApiKeyFile.formatLine", () => {
  it("writes key_id:sha256:<hex> and refuses what the file would skip", () => {
    expect(ApiKeyFile.formatLine("production", "sk-prod-abc123def456")).toBe(
      `production:${ApiKey.hash("sk-prod-abc123def456")}`
    )
    expect(ApiKeyFile.formatLine("production", "sk-prod-abc123def456")).toMatch(/^production:sha256:[0-9a-f]{64}$/)
    expect(() => ApiKeyFile.formatLine("bad id", "sk-prod-abc123def456")).toThrow(TypeError)
    expect(() => ApiKeyFile.formatLine("ok", "sk-alice-xyz789")).toThrow(TypeError)
    expect(() => ApiKeyFile.formatLine("ok", "sk-alice-xyz789")).not.toThrow(/xyz789/)
  })
})

const lookup = (store: ApiKey.ApiKeyStore, key: string) =>
  Effect.map(
    store.lookup(Redacted.make(key)),
    Option.map((entry) => entry.keyId)
  )

const tempDirectory = Effect.acquireRelease(
  Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "effect-auth-api-keys-"))),
  (directory) => Effect.promise(() => Fs.rm(directory, { recursive: true, force: true }))
)

const buildStore = (path: string, options?: ApiKeyFile.Options) =>
  Effect.map(Layer.build(ApiKeyFile.layer(path, options)), Context.get(ApiKey.ApiKeyStore))

describe("ApiKeyFile.layer", () => {
  it.effect("loads the seed's example and logs skipped lines without keys", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const store = yield* ApiKey.ApiKeyStore
      expect(yield* store.size).toBe(1)
      expect(yield* lookup(store, "sk-prod-abc123def456")).toStrictEqual(Option.some("production"))
      expect(yield* lookup(store, "sk-alice-xyz789")).toStrictEqual(Option.none())
      expect(logs.lines.some((line) => line.includes('line 3 (key_id \\"alice-laptop\\")'))).toBe(true)
      expectNoKeys(logs.lines.join("\n"))
    }).pipe(Effect.provide(ApiKeyFile.layer(fixture("seed-example.txt"), { watch: false })), Effect.provide(logs.layer))
  })

  it.effect("reads the JSON form by the file name", () =>
    Effect.gen(function* () {
      const store = yield* ApiKey.ApiKeyStore
      expect(yield* store.size).toBe(4)
      const found = yield* store.lookup(Redacted.make("sk-prod-abc123def456"))
      expect(Option.getOrThrow(found).metadata?.rateLimitPerMinute).toBe(500)
    }).pipe(Effect.provide(ApiKeyFile.layer(fixture("api-keys.json"), { watch: false })))
  )

  it.effect("a missing file is a ConfigError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Layer.build(ApiKeyFile.layer(fixture("no-such-file.txt"))).pipe(Effect.scoped))
      assert(ConfigError.isConfigError(error))
      expect(error._op).toBe("InvalidData")
      expect(String(error)).toContain("ENOENT")
    })
  )

  it.scopedLive("a file without valid keys fails closed, with a warning", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const directory = yield* tempDirectory
      const path = Path.join(directory, "api_keys.txt")
      yield* Effect.promise(() => Fs.writeFile(path, "# no keys yet\nalice-laptop:sk-alice-xyz789\n"))
      const store = yield* buildStore(path, { watch: false })
      expect(yield* store.size).toBe(0)
      expect(yield* lookup(store, "sk-alice-xyz789")).toStrictEqual(Option.none())
      expect(logs.lines.some((line) => line.includes("has no valid keys: every API key is refused"))).toBe(true)
    }).pipe(Effect.provide(logs.layer))
  })
})

describe("ApiKeyFile hot reload", () => {
  const poll = Duration.millis(100)
  const A = "sk-a-0123456789abcdef"
  const B = "sk-b-0123456789abcdef"
  const C = "sk-c-0123456789abcdef"

  interface Watch {
    /** Keys that must be accepted at every moment. */
    readonly always: ReadonlyArray<string>
    /** Keys that, once refused, must never be accepted again. */
    readonly revoked: ReadonlyArray<string>
    /** Keys that, once accepted, must never be refused again. */
    readonly added: ReadonlyArray<string>
  }

  /** Looks keys up in a loop in parallel with the test, and records every wrong answer. */
  const monitor = (store: ApiKey.ApiKeyStore, watch: Watch) =>
    Effect.gen(function* () {
      const errors = yield* Ref.make<ReadonlyArray<string>>([])
      const refused = new Set<string>()
      const accepted = new Set<string>()
      let rounds = 0
      const round = Effect.gen(function* () {
        rounds++
        for (const key of watch.always) {
          if (Option.isNone(yield* store.lookup(Redacted.make(key)))) {
            yield* Ref.update(errors, (all) => [...all, `refused a key present in both files (round ${rounds})`])
          }
        }
        for (const key of watch.revoked) {
          const found = Option.isSome(yield* store.lookup(Redacted.make(key)))
          if (!found) refused.add(key)
          else if (refused.has(key)) yield* Ref.update(errors, (all) => [...all, "accepted a revoked key again"])
        }
        for (const key of watch.added) {
          const found = Option.isSome(yield* store.lookup(Redacted.make(key)))
          if (found) accepted.add(key)
          else if (accepted.has(key)) yield* Ref.update(errors, (all) => [...all, "refused an added key again"])
        }
        yield* Effect.sleep(Duration.millis(1))
      })
      const fiber = yield* Effect.fork(Effect.forever(round))
      return {
        stop: Effect.gen(function* () {
          yield* Fiber.interrupt(fiber)
          expect(rounds).toBeGreaterThan(10)
          return yield* Ref.get(errors)
        })
      }
    })

  /** Waits (up to 3 s) until the condition holds. */
  const eventually = (condition: Effect.Effect<boolean>) =>
    condition.pipe(
      Effect.filterOrFail((ok) => ok),
      Effect.retry(Schedule.spaced(Duration.millis(10))),
      Effect.timeoutFail({ duration: Duration.seconds(3), onTimeout: () => new Error("condition not met in 3 s") }),
      Effect.orDie
    )

  const accepts = (store: ApiKey.ApiKeyStore, key: string) =>
    Effect.map(store.lookup(Redacted.make(key)), Option.isSome).pipe(Effect.orDie)

  const setup = (
    contents: string,
    options?: ApiKeyFile.Options
  ): Effect.Effect<
    { readonly path: string; readonly store: ApiKey.ApiKeyStore; readonly logs: ReadonlyArray<string> },
    never,
    Scope.Scope
  > =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const directory = yield* tempDirectory
      const path = Path.join(directory, "api_keys.txt")
      yield* Effect.promise(() => Fs.writeFile(path, contents))
      const store = yield* buildStore(path, { pollInterval: poll, ...options }).pipe(
        Effect.provide(logs.layer),
        Effect.orDie
      )
      return { path, store, logs: logs.lines }
    })

  const write = (path: string, contents: string) => Effect.promise(() => Fs.writeFile(path, contents))

  it.scopedLive("adds a key", () =>
    Effect.gen(function* () {
      const { path, store } = yield* setup(`a:${A}\n`)
      const watch = yield* monitor(store, { always: [A], revoked: [], added: [B] })
      yield* write(path, `a:${A}\n${ApiKeyFile.formatLine("b", B)}\n`)
      yield* eventually(accepts(store, B))
      yield* Effect.sleep(Duration.millis(250))
      expect(yield* watch.stop).toStrictEqual([])
      expect(yield* store.size).toBe(2)
    })
  )

  it.scopedLive("revokes a key", () =>
    Effect.gen(function* () {
      const { path, store } = yield* setup(`a:${A}\nb:${B}\n`)
      const watch = yield* monitor(store, { always: [A], revoked: [B], added: [] })
      yield* write(path, `a:${A}\n`)
      yield* eventually(Effect.map(accepts(store, B), (ok) => !ok))
      yield* Effect.sleep(Duration.millis(250))
      expect(yield* watch.stop).toStrictEqual([])
      expect(yield* store.size).toBe(1)
    })
  )

  it.scopedLive("a broken file keeps the old keys and says why, without keys", () =>
    Effect.gen(function* () {
      const { logs, path, store } = yield* setup(`a:${A}\nb:${B}\n`)
      const watch = yield* monitor(store, { always: [A, B], revoked: [], added: [] })
      yield* write(path, `this is not a key file\na:${A.slice(0, 10)}\n`)
      yield* eventually(Effect.sync(() => logs.some((line) => line.includes("changed but has no valid keys"))))
      yield* Effect.sleep(Duration.millis(250))
      expect(yield* watch.stop).toStrictEqual([])
      expect(logs.some((line) => line.includes("keeping the 2 key(s) loaded before"))).toBe(true)
      // Reported once, not at every poll.
      expect(logs.filter((line) => line.includes("changed but has no valid keys"))).toHaveLength(1)
      for (const line of logs) for (const key of [A, B, A.slice(0, 10)]) expect(line).not.toContain(key)

      // Once fixed, the file is read again.
      yield* write(path, `a:${A}\nc:${C}\n`)
      yield* eventually(accepts(store, C))
      expect(yield* accepts(store, B)).toBe(false)
    })
  )

  it.scopedLive("a file rewritten in place in two steps is loaded whole, never its first half", () =>
    Effect.gen(function* () {
      const { logs, path, store } = yield* setup(`a:${A}\nb:${B}\n`)
      const watch = yield* monitor(store, { always: [A, B], revoked: [], added: [C] })
      // The first step alone would hold only `a`: loading it would refuse `b` until the second step.
      yield* write(path, `a:${A}\n`)
      yield* Effect.sleep(Duration.millis(10))
      yield* Effect.promise(() => Fs.appendFile(path, `b:${B}\nc:${C}\n`))
      yield* eventually(accepts(store, C))
      yield* Effect.sleep(Duration.millis(250))
      expect(yield* watch.stop).toStrictEqual([])
      expect(logs.filter((line) => line.includes("reloaded"))).toEqual([expect.stringContaining("reloaded: 3 key(s)")])
    })
  )

  it.scopedLive("an empty file keeps the old keys", () =>
    Effect.gen(function* () {
      const { logs, path, store } = yield* setup(`a:${A}\nb:${B}\n`)
      const watch = yield* monitor(store, { always: [A, B], revoked: [], added: [] })
      yield* write(path, "")
      yield* eventually(Effect.sync(() => logs.some((line) => line.includes("changed but has no valid keys"))))
      yield* Effect.sleep(Duration.millis(250))
      expect(yield* watch.stop).toStrictEqual([])
      expect(yield* store.size).toBe(2)
    })
  )

  it.scopedLive("a deleted file keeps the old keys, and its replacement is read", () =>
    Effect.gen(function* () {
      const { logs, path, store } = yield* setup(`a:${A}\nb:${B}\n`)
      const watch = yield* monitor(store, { always: [A], revoked: [], added: [] })
      yield* Effect.promise(() => Fs.rm(path))
      yield* eventually(Effect.sync(() => logs.some((line) => line.includes("cannot be read (ENOENT)"))))
      expect(yield* store.size).toBe(2)
      yield* write(path, `a:${A}\n`)
      yield* eventually(Effect.map(store.size, (size) => size === 1))
      expect(yield* watch.stop).toStrictEqual([])
    })
  )

  it.scopedLive("a partly valid file replaces the old one, with warnings", () =>
    Effect.gen(function* () {
      const { logs, path, store } = yield* setup(`a:${A}\nb:${B}\n`)
      const watch = yield* monitor(store, { always: [A], revoked: [B], added: [] })
      yield* write(path, `a:${A}\nb:${B.slice(0, 12)}\n`)
      yield* eventually(Effect.map(accepts(store, B), (ok) => !ok))
      yield* Effect.sleep(Duration.millis(250))
      expect(yield* watch.stop).toStrictEqual([])
      expect(logs.some((line) => line.includes('line 2 (key_id \\"b\\")'))).toBe(true)
    })
  )

  it.scopedLive("a file replaced by a rename is picked up by the directory watch", () =>
    Effect.gen(function* () {
      // A poll interval far beyond the test: only the file-system watch can see the change.
      const { path, store } = yield* setup(`a:${A}\nb:${B}\n`, { pollInterval: Duration.minutes(10) })
      const watch = yield* monitor(store, { always: [A], revoked: [B], added: [C] })
      const next = `${path}.tmp`
      yield* write(next, `${ApiKeyFile.formatLine("a", A)}\n${ApiKeyFile.formatLine("c", C)}\n`)
      yield* Effect.promise(() => Fs.rename(next, path))
      yield* eventually(Effect.zipWith(accepts(store, C), accepts(store, B), (c, b) => c && !b))
      yield* Effect.sleep(Duration.millis(250))
      expect(yield* watch.stop).toStrictEqual([])
    })
  )

  it.scopedLive("watch: false never re-reads the file", () =>
    Effect.gen(function* () {
      const { path, store } = yield* setup(`a:${A}\n`, { watch: false })
      yield* write(path, `a:${A}\nb:${B}\n`)
      yield* Effect.sleep(Duration.millis(400))
      expect(yield* accepts(store, B)).toBe(false)
    })
  )
})
