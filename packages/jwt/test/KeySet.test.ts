import { KeySet } from "@effect-auth/jwt"
import { Keys } from "@effect-auth/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { exportJWK, jwtVerify, SignJWT } from "jose"

const rsa = await Keys.generate("RS256", { kid: "rsa" })
const weakRsa = await Keys.generate("RS256", { kid: "weak", modulusLength: 1024 })
const ec256 = await Keys.generate("ES256", { kid: "ec256" })
const ec384 = await Keys.generate("ES384", { kid: "ec384" })
const ed = await Keys.generate("EdDSA", { kid: "ed" })

/** The published JWK with some members replaced; `undefined` removes a member. */
const jwk = (key: Keys.SigningKey, changes: Record<string, unknown> = {}): Record<string, unknown> =>
  Object.fromEntries(Object.entries({ ...key.publicJwk, ...changes }).filter(([, value]) => value !== undefined))

/**
 * The refusal's reason, or `"succeeded"`. Not `Effect.flip`: a test failing with keys as its error (which
 * hold CryptoKeys) hangs the reporter instead of failing.
 */
const reason = <A, R>(effect: Effect.Effect<A, { readonly reason: string }, R>) =>
  Effect.map(Effect.either(effect), (result) => (Either.isLeft(result) ? result.left.reason : "succeeded"))

/** A real RS256 key pair whose public exponent is 3 (WebCrypto generates any odd exponent). */
const exponentThree = await (async () => {
  const pair = await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: Uint8Array.of(3), hash: "SHA-256" },
    true,
    ["sign", "verify"]
  )
  const publicJwk = await exportJWK(pair.publicKey)
  return { privateKey: pair.privateKey, publicJwk: { ...publicJwk, kid: "e3", alg: "RS256", use: "sig" } }
})()

describe("KeySet.fromJwks", () => {
  it.effect("binds a JWK with alg to that algorithm only", () =>
    Effect.gen(function* () {
      const set = yield* KeySet.fromJwks({ keys: [jwk(rsa)] })
      expect(set.size).toBe(1)
      expect([...set.kids]).toEqual(["rsa"])
      const [key] = yield* set.keysFor({ alg: "RS256", kid: "rsa" })
      expect(key?.alg).toBe("RS256")
      expect(key?.kid).toBe("rsa")
      expect(key?.key.asymmetricKeyType).toBe("rsa")
      // Known kid, other algorithm: the same answer as an unknown kid (no oracle).
      expect(yield* reason(set.keysFor({ alg: "PS256", kid: "rsa" }))).toBe("unknown-key")
      expect(yield* reason(set.keysFor({ alg: "PS256" }))).toBe("unknown-key")
    })
  )

  it.effect("lets an RSA JWK without alg serve every RS* and PS* algorithm, and nothing else", () =>
    Effect.gen(function* () {
      const set = yield* KeySet.fromJwks({ keys: [jwk(rsa, { alg: undefined })] })
      for (const alg of ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] as const) {
        const [key] = yield* set.keysFor({ alg, kid: "rsa" })
        expect(key?.alg).toBe(alg)
        expect(key?.key.asymmetricKeyType).toBe("rsa")
      }
      for (const alg of ["ES256", "ES384", "ES512", "EdDSA"] as const) {
        expect(yield* reason(set.keysFor({ alg, kid: "rsa" }))).toBe("unknown-key")
      }
    })
  )

  it.effect("binds a curve without alg to its one algorithm", () =>
    Effect.gen(function* () {
      const set = yield* KeySet.fromJwks({
        keys: [jwk(ec256, { alg: undefined }), jwk(ec384, { alg: undefined }), jwk(ed, { alg: undefined })]
      })
      expect(set.size).toBe(3)
      expect((yield* set.keysFor({ alg: "ES256" })).map((key) => key.kid)).toEqual(["ec256"])
      expect((yield* set.keysFor({ alg: "ES384" })).map((key) => key.kid)).toEqual(["ec384"])
      expect((yield* set.keysFor({ alg: "EdDSA" })).map((key) => key.kid)).toEqual(["ed"])
      expect(yield* reason(set.keysFor({ alg: "ES512" }))).toBe("unknown-key")
      expect(yield* reason(set.keysFor({ alg: "RS256" }))).toBe("unknown-key")
    })
  )

  it.effect("skips an RSA key under 2048 bits", () =>
    Effect.gen(function* () {
      const set = yield* KeySet.fromJwks({ keys: [jwk(weakRsa)] })
      expect(set.size).toBe(0)
      expect(yield* reason(set.keysFor({ alg: "RS256", kid: "weak" }))).toBe("unknown-key")
    })
  )

  it.effect("skips an RSA key whose exponent is 1, even, over 2^32 - 1 or not spelt canonically", () => {
    const lines: Array<{ readonly level: LogLevel.LogLevel; readonly annotations: Record<string, unknown> }> = []
    const logger = Logger.make<unknown, void>(({ annotations, logLevel }) => {
      lines.push({ level: logLevel, annotations: Object.fromEntries(annotations) })
    })
    return Effect.gen(function* () {
      const refused: Record<string, string> = {
        "e-1": "AQ",
        "e-2": "Ag",
        "e-65536": "AQAA",
        "e-leading-zero": "AAEAAQ", // 65537 with a zero byte in front
        "e-five-bytes": "AQAAAAE", // 2^32 + 1
        "e-unused-bits": "Ax" // 3, with a set bit past the last byte
      }
      expect(Buffer.from("Ax", "base64url")).toEqual(Buffer.from([3]))
      const set = yield* KeySet.fromJwks({
        keys: [
          ...Object.entries(refused).map(([kid, e]) => jwk(rsa, { kid, e })),
          jwk(rsa, { kid: "e-65537", e: "AQAB" }),
          exponentThree.publicJwk
        ]
      })
      expect([...set.kids].sort()).toEqual(["e-65537", "e3"])
      for (const kid of Object.keys(refused)) {
        expect(yield* reason(set.keysFor({ alg: "RS256", kid })), kid).toBe("unknown-key")
      }
      expect((yield* set.keysFor({ alg: "RS256", kid: "e-65537" })).map((key) => key.kid)).toEqual(["e-65537"])
      // e = 3 is a real RSA key: a token it signed verifies with the key the set imported.
      const [three] = yield* set.keysFor({ alg: "RS256", kid: "e3" })
      const token = yield* Effect.promise(() =>
        new SignJWT({ sub: "user-1" }).setProtectedHeader({ alg: "RS256", kid: "e3" }).sign(exponentThree.privateKey)
      )
      expect(three).toBeDefined()
      if (three === undefined) return
      const verified = yield* Effect.promise(() => jwtVerify(token, three.key, { algorithms: ["RS256"] }))
      expect(verified.payload.sub).toBe("user-1")
      // Each skipped key is logged at debug level with why, never with its key material.
      const skipped = lines.filter((line) => line.level === LogLevel.Debug)
      expect(skipped.map((line) => line.annotations.kid)).toEqual(Object.keys(refused))
      for (const line of skipped) {
        expect(String(line.annotations.reason)).toMatch(/^RSA exponent /)
        expect(JSON.stringify(line.annotations)).not.toContain(String(rsa.publicJwk.n).slice(0, 16))
      }
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)), Logger.withMinimumLogLevel(LogLevel.Debug))
  })

  it.effect("skips a JWK whose alg disagrees with its key type or curve", () =>
    Effect.gen(function* () {
      const set = yield* KeySet.fromJwks({
        keys: [
          jwk(rsa, { alg: "ES256" }),
          jwk(ec256, { alg: "ES384" }),
          jwk(ec256, { alg: "RS256" }),
          jwk(ed, { alg: "ES256" }),
          jwk(ec384, { alg: "EdDSA" })
        ]
      })
      expect(set.size).toBe(0)
      for (const alg of KeySet.algorithms) expect(yield* reason(set.keysFor({ alg }))).toBe("unknown-key")
    })
  )

  it.effect("skips a JWK whose alg is HMAC, none or unknown", () =>
    Effect.gen(function* () {
      const set = yield* KeySet.fromJwks({
        keys: [
          jwk(rsa, { alg: "HS256" }),
          jwk(rsa, { alg: "none" }),
          jwk(rsa, { alg: "RSA-OAEP" }),
          jwk(ed, { alg: "Ed25519" })
        ]
      })
      expect(set.size).toBe(0)
    })
  )

  it.effect("skips use other than sig and key_ops without verify", () =>
    Effect.gen(function* () {
      const set = yield* KeySet.fromJwks({
        keys: [
          jwk(rsa, { kid: "enc", use: "enc" }),
          jwk(rsa, { kid: "ops", use: undefined, key_ops: ["encrypt", "wrapKey"] }),
          jwk(rsa, { kid: "ops-not-list", key_ops: "verify" }),
          jwk(rsa, { kid: "ok", use: undefined, key_ops: ["verify"] })
        ]
      })
      expect([...set.kids]).toEqual(["ok"])
      expect(yield* reason(set.keysFor({ alg: "RS256", kid: "enc" }))).toBe("unknown-key")
      const [key] = yield* set.keysFor({ alg: "RS256", kid: "ok" })
      expect(key?.key.type).toBe("public")
    })
  )

  it.effect("skips private and symmetric keys", () =>
    Effect.gen(function* () {
      const privateRsa = yield* Effect.promise(() => exportJWK(rsa.privateKey))
      const privateEc = yield* Effect.promise(() => exportJWK(ec256.privateKey))
      const privateEd = yield* Effect.promise(() => exportJWK(ed.privateKey))
      expect(typeof privateRsa.d).toBe("string")
      const set = yield* KeySet.fromJwks({
        keys: [
          { ...privateRsa, kid: "private-rsa", alg: "RS256" },
          { ...privateEc, kid: "private-ec" },
          { ...privateEd, kid: "private-ed" },
          jwk(rsa, { kid: "only-p", p: "AQAB" }),
          { kty: "oct", kid: "hmac", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA" }
        ]
      })
      expect(set.size).toBe(0)
    })
  )

  it.effect("skips unknown key types, unknown curves and invalid members", () =>
    Effect.gen(function* () {
      const set = yield* KeySet.fromJwks({
        keys: [
          null,
          "a string",
          42,
          [],
          { kid: "no-kty" },
          { kty: "AKP", kid: "pq", alg: "ML-DSA-44", pub: "AAAA" },
          jwk(ec256, { kid: "k1", crv: "secp256k1", alg: undefined }),
          jwk(ed, { kid: "x25519", crv: "X25519", alg: undefined }),
          jwk(ed, { kid: "ed448", crv: "Ed448", alg: undefined }),
          jwk(ec256, { kid: "ec-as-okp", kty: "OKP" }),
          jwk(ec256, { kid: "short-x", x: "AAAA" }),
          jwk(rsa, { kid: "no-e", e: undefined }),
          jwk(rsa, { kid: "n-not-base64url", n: "not+base64/url=" }),
          jwk(rsa, { kid: 7 })
        ]
      })
      expect(set.size).toBe(0)
    })
  )

  it.effect("one bad key does not fail the set", () =>
    Effect.gen(function* () {
      const set = yield* KeySet.fromJwks({
        keys: [
          jwk(weakRsa),
          jwk(rsa),
          { kty: "oct", k: "AAAA" },
          "junk",
          jwk(ec256),
          jwk(rsa, { kid: "enc", use: "enc" })
        ]
      })
      expect(set.size).toBe(2)
      expect([...set.kids].sort()).toEqual(["ec256", "rsa"])
      expect((yield* set.keysFor({ alg: "ES256", kid: "ec256" })).length).toBe(1)
    })
  )

  it.effect("a document that is not { keys: [...] } gives an empty set", () =>
    Effect.gen(function* () {
      for (const document of [null, "keys", [], {}, { keys: {} }, { keys: "x" }]) {
        const set = yield* KeySet.fromJwks(document)
        expect(set.size).toBe(0)
        expect(yield* reason(set.keysFor({ alg: "RS256" }))).toBe("unknown-key")
      }
    })
  )

  it.effect("without a kid, returns every key bound to the algorithm; duplicate kids are all kept", () =>
    Effect.gen(function* () {
      const other = yield* Effect.promise(() => Keys.generate("RS256", { kid: "rsa" }))
      const set = yield* KeySet.fromJwks({ keys: [jwk(rsa), jwk(other), jwk(ec256), jwk(rsa, { kid: undefined })] })
      expect(set.size).toBe(4)
      expect((yield* set.keysFor({ alg: "RS256", kid: "rsa" })).length).toBe(2)
      const all = yield* set.keysFor({ alg: "RS256" })
      expect(all.map((key) => key.kid)).toEqual(["rsa", "rsa", undefined])
      expect(yield* reason(set.keysFor({ alg: "RS256", kid: "nope" }))).toBe("unknown-key")
    })
  )

  it.effect("without a kid, refuses when more than maxKeysWithoutKid keys are bound to the algorithm", () =>
    Effect.gen(function* () {
      expect(KeySet.maxKeysWithoutKid).toBe(4)
      const five = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 5 }, (_, i) => Keys.generate("ES256", { kid: `ec-${i}` })))
      )
      const four = yield* KeySet.fromJwks({ keys: [...five.slice(0, 4).map((key) => jwk(key)), jwk(rsa), jwk(ed)] })
      expect((yield* four.keysFor({ alg: "ES256" })).length).toBe(4)

      const many = yield* KeySet.fromJwks({ keys: five.map((key) => jwk(key)) })
      // The token must name its key: trying them all would cost work in proportion to the JWKS.
      expect(yield* reason(many.keysFor({ alg: "ES256" }))).toBe("unknown-key")
      expect((yield* many.keysFor({ alg: "ES256", kid: "ec-4" })).map((key) => key.kid)).toEqual(["ec-4"])
    })
  )

  it.effect("imports each key once per key set, as a public KeyObject", () =>
    Effect.gen(function* () {
      const set = yield* KeySet.fromJwks({ keys: [jwk(rsa, { alg: undefined })] })
      const [first] = yield* set.keysFor({ alg: "RS256" })
      const [second] = yield* set.keysFor({ alg: "RS256", kid: "rsa" })
      const [pss] = yield* set.keysFor({ alg: "PS256" })
      expect(first?.key).toBeDefined()
      expect(second?.key).toBe(first?.key)
      expect(pss?.key).toBe(first?.key)
      expect(pss?.alg).toBe("PS256")
      expect(first?.key.type).toBe("public")
    })
  )

  it.effect("a key that fails to import is skipped for that algorithm", () =>
    Effect.gen(function* () {
      // Right lengths, but the point (1, 1) is not on P-256.
      const one = Buffer.alloc(32)
      one[31] = 1
      const offCurve = {
        kty: "EC",
        crv: "P-256",
        kid: "off",
        x: one.toString("base64url"),
        y: one.toString("base64url")
      }
      const set = yield* KeySet.fromJwks({ keys: [offCurve, jwk(ec256)] })
      expect(yield* reason(set.keysFor({ alg: "ES256", kid: "off" }))).toBe("unknown-key")
      expect((yield* set.keysFor({ alg: "ES256" })).map((key) => key.kid)).toEqual(["ec256"])
    })
  )

  it.effect("keeps the published members and extras, never key material it was not given", () =>
    Effect.gen(function* () {
      const set = yield* KeySet.fromJwks({ keys: [jwk(rsa, { issuer: "https://login.example.com/tenant/v2.0" })] })
      const [key] = yield* set.keysFor({ alg: "RS256" })
      expect(key?.jwk.issuer).toBe("https://login.example.com/tenant/v2.0")
      expect(key?.jwk.n).toBe(rsa.publicJwk.n)
      expect(Object.isFrozen(key?.jwk)).toBe(true)
    })
  )
})
