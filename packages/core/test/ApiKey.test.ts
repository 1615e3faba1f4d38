import { ApiKey, Authenticator, Credential } from "@effect-auth/core"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { inspect } from "node:util"

const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make((options) => {
    lines.push(Logger.logfmtLogger.log(options))
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

const renderings = (value: unknown): ReadonlyArray<string> => [
  String(value),
  JSON.stringify(value),
  inspect(value, { depth: 10 }),
  ...(value instanceof Error ? [value.message] : [])
]

const PRODUCTION = "sk-prod-abc123def456"
const CI = "sk-ci-0123456789abcdef"
const EXPIRING = "sk-expiring-0123456789"
const DISABLED = "sk-disabled-0123456789"
const UNKNOWN = "sk-unknown-0123456789"

const entries: ReadonlyArray<ApiKey.Entry> = [
  {
    keyId: "production",
    hash: ApiKey.hash(PRODUCTION),
    metadata: { groups: ["clients"], roles: ["chat"], permissions: ["models:read"], rateLimitPerMinute: 500 }
  },
  { keyId: "ci", hash: ApiKey.hash(CI) },
  { keyId: "expiring", hash: ApiKey.hash(EXPIRING), metadata: { expiresAt: new Date(60_000) } },
  { keyId: "disabled", hash: ApiKey.hash(DISABLED), metadata: { disabled: true } }
]

const AuthLive = Authenticator.layer([ApiKey.provider()], { credentials: { bareApiKey: true } }).pipe(
  Layer.provide(ApiKey.layerMemory(entries))
)

const authenticate = (headers: Credential.Headers) =>
  Effect.flatMap(Authenticator.Authenticator, (authenticator) => authenticator.authenticate(headers))

describe("ApiKey", () => {
  it("hash is sha256: and the lowercase hex SHA-256 of the UTF-8 bytes", () => {
    // FIPS 180-2 test vector for "abc".
    expect(ApiKey.hash("abc")).toBe("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    expect(ApiKey.isValidHash(ApiKey.hash(PRODUCTION))).toBe(true)
    expect(ApiKey.isValidHash(ApiKey.hash(PRODUCTION).toUpperCase())).toBe(false)
  })

  it("the key grammar: 16 to 128 ASCII letters, digits, '-' and '_'", () => {
    expect(ApiKey.isValidKey("a".repeat(15))).toBe(false)
    expect(ApiKey.isValidKey("a".repeat(16))).toBe(true)
    expect(ApiKey.isValidKey("a".repeat(128))).toBe(true)
    expect(ApiKey.isValidKey("a".repeat(129))).toBe(false)
    expect(ApiKey.isValidKey("sk-prod_ABC-123def456")).toBe(true)
    for (const bad of [
      "sk-prod.abc123def456",
      "sk-prod abc123def456",
      "sk-prod=abc123def456",
      "sk-pröd-abc123def456"
    ]) {
      expect(ApiKey.isValidKey(bad)).toBe(false)
    }
    expect(ApiKey.isValidKeyId("alice-laptop_2")).toBe(true)
    for (const bad of ["", "alice laptop", "alice:laptop", "clé"]) expect(ApiKey.isValidKeyId(bad)).toBe(false)
  })

  it("generate makes valid, distinct keys with 256 random bits and a recognisable prefix", () => {
    const keys = Array.from({ length: 100 }, () => ApiKey.generate())
    expect(new Set(keys).size).toBe(100)
    for (const key of keys) {
      expect(key).toMatch(/^sk-[A-Za-z0-9_-]{43}$/)
      expect(ApiKey.isValidKey(key)).toBe(true)
      expect(Buffer.from(key.slice(3), "base64url")).toHaveLength(32)
    }
    expect(ApiKey.generate({ prefix: "sk-live-" })).toMatch(/^sk-live-[A-Za-z0-9_-]{43}$/)
    expect(() => ApiKey.generate({ prefix: "sk.live." })).toThrow(TypeError)
    expect(() => ApiKey.generate({ prefix: "p".repeat(86) })).toThrow(TypeError)
  })

  describe("makeMemory", () => {
    it.effect("looks keys up by hash; the first of two entries with one hash wins; bad hashes are ignored", () =>
      Effect.gen(function* () {
        const store = ApiKey.makeMemory([
          { keyId: "first", hash: ApiKey.hash(PRODUCTION) },
          { keyId: "second", hash: ApiKey.hash(PRODUCTION) },
          { keyId: "upper", hash: ApiKey.hash(CI).toUpperCase() },
          { keyId: "plain", hash: CI }
        ])
        expect(yield* store.size).toBe(1)
        const found = yield* store.lookup(Redacted.make(PRODUCTION))
        expect(Option.map(found, (entry) => entry.keyId)).toStrictEqual(Option.some("first"))
        expect(Option.isNone(yield* store.lookup(Redacted.make(CI)))).toBe(true)
        expect(Option.isNone(yield* store.lookup(Redacted.make(ApiKey.hash(PRODUCTION))))).toBe(true)
      })
    )
  })

  describe("provider", () => {
    it.effect("X-API-Key, Authorization: Bearer and a bare Authorization give the key's principal", () =>
      Effect.gen(function* () {
        for (const headers of [
          { "x-api-key": PRODUCTION },
          { authorization: `Bearer ${PRODUCTION}` },
          { authorization: `bearer ${PRODUCTION}` },
          { authorization: PRODUCTION },
          { authorization: `  ${PRODUCTION} ` }
        ]) {
          const principal = yield* authenticate(headers)
          expect(principal.id).toBe("production")
          expect(principal.kind).toBe("machine")
          expect(principal.provider).toBe("api-key")
          expect(principal.claims).toStrictEqual({ key_id: "production", rate_limit_per_minute: 500 })
          expect(yield* principal.groups).toStrictEqual(["clients"])
          expect(yield* principal.roles).toStrictEqual(["chat"])
          expect(yield* principal.permissions).toStrictEqual(["models:read"])
          for (const rendering of renderings(principal)) expect(rendering).not.toContain(PRODUCTION)
        }
        const ci = yield* authenticate({ "x-api-key": CI })
        expect(ci.claims).toStrictEqual({ key_id: "ci" })
        expect(yield* ci.groups).toStrictEqual([])
      }).pipe(Effect.provide(AuthLive))
    )

    it.effect("a configured header replaces X-API-Key", () =>
      Effect.gen(function* () {
        const principal = yield* authenticate({ "x-service-key": CI })
        expect(principal.id).toBe("ci")
        const error = yield* Effect.flip(authenticate({ "x-api-key": CI }))
        expect(error._tag).toBe("MissingCredentials")
      }).pipe(
        Effect.provide(
          Authenticator.layer([ApiKey.provider()], { credentials: { apiKeyHeader: "X-Service-Key" } }).pipe(
            Layer.provide(ApiKey.layerMemory(entries))
          )
        )
      )
    )

    it.effect("an unknown key is rejected, in every header, and the error never holds the key", () =>
      Effect.gen(function* () {
        for (const headers of [
          { "x-api-key": UNKNOWN },
          { authorization: `Bearer ${UNKNOWN}` },
          { authorization: UNKNOWN },
          { "x-api-key": "short-key" },
          { "x-api-key": "sk-prod.abc123def456" }
        ]) {
          const error = yield* Effect.flip(authenticate(headers))
          assert(error._tag === "InvalidCredentials")
          expect(error.reason).toBe("rejected")
          expect(error.scheme).toBe("ApiKey")
          for (const rendering of renderings(error)) {
            expect(rendering).not.toContain(UNKNOWN)
            expect(rendering).not.toContain("short-key")
          }
        }
      }).pipe(Effect.provide(AuthLive))
    )

    it.effect("a JWT-shaped bearer token is not the provider's", () =>
      Effect.gen(function* () {
        const provider = yield* ApiKey.provider().pipe(Effect.provide(ApiKey.layerMemory(entries)))
        const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
        expect(provider.accepts(Credential.Bearer({ token: Redacted.make(jwt) }))).toBe(false)
        expect(provider.accepts(Credential.Bearer({ token: Redacted.make("short") }))).toBe(false)
        expect(provider.accepts(Credential.Bearer({ token: Redacted.make(PRODUCTION) }))).toBe(true)
        expect(provider.accepts(Credential.ApiKey({ key: Redacted.make("x"), header: "x-api-key" }))).toBe(true)
        expect(provider.accepts(Credential.Basic({ username: "a", password: Redacted.make("b") }))).toBe(false)
        // With no JWT provider configured, the token is an unsupported scheme, never tried as a key.
        const error = yield* Effect.flip(authenticate({ authorization: `Bearer ${jwt}` }))
        assert(error._tag === "InvalidCredentials")
        expect(error.reason).toBe("unsupported-scheme")
      }).pipe(Effect.provide(AuthLive))
    )

    it.effect("a bare Authorization is a key only when the credentials option asks for it", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(authenticate({ authorization: PRODUCTION }))
        assert(error._tag === "InvalidCredentials")
        expect(error.reason).toBe("unsupported-scheme")
        expect(Credential.parse({ authorization: PRODUCTION }, { bareApiKey: true })).toStrictEqual(
          Credential.ApiKey({ key: Redacted.make(PRODUCTION), header: "authorization" })
        )
        // Not one token of the key grammar: still an unsupported scheme.
        for (const value of ["sk-short", `${PRODUCTION} extra`, "sk-prod.abc123def456", "a".repeat(129)]) {
          const parsed = Credential.parse({ authorization: value }, { bareApiKey: true })
          assert(parsed._tag === "InvalidCredentials")
          expect(parsed.reason).toBe("unsupported-scheme")
        }
        // A bare key and X-API-Key together are two credentials.
        const both = Credential.parse({ authorization: PRODUCTION, "x-api-key": CI }, { bareApiKey: true })
        assert(both._tag === "InvalidCredentials")
        expect(both.reason).toBe("multiple-credentials")
      }).pipe(Effect.provide(Authenticator.layer([ApiKey.provider()]).pipe(Layer.provide(ApiKey.layerMemory(entries)))))
    )

    it.effect("expired and disabled keys get the unknown key's answer; only the debug log tells which", () => {
      const logs = captureLogs()
      return Effect.gen(function* () {
        const unknown = yield* Effect.flip(authenticate({ "x-api-key": UNKNOWN }))
        expect((yield* authenticate({ "x-api-key": EXPIRING })).id).toBe("expiring")
        yield* TestClock.adjust(Duration.seconds(59))
        expect((yield* authenticate({ "x-api-key": EXPIRING })).id).toBe("expiring")
        yield* TestClock.adjust(Duration.seconds(1))
        const expired = yield* Effect.flip(authenticate({ "x-api-key": EXPIRING }))
        const disabled = yield* Effect.flip(authenticate({ "x-api-key": DISABLED }))
        expect(expired).toStrictEqual(unknown)
        expect(disabled).toStrictEqual(unknown)
        expect(logs.lines.some((line) => line.includes('API key \\"expiring\\" expired'))).toBe(true)
        expect(logs.lines.some((line) => line.includes('API key \\"disabled\\" is disabled'))).toBe(true)
        for (const line of logs.lines) for (const key of [EXPIRING, DISABLED, UNKNOWN]) expect(line).not.toContain(key)
      }).pipe(Effect.provide(AuthLive), Effect.provide(logs.layer), Logger.withMinimumLogLevel(LogLevel.Debug))
    })

    it.effect("an invalid expiry date counts as expired", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(authenticate({ "x-api-key": CI }))
        assert(error._tag === "InvalidCredentials")
        expect(error.reason).toBe("rejected")
      }).pipe(
        Effect.provide(
          Authenticator.layer([ApiKey.provider()]).pipe(
            Layer.provide(
              ApiKey.layerMemory([{ keyId: "ci", hash: ApiKey.hash(CI), metadata: { expiresAt: new Date(NaN) } }])
            )
          )
        )
      )
    )

    it.effect("no keys configured: every key is refused and the layer warns", () => {
      const logs = captureLogs()
      return Effect.gen(function* () {
        expect(logs.lines.some((line) => line.includes("No API keys are configured: every API key is refused"))).toBe(
          true
        )
        for (const headers of [{ "x-api-key": PRODUCTION }, { authorization: `Bearer ${CI}` }]) {
          const error = yield* Effect.flip(authenticate(headers))
          assert(error._tag === "InvalidCredentials")
          expect(error.reason).toBe("rejected")
        }
      }).pipe(
        Effect.provide(Authenticator.layer([ApiKey.provider()]).pipe(Layer.provide(ApiKey.layerMemory([])))),
        Effect.provide(logs.layer)
      )
    })

    it.effect("the provider name and realm are configurable; the challenge asks for an API key", () =>
      Effect.gen(function* () {
        const provider = yield* ApiKey.provider({ name: "keys", realm: "gateway" }).pipe(
          Effect.provide(ApiKey.layerMemory(entries))
        )
        expect(provider.challenge).toStrictEqual({ scheme: "ApiKey", realm: "gateway" })
        const identity = yield* provider.authenticate(
          Credential.ApiKey({ key: Redacted.make(CI), header: "x-api-key" })
        )
        expect(identity.provider).toBe("keys")
        const wrong = yield* Effect.flip(
          provider.authenticate(Credential.Basic({ username: "ci", password: Redacted.make(CI) }))
        )
        assert(wrong._tag === "InvalidCredentials")
        expect(wrong.reason).toBe("unsupported-scheme")
      })
    )
  })
})
