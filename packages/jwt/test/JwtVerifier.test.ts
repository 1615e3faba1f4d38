import { AuthError } from "@effect-auth/core"
import { JwtVerifier, KeySet } from "@effect-auth/jwt"
import { Keys, Tokens } from "@effect-auth/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"

/** The TestClock's "now" in every test, in epoch seconds. */
const T0 = 1_750_000_000
const ISSUER = "https://issuer.example.com"
const AUDIENCE = "api://orders"

const keys = {
  RS256: await Keys.generate("RS256", { kid: "rs256" }),
  PS256: await Keys.generate("PS256", { kid: "ps256" }),
  ES256: await Keys.generate("ES256", { kid: "es256" }),
  ES384: await Keys.generate("ES384", { kid: "es384" }),
  EdDSA: await Keys.generate("EdDSA", { kid: "eddsa" })
}
const rs256 = keys.RS256

const keySet = (...signing: ReadonlyArray<Keys.SigningKey>) =>
  KeySet.fromJwks({ keys: signing.map((key) => key.publicJwk) })

const base: JwtVerifier.Options = { algorithms: ["RS256"], issuer: ISSUER, audience: AUDIENCE }

/** Starts the TestClock at T0 and builds a verifier and a key set with `rs256`. */
const setup = (options: Partial<JwtVerifier.Options> = {}) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(T0 * 1000)
    const verifier = yield* JwtVerifier.make({ ...base, ...options })
    const set = yield* keySet(rs256)
    return { verifier, set }
  })

const mint = (options: Omit<Tokens.MintOptions, "key"> & { readonly key?: Keys.SigningKey } = {}) =>
  Effect.promise(() =>
    Tokens.mint({ key: rs256, issuer: ISSUER, audience: AUDIENCE, subject: "user-1", now: T0, ...options })
  )

const refusal = <A, R>(effect: Effect.Effect<A, AuthError.InvalidToken | AuthError.ProviderUnavailable, R>) =>
  Effect.map(Effect.flip(effect), (error) => (error._tag === "InvalidToken" ? error.reason : error._tag))

const configFailure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => (error as { readonly _op?: unknown })._op)

describe("JwtVerifier happy paths", () => {
  for (const alg of ["RS256", "PS256", "ES256", "ES384", "EdDSA"] as const) {
    it.effect(`verifies ${alg}`, () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(T0 * 1000)
        const key = keys[alg]
        const verifier = yield* JwtVerifier.make({ ...base, algorithms: [alg] })
        const set = yield* keySet(...Object.values(keys))
        const token = yield* mint({ key, claims: { scope: "orders:read" } })
        const verified = yield* verifier.verify(token, set)
        expect(verified.claims.sub).toBe("user-1")
        expect(verified.claims.scope).toBe("orders:read")
        expect(verified.header.alg).toBe(alg)
        expect(verified.key.kid).toBe(key.kid)
        expect(verified.key.alg).toBe(alg)
      })
    )
  }

  it.effect("accepts every configured algorithm and refuses the others", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(T0 * 1000)
      const verifier = yield* JwtVerifier.make({ ...base, algorithms: ["ES256", "EdDSA"] })
      const set = yield* keySet(...Object.values(keys))
      yield* verifier.verify(yield* mint({ key: keys.ES256 }), set)
      yield* verifier.verify(yield* mint({ key: keys.EdDSA }), set)
      expect(yield* refusal(verifier.verify(yield* mint({ key: keys.ES384 }), set))).toBe("unsupported-algorithm")
      expect(yield* refusal(verifier.verify(yield* mint({ key: rs256 }), set))).toBe("unsupported-algorithm")
    })
  )

  it.effect("tries each key offered for the kid until one verifies", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(T0 * 1000)
      const impostor = yield* Effect.promise(() => Keys.generate("RS256", { kid: "rs256" }))
      const verifier = yield* JwtVerifier.make(base)
      const set = yield* keySet(impostor, rs256)
      expect((yield* set.keysFor({ alg: "RS256", kid: "rs256" })).length).toBe(2)
      const verified = yield* verifier.verify(yield* mint(), set)
      expect(verified.key.jwk.n).toBe(rs256.publicJwk.n)
    })
  )

  it.effect("verifies a token without kid against the keys bound to its algorithm", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup()
      const verified = yield* verifier.verify(yield* mint({ header: { kid: undefined } }), set)
      expect(verified.header.kid).toBeUndefined()
    })
  )

  it.effect("refuses a token without kid when more keys than maxKeysWithoutKid share its algorithm", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(T0 * 1000)
      const verifier = yield* JwtVerifier.make({ ...base, algorithms: ["ES256"] })
      const published = yield* Effect.promise(() =>
        Promise.all(
          Array.from({ length: KeySet.maxKeysWithoutKid + 1 }, (_, i) => Keys.generate("ES256", { kid: `ec-${i}` }))
        )
      )
      const signer = published[published.length - 1] ?? keys.ES256
      const kidless = yield* mint({ key: signer, header: { kid: undefined } })
      const few = yield* keySet(...published.slice(1))
      expect((yield* verifier.verify(kidless, few)).key.kid).toBe(signer.kid)
      const many = yield* keySet(...published)
      expect(yield* refusal(verifier.verify(kidless, many))).toBe("unknown-key")
      // Naming the key is enough.
      expect((yield* verifier.verify(yield* mint({ key: signer }), many)).key.kid).toBe(signer.kid)
    })
  )

  it.effect("passes a key source's ProviderUnavailable through unchanged", () =>
    Effect.gen(function* () {
      const { verifier } = yield* setup()
      const down: KeySet.KeySource = {
        keysFor: () => Effect.fail(new AuthError.ProviderUnavailable({ reason: "unreachable", provider: "jwt" }))
      }
      const error = yield* Effect.flip(verifier.verify(yield* mint(), down))
      expect(error._tag).toBe("ProviderUnavailable")
    })
  )

  it.effect("ignores keys a source offers for another algorithm", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup()
      const widened: KeySet.KeySource = {
        keysFor: () =>
          Effect.map(set.keysFor({ alg: "RS256" }), (found) => found.map((key) => ({ ...key, alg: "PS256" as const })))
      }
      expect(yield* refusal(verifier.verify(yield* mint(), widened))).toBe("bad-signature")
    })
  )

  it.effect("an issuer predicate sees the claims already frozen, nested ones too", () =>
    Effect.gen(function* () {
      const seen: Array<boolean> = []
      const { set, verifier } = yield* setup({
        issuer: (iss, claims) => {
          seen.push(Object.isFrozen(claims), Object.isFrozen(claims.groups))
          // What a predicate changes here would reach every later reader, and the cache.
          Reflect.set(claims, "sub", "admin")
          return iss === ISSUER
        }
      })
      const verified = yield* verifier.verify(yield* mint({ claims: { groups: ["reader"] } }), set)
      expect(seen).toEqual([true, true])
      expect(verified.claims.sub).toBe("user-1")
    })
  )

  it.effect("returns frozen header and claims", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup()
      const verified = yield* verifier.verify(yield* mint({ claims: { groups: ["a", "b"] } }), set)
      expect(Object.isFrozen(verified.claims)).toBe(true)
      expect(Object.isFrozen(verified.claims.groups)).toBe(true)
      expect(Object.isFrozen(verified.header)).toBe(true)
    })
  )
})

describe("JwtVerifier options", () => {
  it.effect("issuer: exact string, list, or predicate", () =>
    Effect.gen(function* () {
      const { set } = yield* setup()
      const token = yield* mint()
      const exact = yield* JwtVerifier.make({ ...base, issuer: ISSUER })
      yield* exact.verify(token, set)
      // Exact string equality: no trailing-slash or case folding.
      const slash = yield* JwtVerifier.make({ ...base, issuer: `${ISSUER}/` })
      expect(yield* refusal(slash.verify(token, set))).toBe("wrong-issuer")
      const upper = yield* JwtVerifier.make({ ...base, issuer: ISSUER.toUpperCase() })
      expect(yield* refusal(upper.verify(token, set))).toBe("wrong-issuer")
      const list = yield* JwtVerifier.make({ ...base, issuer: ["https://other.example.com", ISSUER] })
      yield* list.verify(token, set)
      const tenants = yield* JwtVerifier.make({
        ...base,
        issuer: (iss, claims) =>
          typeof claims.tid === "string" && iss === `https://login.example.com/${claims.tid}/v2.0`
      })
      const tenantToken = yield* mint({ issuer: "https://login.example.com/t-1/v2.0", claims: { tid: "t-1" } })
      yield* tenants.verify(tenantToken, set)
      const otherTenant = yield* mint({ issuer: "https://login.example.com/t-1/v2.0", claims: { tid: "t-2" } })
      expect(yield* refusal(tenants.verify(otherTenant, set))).toBe("wrong-issuer")
      const throwing = yield* JwtVerifier.make({
        ...base,
        issuer: () => {
          throw new Error("boom")
        }
      })
      expect(yield* refusal(throwing.verify(token, set))).toBe("wrong-issuer")
      expect(yield* refusal(exact.verify(yield* mint({ claims: { iss: undefined } }), set))).toBe("missing-claim")
    })
  )

  it.effect("audience: string or list; aud string or list", () =>
    Effect.gen(function* () {
      const { set } = yield* setup()
      const single = yield* JwtVerifier.make({ ...base, audience: AUDIENCE })
      const several = yield* JwtVerifier.make({ ...base, audience: ["api://other", AUDIENCE] })
      const none = yield* JwtVerifier.make({ ...base, audience: undefined })
      for (const aud of [AUDIENCE, ["api://x", AUDIENCE]]) {
        const token = yield* mint({ audience: aud })
        yield* single.verify(token, set)
        yield* several.verify(token, set)
      }
      const wrong = yield* mint({ audience: ["api://x", "api://y"] })
      expect(yield* refusal(single.verify(wrong, set))).toBe("wrong-audience")
      expect(yield* refusal(several.verify(wrong, set))).toBe("wrong-audience")
      yield* none.verify(wrong, set)
      const missing = yield* mint({ audience: undefined })
      expect(yield* refusal(single.verify(missing, set))).toBe("missing-claim")
      yield* none.verify(missing, set)
      expect(yield* refusal(single.verify(yield* mint({ claims: { aud: 7 } }), set))).toBe("invalid-claim")
      expect(yield* refusal(single.verify(yield* mint({ claims: { aud: [AUDIENCE, 7] } }), set))).toBe("invalid-claim")
      expect(yield* refusal(single.verify(yield* mint({ claims: { aud: [] } }), set))).toBe("wrong-audience")
    })
  )

  it.effect("typ: case-insensitive, application/ optional", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ typ: "at+jwt" })
      for (const typ of ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+Jwt"]) {
        yield* verifier.verify(yield* mint({ header: { typ } }), set)
      }
      for (const typ of [undefined, "JWT", "jwt", "application/jwt", "at+jwt2", "xapplication/at+jwt"]) {
        expect(yield* refusal(verifier.verify(yield* mint({ header: { typ } }), set))).toBe("wrong-type")
      }
      const configuredWithPrefix = yield* JwtVerifier.make({ ...base, typ: ["application/AT+JWT", "JWT"] })
      yield* configuredWithPrefix.verify(yield* mint({ header: { typ: "at+jwt" } }), set)
      yield* configuredWithPrefix.verify(yield* mint({ header: { typ: "JWT" } }), set)
      // Without a typ option any string is accepted, but not another JSON type.
      const plain = yield* JwtVerifier.make(base)
      yield* plain.verify(yield* mint({ header: { typ: "whatever" } }), set)
      expect(yield* refusal(plain.verify(yield* mint({ header: { typ: 1 } }), set))).toBe("malformed")
    })
  )

  it.effect("requiredClaims", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ requiredClaims: ["email", "tid"] })
      yield* verifier.verify(yield* mint({ claims: { email: "a@example.com", tid: "t" } }), set)
      expect(yield* refusal(verifier.verify(yield* mint({ claims: { email: "a@example.com" } }), set))).toBe(
        "missing-claim"
      )
    })
  )

  it.effect("maxTokenBytes is checked before parsing", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ maxTokenBytes: 1000 })
      const small = yield* mint()
      expect(small.length).toBeLessThan(1000)
      yield* verifier.verify(small, set)
      const big = yield* mint({ claims: { pad: "x".repeat(1000) } })
      expect(yield* refusal(verifier.verify(big, set))).toBe("too-large")
      // Not even a token: the size answers first.
      expect(yield* refusal(verifier.verify("%".repeat(1001), set))).toBe("too-large")
      // Multi-byte characters count as bytes.
      expect(yield* refusal(verifier.verify("é".repeat(501), set))).toBe("too-large")
      expect(yield* refusal(verifier.verify("é".repeat(500), set))).toBe("malformed")
    })
  )

  it.effect("requireExp: exp required by default, optional when turned off", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup()
      const token = yield* mint({ claims: { exp: undefined } })
      expect(yield* refusal(verifier.verify(token, set))).toBe("missing-claim")
      const lenient = yield* JwtVerifier.make({ ...base, requireExp: false })
      yield* lenient.verify(token, set)
    })
  )

  it.effect("claim types: sub a string, date claims finite non-negative numbers", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup()
      for (const claims of [
        { sub: 1 },
        { exp: -1 },
        { nbf: "0" },
        { iat: null },
        { iat: -5 },
        { exp: T0 + 60.5, nbf: [] }
      ]) {
        expect(yield* refusal(verifier.verify(yield* mint({ claims }), set))).toBe("invalid-claim")
      }
      yield* verifier.verify(yield* mint({ claims: { exp: T0 + 60.5, nbf: T0 - 0.5 } }), set)
    })
  )

  it.effect("accessTokenProfile (RFC 9068)", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ accessTokenProfile: true })
      const claims = { client_id: "client-1", jti: "id-1" }
      yield* verifier.verify(yield* mint({ header: { typ: "at+jwt" }, claims }), set)
      yield* verifier.verify(yield* mint({ header: { typ: "application/at+jwt" }, claims }), set)
      expect(yield* refusal(verifier.verify(yield* mint({ claims }), set))).toBe("wrong-type")
      for (const missing of ["client_id", "jti", "sub", "iat", "exp"]) {
        const token = yield* mint({ header: { typ: "at+jwt" }, claims: { ...claims, [missing]: undefined } })
        expect(yield* refusal(verifier.verify(token, set))).toBe("missing-claim")
      }
      const numeric = yield* mint({ header: { typ: "at+jwt" }, claims: { ...claims, client_id: 5 } })
      expect(yield* refusal(verifier.verify(numeric, set))).toBe("invalid-claim")
      // requireExp cannot switch off the profile's exp.
      const stillNeedsExp = yield* JwtVerifier.make({ ...base, accessTokenProfile: true, requireExp: false })
      const noExp = yield* mint({ header: { typ: "at+jwt" }, claims: { ...claims, exp: undefined } })
      expect(yield* refusal(stillNeedsExp.verify(noExp, set))).toBe("missing-claim")
    })
  )

  it.effect("understoodCriticalHeaders lets listed extensions through, nothing else", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ understoodCriticalHeaders: ["urn:example:tenant"] })
      const header = { crit: ["urn:example:tenant"], "urn:example:tenant": "t-1" }
      const verified = yield* verifier.verify(yield* mint({ header }), set)
      expect(verified.header["urn:example:tenant"]).toBe("t-1")
      const other = { crit: ["urn:example:other"], "urn:example:other": 1 }
      expect(yield* refusal(verifier.verify(yield* mint({ header: other }), set))).toBe("unsupported-critical-header")
      const strict = yield* JwtVerifier.make(base)
      expect(yield* refusal(strict.verify(yield* mint({ header }), set))).toBe("unsupported-critical-header")
    })
  )

  it.effect("refuses misconfiguration with a ConfigError", () =>
    Effect.gen(function* () {
      // A JavaScript caller can pass what the types forbid.
      const hmac = ["HS256"] as unknown as ReadonlyArray<KeySet.Algorithm>
      const none = ["none"] as unknown as ReadonlyArray<KeySet.Algorithm>
      const invalid: ReadonlyArray<JwtVerifier.Options> = [
        { ...base, algorithms: [] },
        { ...base, algorithms: hmac },
        { ...base, algorithms: none },
        { ...base, algorithms: ["RS256", ...hmac] },
        { ...base, issuer: "" },
        { ...base, issuer: [] },
        { ...base, audience: [] },
        { ...base, audience: "" },
        { ...base, clockTolerance: "6 minutes" },
        { ...base, clockTolerance: 300_001 },
        { ...base, clockTolerance: "not a duration" as never },
        { ...base, maxTokenBytes: 0 },
        { ...base, maxTokenBytes: 1.5 },
        { ...base, maxAge: Number.POSITIVE_INFINITY },
        { ...base, cache: { maxEntries: 0 } },
        { ...base, typ: [] },
        { ...base, audience: undefined, accessTokenProfile: true },
        { ...base, accessTokenProfile: true, typ: "JWT" },
        { ...base, understoodCriticalHeaders: [""] }
      ]
      for (const options of invalid) {
        expect(yield* configFailure(JwtVerifier.make(options))).toBe("InvalidData")
      }
      yield* JwtVerifier.make({ ...base, clockTolerance: "5 minutes" })
      yield* JwtVerifier.make({ ...base, clockTolerance: 0 })
      yield* JwtVerifier.make({ ...base, accessTokenProfile: true, typ: "application/at+jwt" })
    })
  )
})

describe("JwtVerifier time checks (TestClock)", () => {
  it.effect("exp: accepted until exp + tolerance", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup()
      const token = yield* mint({ expiresIn: 60 })
      yield* TestClock.adjust("89 seconds")
      yield* verifier.verify(token, set)
      yield* TestClock.adjust("999 millis")
      yield* verifier.verify(token, set)
      yield* TestClock.adjust("1 millis")
      expect(yield* refusal(verifier.verify(token, set))).toBe("expired")
    })
  )

  it.effect("exp without tolerance: refused exactly at exp", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ clockTolerance: 0 })
      const token = yield* mint({ expiresIn: 60 })
      yield* TestClock.adjust("59 seconds")
      yield* verifier.verify(token, set)
      yield* TestClock.adjust("1 second")
      expect(yield* refusal(verifier.verify(token, set))).toBe("expired")
    })
  )

  it.effect("nbf: refused until nbf - tolerance", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup()
      const token = yield* mint({ claims: { nbf: T0 + 100 } })
      yield* TestClock.adjust("69 seconds")
      expect(yield* refusal(verifier.verify(token, set))).toBe("not-yet-valid")
      yield* TestClock.adjust("1 second")
      yield* verifier.verify(token, set)
    })
  )

  it.effect("iat: refused while more than the tolerance in the future", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ clockTolerance: "10 seconds" })
      const token = yield* mint({ claims: { iat: T0 + 100 } })
      yield* TestClock.adjust("89 seconds")
      expect(yield* refusal(verifier.verify(token, set))).toBe("issued-in-future")
      yield* TestClock.adjust("1 second")
      yield* verifier.verify(token, set)
    })
  )

  it.effect("maxAge: now - iat at most maxAge + tolerance; iat required", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ maxAge: "60 seconds", clockTolerance: "30 seconds" })
      const token = yield* mint({ expiresIn: 3600 })
      yield* TestClock.adjust("90 seconds")
      yield* verifier.verify(token, set)
      yield* TestClock.adjust("1 second")
      expect(yield* refusal(verifier.verify(token, set))).toBe("expired")
      const noIat = yield* mint({ claims: { iat: undefined }, now: T0 + 91 })
      expect(yield* refusal(verifier.verify(noIat, set))).toBe("missing-claim")
    })
  )
})

describe("JwtVerifier cache", () => {
  it.effect("serves a verified token from the cache", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ cache: { maxEntries: 10 } })
      const token = yield* mint()
      const first = yield* verifier.verify(token, set)
      const second = yield* verifier.verify(token, set)
      expect(second).toBe(first)
      // Without a cache every call verifies again.
      const uncached = yield* JwtVerifier.make(base)
      expect(yield* uncached.verify(token, set)).not.toBe(yield* uncached.verify(token, set))
    })
  )

  it.effect("never serves an entry at or after exp, whatever the tolerance", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ cache: { maxEntries: 10 } })
      const token = yield* mint({ expiresIn: 60 })
      const first = yield* verifier.verify(token, set)
      yield* TestClock.adjust("59 seconds")
      expect(yield* verifier.verify(token, set)).toBe(first)
      yield* TestClock.adjust("1 second")
      // Past exp, only the tolerance keeps the token valid: it is verified again, not served.
      const again = yield* verifier.verify(token, set)
      expect(again).not.toBe(first)
      yield* TestClock.adjust("30 seconds")
      expect(yield* refusal(verifier.verify(token, set))).toBe("expired")
    })
  )

  it.effect("an entry expires with the token (no tolerance)", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ cache: { maxEntries: 10 }, clockTolerance: 0 })
      const token = yield* mint({ expiresIn: 60 })
      yield* verifier.verify(token, set)
      yield* TestClock.adjust("60 seconds")
      expect(yield* refusal(verifier.verify(token, set))).toBe("expired")
    })
  )

  it.effect("respects maxAge and nbf, even if the clock goes back", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ cache: { maxEntries: 10 }, clockTolerance: 0, maxAge: "60 seconds" })
      const token = yield* mint({ expiresIn: 3600, claims: { nbf: T0 } })
      const first = yield* verifier.verify(token, set)
      yield* TestClock.adjust("59 seconds")
      expect(yield* verifier.verify(token, set)).toBe(first)
      yield* TestClock.adjust("2 seconds")
      expect(yield* refusal(verifier.verify(token, set))).toBe("expired")
      yield* verifier.verify(token, set).pipe(Effect.ignore)
      yield* TestClock.setTime((T0 - 10) * 1000)
      expect(yield* refusal(verifier.verify(token, set))).toBe("not-yet-valid")
    })
  )

  it.effect("is bounded, evicting the least recently used entry", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ cache: { maxEntries: 2 } })
      const [a, b, c] = yield* Effect.all([mint({ subject: "a" }), mint({ subject: "b" }), mint({ subject: "c" })])
      const a1 = yield* verifier.verify(a, set)
      const b1 = yield* verifier.verify(b, set)
      expect(yield* verifier.verify(a, set)).toBe(a1) // a is now the most recently used
      yield* verifier.verify(c, set) // evicts b
      expect(yield* verifier.verify(a, set)).toBe(a1)
      const b2 = yield* verifier.verify(b, set)
      expect(b2).not.toBe(b1)
      expect(b2.claims.sub).toBe("b")
    })
  )

  it.effect("does not cache tokens without exp, nor refusals", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ cache: { maxEntries: 10 }, requireExp: false })
      const token = yield* mint({ claims: { exp: undefined } })
      expect(yield* verifier.verify(token, set)).not.toBe(yield* verifier.verify(token, set))
      const forged = yield* mint({ key: yield* Effect.promise(() => Keys.generate("RS256", { kid: "rs256" })) })
      expect(yield* refusal(verifier.verify(forged, set))).toBe("bad-signature")
      expect(yield* refusal(verifier.verify(forged, set))).toBe("bad-signature")
    })
  )

  it.effect("stops serving an entry once its key is no longer offered", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ cache: { maxEntries: 10 } })
      const token = yield* mint()
      const first = yield* verifier.verify(token, set)
      // The same JWKS fetched again: new CryptoKeys, same public key, still served.
      const refetched = yield* keySet(rs256)
      expect(yield* verifier.verify(token, refetched)).toBe(first)
      const rotated = yield* keySet(keys.ES256)
      expect(yield* refusal(verifier.verify(token, rotated))).toBe("unknown-key")
      const impostor = yield* Effect.promise(() => Keys.generate("RS256", { kid: "rs256" }))
      expect(yield* refusal(verifier.verify(token, yield* keySet(impostor)))).toBe("bad-signature")
    })
  )

  it.effect(
    "cachedNow answers from the cache only: after a verification, inside its window, while its key is offered",
    () =>
      Effect.gen(function* () {
        const { set, verifier } = yield* setup({ cache: { maxEntries: 10 } })
        const token = yield* mint({ claims: { exp: T0 + 60 } })
        const now = T0 * 1000
        // Nothing is verified by asking.
        expect(verifier.cachedNow?.(token, set, now)).toBeUndefined()
        const verified = yield* verifier.verify(token, set)
        expect(verifier.cachedNow?.(token, set, now)).toBe(verified)
        // Past exp (and the 30 s tolerance) the entry is no answer; neither is a source without its key.
        expect(verifier.cachedNow?.(token, set, (T0 + 60 + 30) * 1000)).toBeUndefined()
        expect(verifier.cachedNow?.(token, yield* keySet(keys.ES256), now)).toBeUndefined()
        // The entry the rotated source dropped stays dropped.
        expect(verifier.cachedNow?.(token, set, now)).toBeUndefined()
        // A tampered token is another entry: never the verified one's answer.
        yield* verifier.verify(token, set)
        const [header, payload, signature] = token.split(".")
        expect(verifier.cachedNow?.(`${header}.${payload}.${signature?.slice(0, -2)}AA`, set, now)).toBeUndefined()
        // Without a cache, and on the jose engine (the reference, no fast lanes), there is never an answer.
        const { verifier: uncached } = yield* setup()
        yield* uncached.verify(token, set)
        expect(uncached.cachedNow?.(token, set, now)).toBeUndefined()
        const { verifier: jose } = yield* setup({ cache: { maxEntries: 10 }, engine: "jose" })
        yield* jose.verify(token, set)
        expect(jose.cachedNow?.(token, set, now)).toBeUndefined()
      })
  )

  it.effect("a cache belongs to one verifier", () =>
    Effect.gen(function* () {
      const { set, verifier } = yield* setup({ cache: { maxEntries: 10 } })
      const token = yield* mint()
      yield* verifier.verify(token, set)
      const stricter = yield* JwtVerifier.make({ ...base, audience: "api://other", cache: { maxEntries: 10 } })
      expect(yield* refusal(stricter.verify(token, set))).toBe("wrong-audience")
    })
  )
})
