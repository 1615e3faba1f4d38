/**
 * Hostile header maps through `Credential.parse` and `fromHeaders`, generated with fast-check (seeded).
 * The arbitraries aim at the corners on purpose: header lines repeated or empty, values at and around the
 * byte limit in one-, two-, three- and four-byte characters, lone surrogates, control and Unicode spaces,
 * schemes in any case, names in the wrong case, and a distinctive secret planted where a token, password or
 * key goes. Each run checks the parser against a small independent model of the structural refusals.
 */
import { AuthError, Credential } from "@effect-auth/core"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import fc from "fast-check"
import { Buffer } from "node:buffer"
import { performance } from "node:perf_hooks"
import { inspect } from "node:util"

const SEED = 0x0c4ed
const RUNS = 600
/** Generous: one call on a megabyte value is about a millisecond; a runaway regex would take seconds. */
const MAX_MILLIS_PER_CALL = 250

type Outcome = Credential.Credential | AuthError.MissingCredentials | AuthError.InvalidCredentials
type HeaderValue = string | ReadonlyArray<string> | undefined

const isRefusal = (outcome: Outcome): outcome is AuthError.MissingCredentials | AuthError.InvalidCredentials =>
  outcome instanceof AuthError.MissingCredentials || outcome instanceof AuthError.InvalidCredentials

/** Every way a credential or a refusal could reach a log line or a response body. */
const renderings = (value: unknown): ReadonlyArray<string> => [
  String(value),
  JSON.stringify(value) ?? "",
  inspect(value, { depth: 10, showHidden: true }),
  ...(value instanceof Error ? [value.message, value.stack ?? ""] : [])
]

// ---------------------------------------------------------------------------------------------------------
// Arbitraries

const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
/** A distinctive secret that cannot occur by chance in a fixed message. */
const secretArb = fc
  .string({ unit: fc.constantFrom(...letters), minLength: 20, maxLength: 20 })
  .map((tail) => `Zq7${tail}`)

/** One UTF-16 unit of any value: controls, lone surrogates, BOM, Unicode spaces included. */
const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code))
const dangerousUnit = fc.constantFrom(
  " ",
  "\t",
  "\r",
  "\n",
  "\u0000",
  "\u007f",
  "\u00a0",
  "\u2028",
  "\ufeff",
  "\ud800",
  "\udfff",
  "é",
  "😀",
  ",",
  "=",
  ":",
  '"',
  "%",
  ";"
)
const junkArb = fc.string({ unit: fc.oneof(anyUnit, dangerousUnit), maxLength: 12 })
const spaceArb = fc.constantFrom(" ", "\t", "  ", " \t", "", "\u00a0", "\u3000")

/** A word in random letter case: `BeArEr`. */
const anyCase = (word: string) =>
  fc
    .array(fc.boolean(), { minLength: word.length, maxLength: word.length })
    .map((upper) => Array.from(word, (c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(""))

const schemeArb = fc.oneof(anyCase("bearer"), anyCase("basic"), anyCase("digest"), fc.constant(""))
const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64")

/** Characters chosen so the value lands on either side of the byte limit in every UTF-8 width. */
const fillerUnit = fc.constantFrom("A", "é", "€", "😀", "\ud800")
const hugeArb = fc.record({
  unit: fillerUnit,
  count: fc.constantFrom(16 * 1024 - 40, 5_461, 5_462, 8_192, 70_000, 1_000_000)
})

/** Values carrying the secret where a token, password or key goes, and values that only look like one. */
const valueArb = (secret: string) =>
  fc.oneof(
    fc.tuple(schemeArb, spaceArb, junkArb, junkArb).map(([s, sp, a, b]) => `${a.slice(0, 1)}${s}${sp}${secret}${b}`),
    fc.tuple(anyCase("bearer"), spaceArb).map(([s, sp]) => `${s}${sp || " "}${secret}`),
    fc
      .tuple(schemeArb, spaceArb, junkArb, junkArb)
      .map(([s, sp, user, tail]) => `${s}${sp}${base64(`${user}:${secret}${tail}`)}`),
    fc.tuple(anyCase("basic"), junkArb).map(([s, tail]) => `${s} ${base64(`u:${secret}${tail}`)}`),
    fc.tuple(junkArb, junkArb).map(([a, b]) => `${a}${secret}${b}`),
    fc.constant(secret),
    fc.tuple(hugeArb, anyCase("bearer")).map(([{ count, unit }, s]) => `${s} ${secret}${unit.repeat(count)}`),
    fc.string({ unit: fc.oneof(anyUnit, dangerousUnit), maxLength: 64 }).map((junk) => `${junk}${secret}`)
  )

/** A header as a map holds it: a string, or the lines of `headersDistinct`, possibly none or repeated. */
const headerArb = (secret: string): fc.Arbitrary<HeaderValue> =>
  fc.oneof(
    { weight: 4, arbitrary: valueArb(secret) },
    { weight: 2, arbitrary: valueArb(secret).map((v) => [v]) },
    { weight: 1, arbitrary: fc.constant([]) },
    { weight: 1, arbitrary: fc.tuple(valueArb(secret), valueArb(secret)) },
    { weight: 1, arbitrary: valueArb(secret).map((v) => [v, v]) },
    { weight: 1, arbitrary: fc.constant(undefined) }
  )

const names = ["authorization", "Authorization", "AUTHORIZATION", "x-api-key", "X-Api-Key", "x-other"] as const

const caseArb = secretArb.chain((secret) =>
  fc.record({
    secret: fc.constant(secret),
    headers: fc.dictionary(fc.constantFrom(...names), headerArb(secret), { maxKeys: 3 }),
    options: fc.record({
      apiKeyHeader: fc.constantFrom(undefined, false as const, "x-api-key", "X-Other"),
      maxHeaderBytes: fc.constantFrom(undefined, 64, 16 * 1024, 4 * 1024 * 1024),
      bareApiKey: fc.boolean()
    })
  })
)

// ---------------------------------------------------------------------------------------------------------
// The model of the structural refusals: which header lines count, duplicates, size, two credentials.

type Read = { readonly _tag: "absent" } | { readonly _tag: "refused"; readonly reason: string } | string

const readHeader = (value: HeaderValue, maxBytes: number): Read => {
  if (value === undefined) return { _tag: "absent" }
  if (typeof value !== "string" && value.length > 1) return { _tag: "refused", reason: "multiple-headers" }
  const line = typeof value === "string" ? value : value[0]
  if (line === undefined) return { _tag: "absent" }
  return Buffer.byteLength(line, "utf8") > maxBytes ? { _tag: "refused", reason: "too-large" } : line
}

/** The refusal reason the model predicts before any scheme is read, or the value that is then parsed. */
const structural = (
  headers: Credential.Headers,
  options: Credential.Options
): { readonly reason: string } | { readonly authorization: string } | { readonly apiKey: string } | "absent" => {
  const maxBytes = options.maxHeaderBytes ?? Credential.defaultMaxHeaderBytes
  // Only the lower-case name is the header: maps are keyed as node and fetch give them.
  const authorization = readHeader(headers["authorization"], maxBytes)
  if (typeof authorization !== "string" && authorization._tag === "refused") return authorization
  const keyName = options.apiKeyHeader === false ? undefined : (options.apiKeyHeader ?? "x-api-key").toLowerCase()
  const apiKey: Read = keyName === undefined ? { _tag: "absent" } : readHeader(headers[keyName], maxBytes)
  if (typeof apiKey !== "string" && apiKey._tag === "refused") return apiKey
  if (typeof authorization === "string" && typeof apiKey === "string") return { reason: "multiple-credentials" }
  if (typeof authorization === "string") return { authorization }
  if (typeof apiKey === "string") return { apiKey }
  return "absent"
}

// eslint-disable-next-line no-control-regex
const controls = /[\x00-\x1f\x7f]/
const token68 = /^[A-Za-z0-9\-._~+/]+=*$/

/** Checks an outcome against the model and the invariants every credential keeps. */
const checkOutcome = (headers: Credential.Headers, options: Credential.Options, outcome: Outcome) => {
  const expected = structural(headers, options)
  if (typeof expected === "object" && "reason" in expected) {
    assert(outcome instanceof AuthError.InvalidCredentials, `expected ${expected.reason}, got ${outcome._tag}`)
    expect(outcome.reason).toBe(expected.reason)
    return
  }
  if (expected === "absent") {
    assert(outcome instanceof AuthError.MissingCredentials, `expected absent, got ${outcome._tag}`)
    expect(outcome.reason).toBe("absent")
    return
  }
  if (isRefusal(outcome)) return
  if ("apiKey" in expected) {
    assert(outcome._tag === "ApiKey", `an API key header gave ${outcome._tag}`)
    // The key is the header's value, trimmed of nothing but spaces around it, and printable ASCII only.
    expect(Redacted.value(outcome.key)).toBe(expected.apiKey.trim())
    expect(Redacted.value(outcome.key)).toMatch(/^[\x21-\x7e]+$/)
    return
  }
  const value = expected.authorization
  const trimmed = value.trim()
  const space = trimmed.search(/[ \t]/)
  const scheme = (space < 0 ? trimmed : trimmed.slice(0, space)).toLowerCase()
  const rest = space < 0 ? "" : trimmed.slice(space + 1).trim()
  switch (outcome._tag) {
    case "Bearer": {
      expect(scheme).toBe("bearer")
      const token = Credential.bearerToken(outcome)
      // The token is exactly the rest of the one header line, never a join or a part of it.
      expect(token === rest || value === `Bearer ${token}`).toBe(true)
      expect(token).toMatch(token68)
      return
    }
    case "Basic": {
      expect(scheme).toBe("basic")
      const decoded = Buffer.from(rest, "base64").toString("utf8")
      expect(decoded).toBe(`${outcome.username}:${Redacted.value(outcome.password)}`)
      expect(outcome.username).not.toContain(":")
      expect(outcome.username.length).toBeGreaterThan(0)
      expect(controls.test(decoded)).toBe(false)
      return
    }
    case "ApiKey": {
      // Only the bare form reads a key from Authorization, and only when asked to.
      expect(options.bareApiKey).toBe(true)
      expect(outcome.header).toBe("authorization")
      expect(Redacted.value(outcome.key)).toBe(trimmed)
      expect(trimmed).toMatch(/^[A-Za-z0-9_-]{16,128}$/)
      return
    }
  }
}

const timed = <A>(run: () => A): { readonly value: A; readonly millis: number } => {
  const start = performance.now()
  const value = run()
  return { value, millis: performance.now() - start }
}

/** The Effect path's answer in the parser's terms; a defect fails the test. */
const viaEffect = (headers: Credential.Headers, options: Credential.Options): Outcome => {
  const exit = Effect.runSyncExit(Credential.fromHeaders(headers, options))
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.failureOption(exit.cause)
  assert(Option.isSome(failure), `fromHeaders died: ${Cause.pretty(exit.cause)}`)
  return failure.value
}

describe("Credential.parse on hostile header maps (fast-check)", () => {
  it("never throws, refuses by the model, keeps each credential to one line, and never renders the secret", () => {
    const seen = new Map<string, number>()
    let slowest = 0
    fc.assert(
      fc.property(caseArb, ({ headers, options, secret }) => {
        const { millis, value: outcome } = timed(() => Credential.parse(headers, options))
        slowest = Math.max(slowest, millis)
        expect(millis).toBeLessThan(MAX_MILLIS_PER_CALL)
        const key = isRefusal(outcome) ? `${outcome._tag}:${outcome.reason}` : outcome._tag
        seen.set(key, (seen.get(key) ?? 0) + 1)

        checkOutcome(headers, options, outcome)
        for (const rendering of renderings(outcome)) expect(rendering).not.toContain(secret)

        // The Effect path decides the same, with the same reason.
        const effect = viaEffect(headers, options)
        expect(effect._tag).toBe(outcome._tag)
        if (isRefusal(outcome) && isRefusal(effect)) expect(effect.reason).toBe(outcome.reason)
      }),
      { seed: SEED, numRuns: RUNS }
    )
    // The arbitraries reach every kind of answer often enough for the property to mean something.
    for (const outcome of [
      "Bearer",
      "Basic",
      "ApiKey",
      "MissingCredentials:absent",
      "InvalidCredentials:multiple-headers",
      "InvalidCredentials:too-large",
      "InvalidCredentials:multiple-credentials",
      "InvalidCredentials:malformed",
      "InvalidCredentials:unsupported-scheme"
    ]) {
      expect(seen.get(outcome) ?? 0, `${outcome} in ${JSON.stringify([...seen])}`).toBeGreaterThan(3)
    }
    expect(slowest).toBeLessThan(MAX_MILLIS_PER_CALL)
  })

  it("measures the byte limit in UTF-8 whatever the characters, on both sides of it", () => {
    const unitArb = fc.constantFrom("A", "é", "€", "😀", "\ud800", "\udc00")
    fc.assert(
      fc.property(unitArb, fc.integer({ min: 1, max: 64 }), fc.integer({ min: 16, max: 200 }), (unit, count, max) => {
        const value = `Bearer ${unit.repeat(count)}`
        const outcome = Credential.parse({ authorization: value }, { maxHeaderBytes: max })
        const tooLarge = outcome instanceof AuthError.InvalidCredentials && outcome.reason === "too-large"
        expect(tooLarge, `${JSON.stringify(value)} (${Buffer.byteLength(value)} bytes) under ${max}`).toBe(
          Buffer.byteLength(value, "utf8") > max
        )
      }),
      { seed: SEED + 1, numRuns: 1_000 }
    )
  })

  it("reads a Bearer scheme in any case with any spaces around, and nothing else as Bearer", () => {
    const tokenArb = fc.string({ unit: fc.constantFrom(..."AZaz09-._~+/"), minLength: 1, maxLength: 40 })
    const padding = fc.constantFrom("", "=", "==")
    const around = fc.constantFrom("", " ", "\t", " \t ")
    fc.assert(
      fc.property(anyCase("bearer"), around, fc.constantFrom(" ", "\t", "  "), tokenArb, padding, around, (...p) => {
        const [scheme, before, gap, body, pad, after] = p
        const outcome = Credential.parse({ authorization: `${before}${scheme}${gap}${body}${pad}${after}` })
        assert(outcome._tag === "Bearer", `${JSON.stringify(p)} gave ${outcome._tag}`)
        expect(Credential.bearerToken(outcome)).toBe(`${body}${pad}`)
      }),
      { seed: SEED + 2, numRuns: 500 }
    )
  })
})
