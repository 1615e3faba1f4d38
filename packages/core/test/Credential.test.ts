import { AuthError, Credential } from "@effect-auth/core"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { Buffer } from "node:buffer"
import { inspect } from "node:util"

const basic = (userPass: string): string => `Basic ${Buffer.from(userPass, "utf8").toString("base64")}`

/** Every way a credential or an error could end up in a log line or a response body. */
const renderings = (value: unknown): ReadonlyArray<string> => [
  String(value),
  JSON.stringify(value),
  inspect(value, { depth: 10 }),
  ...(value instanceof Error ? [value.message] : [])
]

const expectNoSecret = (value: unknown, secrets: ReadonlyArray<string>) => {
  for (const rendering of renderings(value)) {
    for (const secret of secrets) {
      expect(rendering).not.toContain(secret)
    }
  }
}

describe("Credential.fromHeaders", () => {
  describe("Bearer", () => {
    it.effect("reads the token and keeps it redacted", () =>
      Effect.gen(function* () {
        const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
        const credential = yield* Credential.fromHeaders({ authorization: `Bearer ${token}` })
        assert(credential._tag === "Bearer")
        expect(Redacted.value(credential.token)).toBe(token)
        expectNoSecret(credential, [token, "c2lnbmF0dXJl"])
      })
    )

    it.effect("accepts the scheme in any case", () =>
      Effect.gen(function* () {
        for (const scheme of ["bearer", "BEARER", "BeArEr"]) {
          const credential = yield* Credential.fromHeaders({ authorization: `${scheme} abc.def-ghi_~+/==` })
          assert(credential._tag === "Bearer")
          expect(Redacted.value(credential.token)).toBe("abc.def-ghi_~+/==")
        }
      })
    )

    it.effect("ignores surrounding whitespace", () =>
      Effect.gen(function* () {
        const credential = yield* Credential.fromHeaders({ authorization: "  Bearer   tok123  " })
        assert(credential._tag === "Bearer")
        expect(Redacted.value(credential.token)).toBe("tok123")
      })
    )
  })

  describe("Basic", () => {
    it.effect("splits on the first ':' so the password may contain colons", () =>
      Effect.gen(function* () {
        const credential = yield* Credential.fromHeaders({ authorization: basic("alice:pa:ss:word") })
        assert(credential._tag === "Basic")
        expect(credential.username).toBe("alice")
        expect(Redacted.value(credential.password)).toBe("pa:ss:word")
        expectNoSecret(credential, ["pa:ss:word"])
      })
    )

    it.effect("accepts the scheme in any case", () =>
      Effect.gen(function* () {
        const encoded = Buffer.from("bob:hunter2").toString("base64")
        for (const scheme of ["basic", "BASIC", "bAsIc"]) {
          const credential = yield* Credential.fromHeaders({ authorization: `${scheme} ${encoded}` })
          assert(credential._tag === "Basic")
          expect(credential.username).toBe("bob")
          expect(Redacted.value(credential.password)).toBe("hunter2")
        }
      })
    )

    it.effect("decodes UTF-8 user names and passwords", () =>
      Effect.gen(function* () {
        const credential = yield* Credential.fromHeaders({ authorization: basic("José Ñúñez 日本:pässwörd✓") })
        assert(credential._tag === "Basic")
        expect(credential.username).toBe("José Ñúñez 日本")
        expect(Redacted.value(credential.password)).toBe("pässwörd✓")
      })
    )

    it.effect("accepts an empty password", () =>
      Effect.gen(function* () {
        const credential = yield* Credential.fromHeaders({ authorization: basic("alice:") })
        assert(credential._tag === "Basic")
        expect(credential.username).toBe("alice")
        expect(Redacted.value(credential.password)).toBe("")
      })
    )
  })

  describe("API keys", () => {
    it.effect("reads X-API-Key as an ApiKey credential", () =>
      Effect.gen(function* () {
        const credential = yield* Credential.fromHeaders({ "x-api-key": "ak_live_0123456789" })
        assert(credential._tag === "ApiKey")
        expect(Redacted.value(credential.key)).toBe("ak_live_0123456789")
        expect(credential.header).toBe("x-api-key")
        expectNoSecret(credential, ["ak_live_0123456789"])
      })
    )

    it.effect("reads a custom header, named in any case, instead of X-API-Key", () =>
      Effect.gen(function* () {
        const options = { apiKeyHeader: "X-Service-Token" }
        const credential = yield* Credential.fromHeaders({ "x-service-token": "svc-key-1" }, options)
        assert(credential._tag === "ApiKey")
        expect(Redacted.value(credential.key)).toBe("svc-key-1")
        expect(credential.header).toBe("x-service-token")

        const error = yield* Effect.flip(Credential.fromHeaders({ "x-api-key": "ak_live_0123456789" }, options))
        expect(error._tag).toBe("MissingCredentials")
        expect(error.reason).toBe("absent")
      })
    )

    it.effect("apiKeyHeader: false ignores X-API-Key entirely", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          Credential.fromHeaders({ "x-api-key": "ak_live_0123456789" }, { apiKeyHeader: false })
        )
        expect(error._tag).toBe("MissingCredentials")
        expect(error.reason).toBe("absent")

        // With the header off, an X-API-Key next to Authorization is not a second credential.
        const credential = yield* Credential.fromHeaders(
          { authorization: "Bearer tok123", "x-api-key": "ak_live_0123456789" },
          { apiKeyHeader: false }
        )
        expect(credential._tag).toBe("Bearer")
      })
    )
  })

  describe("size limits", () => {
    it.effect("accepts a value of exactly 16 KiB and refuses one byte more", () =>
      Effect.gen(function* () {
        expect(Credential.defaultMaxHeaderBytes).toBe(16 * 1024)
        const exact = `Bearer ${"a".repeat(16 * 1024 - "Bearer ".length)}`
        expect(exact.length).toBe(16 * 1024)
        const credential = yield* Credential.fromHeaders({ authorization: exact })
        expect(credential._tag).toBe("Bearer")

        const error = yield* Effect.flip(Credential.fromHeaders({ authorization: `${exact}a` }))
        expect(error._tag).toBe("InvalidCredentials")
        expect(error.reason).toBe("too-large")
      })
    )

    it.effect("measures bytes, not UTF-16 units", () =>
      Effect.gen(function* () {
        // 9,007 UTF-16 units but 18,007 UTF-8 bytes: over the limit in bytes only.
        const value = `Bearer ${"é".repeat(9000)}`
        expect(value.length).toBeLessThan(16 * 1024)
        expect(Buffer.byteLength(value)).toBeGreaterThan(16 * 1024)
        const error = yield* Effect.flip(Credential.fromHeaders({ authorization: value }))
        expect(error._tag).toBe("InvalidCredentials")
        expect(error.reason).toBe("too-large")

        // Same for the API key header.
        const apiKeyError = yield* Effect.flip(Credential.fromHeaders({ "x-api-key": "€".repeat(6000) }))
        expect(apiKeyError._tag).toBe("InvalidCredentials")
        expect(apiKeyError.reason).toBe("too-large")
      })
    )

    it.effect("refuses an oversized value inside a one-element array", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Credential.fromHeaders({ authorization: [`Bearer ${"a".repeat(20_000)}`] }))
        expect(error._tag).toBe("InvalidCredentials")
        expect(error.reason).toBe("too-large")
      })
    )

    it.effect("maxHeaderBytes changes the limit", () =>
      Effect.gen(function* () {
        const options = { maxHeaderBytes: 100 }
        const atLimit = `Bearer ${"a".repeat(93)}`
        expect(atLimit.length).toBe(100)
        const credential = yield* Credential.fromHeaders({ authorization: atLimit }, options)
        expect(credential._tag).toBe("Bearer")

        const error = yield* Effect.flip(Credential.fromHeaders({ authorization: `${atLimit}a` }, options))
        expect(error._tag).toBe("InvalidCredentials")
        expect(error.reason).toBe("too-large")

        // A larger limit admits what the default refuses.
        const big = `Bearer ${"a".repeat(20_000)}`
        const admitted = yield* Credential.fromHeaders({ authorization: big }, { maxHeaderBytes: 32 * 1024 })
        expect(admitted._tag).toBe("Bearer")
      })
    )
  })

  describe("several values", () => {
    it.effect("a one-element array is read like a string", () =>
      Effect.gen(function* () {
        const credential = yield* Credential.fromHeaders({ authorization: ["Bearer tok123"] })
        assert(credential._tag === "Bearer")
        expect(Redacted.value(credential.token)).toBe("tok123")
      })
    )

    it.effect("an empty array counts as no header", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Credential.fromHeaders({ authorization: [] }))
        expect(error._tag).toBe("MissingCredentials")
        expect(error.reason).toBe("absent")
      })
    )
  })

  interface Refusal {
    readonly name: string
    readonly headers: Credential.Headers
    readonly tag: "MissingCredentials" | "InvalidCredentials"
    readonly reason: AuthError.MissingCredentials["reason"] | AuthError.InvalidCredentials["reason"]
    /** Secrets the request presented: no rendering of the error may contain them. */
    readonly secrets?: ReadonlyArray<string>
  }

  const invalidUtf8 = Buffer.from([0x61, 0x6c, 0x69, 0x63, 0x65, 0x3a, 0xff, 0xfe, 0x73, 0x65, 0x63]).toString("base64")

  const refusals: ReadonlyArray<Refusal> = [
    { name: "no headers", headers: {}, tag: "MissingCredentials", reason: "absent" },
    { name: "unrelated headers only", headers: { accept: "*/*" }, tag: "MissingCredentials", reason: "absent" },
    { name: "empty Authorization", headers: { authorization: "" }, tag: "MissingCredentials", reason: "empty" },
    {
      name: "whitespace-only Authorization",
      headers: { authorization: " \t  " },
      tag: "MissingCredentials",
      reason: "empty"
    },
    { name: "empty X-API-Key", headers: { "x-api-key": "  " }, tag: "MissingCredentials", reason: "empty" },
    {
      name: "Bearer with no token",
      headers: { authorization: "Bearer" },
      tag: "InvalidCredentials",
      reason: "malformed"
    },
    {
      name: "Bearer and a space",
      headers: { authorization: "Bearer " },
      tag: "InvalidCredentials",
      reason: "malformed"
    },
    {
      name: "Bearer token with a space",
      headers: { authorization: "Bearer s3cr3t-tok3n other-part" },
      tag: "InvalidCredentials",
      reason: "malformed",
      secrets: ["s3cr3t-tok3n", "other-part"]
    },
    {
      name: "duplicate Bearer headers joined by fetch",
      headers: { authorization: "Bearer s3cr3t-first, Bearer s3cr3t-second" },
      tag: "InvalidCredentials",
      reason: "malformed",
      secrets: ["s3cr3t-first", "s3cr3t-second"]
    },
    {
      name: "Bearer token with a comma",
      headers: { authorization: "Bearer s3cr3t,tok3n" },
      tag: "InvalidCredentials",
      reason: "malformed",
      secrets: ["s3cr3t", "tok3n"]
    },
    {
      name: "Bearer token with a control character",
      headers: { authorization: "Bearer s3cr3t\u0000tok3n" },
      tag: "InvalidCredentials",
      reason: "malformed",
      secrets: ["s3cr3t", "tok3n"]
    },
    {
      name: "Basic with no value",
      headers: { authorization: "Basic " },
      tag: "InvalidCredentials",
      reason: "malformed"
    },
    {
      name: "Basic value that is not base64",
      headers: { authorization: "Basic s3cr3t!pa$$word" },
      tag: "InvalidCredentials",
      reason: "bad-encoding",
      secrets: ["s3cr3t!pa$$word"]
    },
    {
      name: "Basic value with broken padding",
      headers: { authorization: `${basic("alice:s3cr3t-pw")}=` },
      tag: "InvalidCredentials",
      reason: "bad-encoding",
      secrets: ["s3cr3t-pw", Buffer.from("alice:s3cr3t-pw").toString("base64")]
    },
    {
      name: "Basic value that is base64 of invalid UTF-8",
      headers: { authorization: `Basic ${invalidUtf8}` },
      tag: "InvalidCredentials",
      reason: "bad-encoding",
      secrets: [invalidUtf8]
    },
    {
      name: "Basic value without ':'",
      headers: { authorization: basic("s3cr3t-no-colon") },
      tag: "InvalidCredentials",
      reason: "malformed",
      secrets: ["s3cr3t-no-colon", Buffer.from("s3cr3t-no-colon").toString("base64")]
    },
    {
      name: "Basic value with an empty user name",
      headers: { authorization: basic(":s3cr3t-pw") },
      tag: "InvalidCredentials",
      reason: "malformed",
      secrets: ["s3cr3t-pw", Buffer.from(":s3cr3t-pw").toString("base64")]
    },
    {
      name: "Basic password with a NUL",
      headers: { authorization: basic("alice:s3cr3t\u0000pw") },
      tag: "InvalidCredentials",
      reason: "malformed",
      secrets: ["s3cr3t"]
    },
    {
      name: "Basic user name with a newline",
      headers: { authorization: basic("ali\nce:s3cr3t-pw") },
      tag: "InvalidCredentials",
      reason: "malformed",
      secrets: ["s3cr3t-pw"]
    },
    {
      name: "Basic password with DEL",
      headers: { authorization: basic("alice:s3cr3t\u007fpw") },
      tag: "InvalidCredentials",
      reason: "malformed",
      secrets: ["s3cr3t"]
    },
    {
      name: "two Authorization headers",
      headers: { authorization: ["Bearer s3cr3t-one", "Bearer s3cr3t-two"] },
      tag: "InvalidCredentials",
      reason: "multiple-headers",
      secrets: ["s3cr3t-one", "s3cr3t-two"]
    },
    {
      name: "two X-API-Key headers",
      headers: { "x-api-key": ["s3cr3t-key-1", "s3cr3t-key-2"] },
      tag: "InvalidCredentials",
      reason: "multiple-headers",
      secrets: ["s3cr3t-key-1", "s3cr3t-key-2"]
    },
    {
      name: "an over-long Bearer token",
      headers: { authorization: `Bearer s3cr3t${"x".repeat(16 * 1024)}` },
      tag: "InvalidCredentials",
      reason: "too-large",
      secrets: ["s3cr3t"]
    },
    {
      name: "an unknown scheme",
      headers: { authorization: 'Digest username="alice", response="s3cr3t-digest"' },
      tag: "InvalidCredentials",
      reason: "unsupported-scheme",
      secrets: ["s3cr3t-digest"]
    },
    {
      name: "a bare value with no scheme",
      headers: { authorization: "s3cr3t-bare-token" },
      tag: "InvalidCredentials",
      reason: "unsupported-scheme",
      secrets: ["s3cr3t-bare-token"]
    },
    {
      name: "Authorization and X-API-Key together",
      headers: { authorization: "Bearer s3cr3t-tok3n", "x-api-key": "s3cr3t-key" },
      tag: "InvalidCredentials",
      reason: "multiple-credentials",
      secrets: ["s3cr3t-tok3n", "s3cr3t-key"]
    },
    {
      name: "an API key with a space",
      headers: { "x-api-key": "s3cr3t key" },
      tag: "InvalidCredentials",
      reason: "malformed",
      secrets: ["s3cr3t"]
    }
  ]

  describe("refusals", () => {
    for (const refusal of refusals) {
      it.effect(`${refusal.name} → ${refusal.tag} "${refusal.reason}"`, () =>
        Effect.gen(function* () {
          const error = yield* Effect.flip(Credential.fromHeaders(refusal.headers))
          expect(error._tag).toBe(refusal.tag)
          expect(error.reason).toBe(refusal.reason)
          expect(AuthError.isAuthError(error)).toBe(true)
          expectNoSecret(error, refusal.secrets ?? [])
          // The synchronous parser gives the same answer.
          const parsed = Credential.parse(refusal.headers)
          assert(parsed instanceof AuthError.MissingCredentials || parsed instanceof AuthError.InvalidCredentials)
          expect(parsed._tag).toBe(refusal.tag)
          expect(parsed.reason).toBe(refusal.reason)
        })
      )
    }
  })

  it.effect("errors name the scheme for the challenge, never its value", () =>
    Effect.gen(function* () {
      const bearer = yield* Effect.flip(Credential.fromHeaders({ authorization: "Bearer a b" }))
      assert(bearer._tag === "InvalidCredentials")
      expect(bearer.scheme).toBe("Bearer")
      const basicError = yield* Effect.flip(Credential.fromHeaders({ authorization: basic("no-colon") }))
      assert(basicError._tag === "InvalidCredentials")
      expect(basicError.scheme).toBe("Basic")
      const apiKey = yield* Effect.flip(Credential.fromHeaders({ "x-api-key": "a b" }))
      assert(apiKey._tag === "InvalidCredentials")
      expect(apiKey.scheme).toBe("ApiKey")
    })
  )
})

describe("Credential.headersFromWeb", () => {
  it.effect("converts fetch Headers to lower-case names that fromHeaders reads", () =>
    Effect.gen(function* () {
      const headers = Credential.headersFromWeb(new Headers({ Authorization: "Bearer tok123", "X-Request-Id": "r1" }))
      expect(headers).toStrictEqual({ authorization: "Bearer tok123", "x-request-id": "r1" })
      const credential = yield* Credential.fromHeaders(headers)
      assert(credential._tag === "Bearer")
      expect(Redacted.value(credential.token)).toBe("tok123")

      const apiKey = yield* Credential.fromHeaders(Credential.headersFromWeb(new Headers({ "X-API-Key": "ak_1" })))
      assert(apiKey._tag === "ApiKey")
      expect(Redacted.value(apiKey.key)).toBe("ak_1")
    })
  )

  it.effect("repeated Authorization headers, joined by fetch, are refused", () =>
    Effect.gen(function* () {
      const web = new Headers()
      web.append("Authorization", "Bearer first")
      web.append("Authorization", "Bearer second")
      const error = yield* Effect.flip(Credential.fromHeaders(Credential.headersFromWeb(web)))
      expect(error._tag).toBe("InvalidCredentials")
      expect(error.reason).toBe("malformed")
    })
  )
})

describe("Credential.parse on random input", () => {
  // A small deterministic PRNG (mulberry32), so a failure reproduces.
  const random = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  const next = random(0x5eed)
  const int = (max: number) => Math.floor(next() * max)
  const pick = <A>(values: ReadonlyArray<A>): A => values[int(values.length)]!
  const string = (alphabet: string, length: number) =>
    Array.from({ length }, () => alphabet[int(alphabet.length)]).join("")
  const bytes = (length: number) => Uint8Array.from({ length }, () => int(256))

  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("")
  const token68 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="
  const anyUnit = () => String.fromCharCode(int(0x10000)) // includes lone surrogates and controls

  const value = (): string => {
    const length = int(48)
    switch (int(9)) {
      case 0:
        return Array.from({ length }, anyUnit).join("")
      case 1:
        return Buffer.from(bytes(length)).toString("latin1")
      case 2:
        return `${pick(["Bearer", "bearer", "BEARER", "Basic", "basic", "Digest", ""])}${pick([" ", "\t", "  ", ""])}${string(printable, length)}`
      case 3:
        return `${pick(["Basic ", "basic  ", "BASIC\t"])}${Buffer.from(bytes(length)).toString("base64")}`
      case 4:
        return `Basic ${Buffer.from(`${string(printable, int(8))}:${string(printable, int(8))}`).toString("base64")}`
      case 5:
        return `Basic ${string(token68, length)}`
      case 6:
        return `Bearer ${string(token68, length)}${pick(["", ", Bearer x", " ", "\u0000", "é"])}`
      case 7:
        return `${pick(["Bearer ", "Basic "])}${Array.from({ length }, anyUnit).join("")}`
      default:
        return `Bearer ${"a".repeat(16 * 1024 - 16 + int(32))}`
    }
  }

  const headers = (): Credential.Headers => {
    const authorization = pick<string | ReadonlyArray<string> | undefined>([
      value(),
      value(),
      value(),
      [value()],
      [value(), value()],
      undefined
    ])
    const apiKey = pick<string | undefined>([undefined, undefined, undefined, value(), string(printable, int(20))])
    return {
      ...(authorization === undefined ? {} : { authorization }),
      ...(apiKey === undefined ? {} : { "x-api-key": apiKey })
    }
  }

  // RFC 7230 whitespace and the list separator can never be part of a credential.
  const separators = /[\s,]/
  // eslint-disable-next-line no-control-regex
  const controls = /[\x00-\x1f\x7f]/

  it.effect("2,000 random headers never throw and always give a credential or a typed refusal", () =>
    Effect.gen(function* () {
      const outcomes = new Set<string>()
      for (let i = 0; i < 2000; i++) {
        const input = headers()
        const exit = yield* Effect.exit(Credential.fromHeaders(input))
        if (Exit.isFailure(exit)) {
          const failure = Cause.failureOption(exit.cause)
          assert(Option.isSome(failure), `defect for ${JSON.stringify(input)}: ${Cause.pretty(exit.cause)}`)
          const error = failure.value
          expect(error).toSatisfy(
            (e: unknown) => e instanceof AuthError.MissingCredentials || e instanceof AuthError.InvalidCredentials
          )
          outcomes.add(`${error._tag}:${error.reason}`)
          continue
        }
        const credential = exit.value
        outcomes.add(credential._tag)
        switch (credential._tag) {
          case "Bearer": {
            const token = Redacted.value(credential.token)
            expect(token.length).toBeGreaterThan(0)
            expect(token).not.toMatch(separators)
            expect(token).not.toMatch(controls)
            break
          }
          case "Basic": {
            expect(credential.username.length).toBeGreaterThan(0)
            expect(credential.username).not.toContain(":")
            expect(credential.username).not.toMatch(controls)
            expect(Redacted.value(credential.password)).not.toMatch(controls)
            break
          }
          case "ApiKey": {
            const key = Redacted.value(credential.key)
            expect(key.length).toBeGreaterThan(0)
            expect(key).not.toMatch(/\s/)
            expect(key).not.toMatch(controls)
            break
          }
        }
        // The synchronous parser agrees with the effect.
        expect(Credential.parse(input)).toStrictEqual(credential)
      }
      // The generator reaches both successes and the main refusals, so the loop tests something.
      for (const outcome of [
        "Bearer",
        "Basic",
        "ApiKey",
        "MissingCredentials:absent",
        "InvalidCredentials:malformed",
        "InvalidCredentials:bad-encoding",
        "InvalidCredentials:too-large",
        "InvalidCredentials:multiple-headers",
        "InvalidCredentials:multiple-credentials",
        "InvalidCredentials:unsupported-scheme"
      ]) {
        expect(outcomes).toContain(outcome)
      }
    })
  )
})
