/**
 * Hostile key files through `ApiKeyFile.parse`, generated with fast-check (seeded): valid lines mixed with
 * comments, blank lines, CRLF and lone CR endings, a BOM, duplicate keys and ids, over-long lines, broken
 * hashes and binary junk, in the line form and the JSON form. The entries are checked against an
 * independent reading of the lines the generator wrote as valid, and no warning may repeat a key.
 */
import { ApiKeyFile } from "@effect-auth/core"
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { createHash } from "node:crypto"
import { performance } from "node:perf_hooks"
import { inspect } from "node:util"

const SEED = 0xa91f11e
const MAX_MILLIS_PER_FILE = 500

const sha256 = (key: string) => `sha256:${createHash("sha256").update(key, "utf8").digest("hex")}`

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
const keyIdArb = fc.string({ unit: fc.constantFrom(..."abcXYZ019-_"), minLength: 1, maxLength: 6 })
/** Valid keys start with a marker no fixed message contains, so an echo is found by `includes`. */
const keyArb = fc
  .string({ unit: fc.constantFrom(...keyAlphabet), minLength: 13, maxLength: 125 })
  .map((tail) => `kY7${tail}`)
const hexArb = (length: number) =>
  fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF"), minLength: length, maxLength: length })
const spaceArb = fc.constantFrom("", " ", "\t", "  ", "\u00a0")

/** A line the file must accept, and the entry it stands for. */
interface ValidLine {
  readonly _tag: "valid"
  readonly text: string
  readonly keyId: string
  readonly hash: string
  readonly secret?: string
}
/** A line the file must skip; `secret` is what it must never repeat. */
interface SkippedLine {
  readonly _tag: "skipped"
  readonly text: string
  readonly secret?: string
}
/** A line that is no entry at all (blank or comment). */
interface QuietLine {
  readonly _tag: "quiet"
  readonly text: string
  readonly secret?: string
}
type Line = ValidLine | SkippedLine | QuietLine

const validLine: fc.Arbitrary<Line> = fc.oneof(
  fc.tuple(keyIdArb, keyArb, spaceArb, spaceArb, spaceArb).map(([keyId, key, a, b, c]) => ({
    _tag: "valid" as const,
    text: `${a}${keyId}${b}:${c}${key}${a}`,
    keyId,
    hash: sha256(key),
    secret: key
  })),
  fc.tuple(keyIdArb, hexArb(64), spaceArb).map(([keyId, hex, a]) => ({
    _tag: "valid" as const,
    text: `${keyId}:${a}sha256:${hex}${a}`,
    keyId,
    hash: `sha256:${hex.toLowerCase()}`
  }))
)

/** Control characters and Unicode without line breaks, so the generator knows where each line ends. */
const junkUnit = fc
  .integer({ min: 0, max: 0xffff })
  .filter((code) => code !== 0x0a && code !== 0x0d)
  .map((code) => String.fromCharCode(code))

const skippedLine: fc.Arbitrary<Line> = fc.oneof(
  // A key alone, as a careless edit leaves it: no separator.
  keyArb.map((key) => ({ _tag: "skipped" as const, text: key, secret: key })),
  // A bad key id in front of a good key.
  fc.tuple(fc.constantFrom("bad id", "a.b", "é", "a/b", "x y"), keyArb).map(([id, key]) => ({
    _tag: "skipped" as const,
    text: `${id}:${key}`,
    secret: key
  })),
  // Keys out of the grammar: too short, too long, foreign characters.
  fc.tuple(keyIdArb, keyArb, fc.constantFrom(".", "+", "/", "=", "é", "\u0000", " x")).map(([id, key, bad]) => ({
    _tag: "skipped" as const,
    text: `${id}:${key.slice(0, 8)}${bad}${key.slice(8)}`,
    secret: key.slice(3, 15)
  })),
  fc.tuple(keyIdArb, keyArb).map(([id, key]) => ({ _tag: "skipped" as const, text: `${id}:${key.slice(0, 15)}` })),
  fc.tuple(keyIdArb, keyArb).map(([id, key]) => ({
    _tag: "skipped" as const,
    text: `${id}:${key}${"Q".repeat(129)}`,
    secret: key
  })),
  // Hashes that are not 64 hex digits.
  fc
    .tuple(
      keyIdArb,
      fc.integer({ min: 0, max: 130 }).filter((n) => n !== 64)
    )
    .chain(([id, n]) => hexArb(n).map((hex) => ({ _tag: "skipped" as const, text: `${id}:sha256:${hex}` }))),
  fc.tuple(keyIdArb, hexArb(63), fc.constantFrom("g", "G", "-", " ", "é")).map(([id, hex, bad]) => ({
    _tag: "skipped" as const,
    text: `${id}:sha256:${hex}${bad}`
  })),
  // Binary junk with a separator in it, and over-long lines.
  fc.tuple(fc.string({ unit: junkUnit, maxLength: 40 }), keyArb).map(([junk, key]) => ({
    _tag: "skipped" as const,
    text: `${junk.replace(/^[\s#]+/, "x")}:${junk}\u0001${key}`,
    secret: key
  })),
  keyArb.map((key) => ({ _tag: "skipped" as const, text: `id:${key}${"x".repeat(100_000)}`, secret: key }))
)

const quietLine: fc.Arbitrary<Line> = fc.oneof(
  fc.constantFrom("", " ", "\t", "\u00a0", "\ufeff").map((text) => ({ _tag: "quiet" as const, text })),
  // A commented-out key: it must stay out of the entries and out of every warning.
  fc.tuple(spaceArb, keyIdArb, keyArb).map(([a, id, key]) => ({
    _tag: "quiet" as const,
    text: `${a}# ${id}:${key}`,
    secret: key
  }))
)

/** A separate file's lines: mixed, with repeats of earlier lines (duplicate keys and ids). */
const fileArb = fc
  .array(fc.oneof({ weight: 3, arbitrary: validLine }, { weight: 3, arbitrary: skippedLine }, quietLine), {
    minLength: 1,
    maxLength: 30
  })
  .chain((lines) =>
    fc.record({
      lines: fc
        .array(fc.nat({ max: lines.length - 1 }), { maxLength: 4 })
        .map((repeats) => [...lines, ...repeats.map((index) => lines[index]!)]),
      endings: fc.array(fc.constantFrom("\n", "\r\n", "\r"), { minLength: 40, maxLength: 40 }),
      bom: fc.boolean(),
      finalNewline: fc.boolean()
    })
  )

/** The entries an independent reader expects: every valid line, the first line of each hash only. */
const expectedEntries = (lines: ReadonlyArray<Line>) => {
  const seen = new Set<string>()
  const entries: Array<{ keyId: string; hash: string }> = []
  for (const line of lines) {
    if (line._tag !== "valid" || seen.has(line.hash)) continue
    seen.add(line.hash)
    entries.push({ keyId: line.keyId, hash: line.hash })
  }
  return entries
}

const renderings = (value: unknown) => [JSON.stringify(value), inspect(value, { depth: 10 })]

describe("ApiKeyFile.parse on hostile files (fast-check)", () => {
  it("accepts exactly the valid lines (first of each key), skips the rest, and never repeats a key", () => {
    let skippedWithWarnings = 0
    fc.assert(
      fc.property(fileArb, ({ bom, endings, finalNewline, lines }) => {
        const body = lines.map((line, index) => `${line.text}${endings[index % endings.length]}`).join("")
        const text = `${bom ? "\ufeff" : ""}${finalNewline ? body : body.replace(/(\r\n|\r|\n)$/, "")}`
        // A file that opens with `[` or `{` is read as JSON: that form has its own property below.
        fc.pre(!/^\s*[[{]/.test(text.replace(/^\ufeff/, "")))
        const start = performance.now()
        const parsed = ApiKeyFile.parse(text)
        expect(performance.now() - start).toBeLessThan(MAX_MILLIS_PER_FILE)

        expect(parsed.format).toBe("lines")
        expect(parsed.entries.map(({ hash, keyId }) => ({ keyId, hash }))).toStrictEqual(expectedEntries(lines))
        // One warning per skipped line and per repeated key; blank lines and comments are silent.
        const skipped = lines.filter((line) => line._tag === "skipped").length
        const repeats = lines.filter((line) => line._tag === "valid").length - parsed.entries.length
        expect(parsed.warnings.length).toBe(skipped + repeats)
        skippedWithWarnings += skipped
        // Warnings name lines that exist, counted as the file's line endings count them.
        for (const warning of parsed.warnings) {
          expect(warning.line).toBeGreaterThanOrEqual(1)
          expect(warning.line).toBeLessThanOrEqual(lines.length)
        }
        for (const rendering of renderings(parsed.warnings)) {
          for (const line of lines) if (line.secret !== undefined) expect(rendering).not.toContain(line.secret)
        }
      }),
      { seed: SEED, numRuns: 300 }
    )
    expect(skippedWithWarnings).toBeGreaterThan(300)
  })

  it("reads JSON files of mixed entries: exactly the valid ones, never a key in a warning, whatever is broken", () => {
    const entryArb = fc.oneof(
      fc.tuple(keyIdArb, keyArb).map(([keyId, key]) => ({ valid: true, keyId, key, item: { keyId, key } })),
      fc.tuple(keyIdArb, hexArb(64)).map(([keyId, hex]) => ({
        valid: true,
        keyId,
        key: undefined,
        hash: `sha256:${hex.toLowerCase()}`,
        item: { keyId, hash: `sha256:${hex}` }
      })),
      // Both or neither of key and hash, a misspelt field, a bad key, a bad id, a wrong type.
      fc.tuple(keyIdArb, keyArb, hexArb(64)).map(([keyId, key, hex]) => ({
        valid: false,
        keyId,
        key,
        item: { keyId, key, hash: `sha256:${hex}` }
      })),
      fc
        .tuple(keyIdArb, keyArb)
        .map(([keyId, key]) => ({ valid: false, keyId, key, item: { keyId, key, disabeld: true } })),
      fc.tuple(keyIdArb, keyArb).map(([keyId, key]) => ({ valid: false, keyId, key, item: { keyId, key: `${key}.` } })),
      keyArb.map((key) => ({ valid: false, keyId: "", key, item: { keyId: "a b", key } })),
      keyArb.map((key) => ({ valid: false, keyId: "", key, item: [key] })),
      keyArb.map((key) => ({ valid: false, keyId: "", key, item: { keyId: 7, key } })),
      fc.tuple(keyIdArb, keyArb).map(([keyId, key]) => ({
        valid: false,
        keyId,
        key,
        item: { keyId, key, rateLimitPerMinute: -1 }
      }))
    )
    fc.assert(
      fc.property(
        fc.array(entryArb, { maxLength: 12 }),
        fc.boolean(),
        fc.option(fc.nat({ max: 400 }), { nil: undefined }),
        (entries, wrapped, cut) => {
          const items = entries.map((entry) => entry.item)
          const json = JSON.stringify(wrapped ? { keys: items } : items, null, 1).replace(/\n/g, "\r\n")
          // A file cut short (a write in progress) must not leak the key next to where JSON.parse stopped.
          const text = cut === undefined ? json : json.slice(0, cut)
          const parsed = ApiKeyFile.parse(`\ufeff${text}`)
          const secrets = entries.flatMap((entry) => (entry.key === undefined ? [] : [entry.key]))
          for (const rendering of renderings(parsed.warnings)) {
            for (const secret of secrets) expect(rendering).not.toContain(secret)
          }
          if (cut !== undefined && cut < json.length) {
            expect(parsed.entries).toStrictEqual([])
            return
          }
          expect(parsed.format).toBe("json")
          const seen = new Set<string>()
          const expected: Array<{ keyId: string; hash: string }> = []
          for (const entry of entries) {
            if (!entry.valid) continue
            const hash = entry.key === undefined ? entry.hash! : sha256(entry.key)
            if (seen.has(hash)) continue
            seen.add(hash)
            expected.push({ keyId: entry.keyId, hash })
          }
          expect(parsed.entries.map(({ hash, keyId }) => ({ keyId, hash }))).toStrictEqual(expected)
        }
      ),
      { seed: SEED + 1, numRuns: 300 }
    )
  })
})
