/**
 * Malicious and edge-case tokens: each must be refused with one exact reason. Tokens are built with the
 * testing package (real keys, real signatures) and, where no library would produce them, by hand.
 */
import type { AuthError } from "@effect-auth/core"
import { JwtVerifier, KeySet } from "@effect-auth/jwt"
import { Keys, Tokens } from "@effect-auth/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import { jwtVerify } from "jose"
import { createHash, createHmac, createPublicKey, KeyObject, sign, verify } from "node:crypto"

const T0 = 1_750_000_000
const ISSUER = "https://issuer.example.com"
const AUDIENCE = "api://orders"

const rsa = await Keys.generate("RS256", { kid: "rsa-1" })
const ec = await Keys.generate("ES256", { kid: "ec-1" })
const attacker = await Keys.generate("RS256", { kid: "attacker" })
const attackerSameKid = await Keys.generate("RS256", { kid: "rsa-1" })

const claims = { iss: ISSUER, aud: AUDIENCE, sub: "user-1", iat: T0, exp: T0 + 3600 }
const header = { alg: "RS256", kid: "rsa-1", typ: "JWT" }
const ecHeader = { alg: "ES256", kid: "ec-1", typ: "JWT" }

const b64 = (data: string | Uint8Array): string => Buffer.from(data).toString("base64url")
const json = (value: unknown): string => b64(JSON.stringify(value))
const segments = (token: string): [string, string, string] => {
  const [h = "", p = "", s = ""] = token.split(".")
  return [h, p, s]
}

const valid = await Tokens.sign(rsa, header, claims)
const [validHeader, validPayload, validSignature] = segments(valid)

/** An HS256 token whose secret is `secret`: the classic RS256 → HS256 key confusion. */
const hmac = (secret: string, payload: unknown = claims): string => {
  const input = `${json({ alg: "HS256", kid: "rsa-1", typ: "JWT" })}.${json(payload)}`
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`
}
const publicPem = createPublicKey({ key: { ...rsa.publicJwk }, format: "jwk" })
  .export({ type: "spki", format: "pem" })
  .toString()

/** An ES256 signature in ASN.1 DER, as OpenSSL and Java produce it, instead of JWS's r || s. */
const derSigned = (() => {
  const input = `${json(ecHeader)}.${json(claims)}`
  const der = sign("sha256", Buffer.from(input), { key: KeyObject.from(ec.privateKey), dsaEncoding: "der" })
  return { token: `${input}.${b64(der)}`, input, der }
})()

/** The same signature bytes, spelt with non-zero unused bits in the last base64url character. */
const nonCanonical = (() => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  // 256 signature bytes take 342 characters: the last one carries 2 bits and 4 unused ones.
  const last = alphabet.indexOf(validSignature.charAt(validSignature.length - 1))
  const spelt = `${validSignature.slice(0, -1)}${alphabet.charAt(last | 0b0001)}`
  return `${validHeader}.${validPayload}.${spelt}`
})()

const flipped = (() => {
  const bytes = Buffer.from(validPayload, "base64url")
  const at = bytes.indexOf("user-1") + 5
  bytes[at] = (bytes[at] ?? 0) ^ 0x02 // "user-1" → "user-3": still valid JSON, different bytes
  return `${validHeader}.${b64(bytes)}.${validSignature}`
})()

const shortHeader = '{"alg":"RS256","kid":"rsa-1"}' // 29 bytes: its base64 needs one "=" of padding
const padded = await (async () => {
  const [h, p, s] = segments(await Tokens.sign(rsa, shortHeader, claims))
  return `${h}=.${p}.${s}`
})()

/**
 * A published RSA key with e = 1, and a token "signed" for it with no private key at all: s^1 = s, so the
 * RS256 signature is just the EMSA-PKCS1-v1_5 encoding of the hash (RFC 8017 §9.2), padded to the modulus.
 */
const exponentOne = (() => {
  const n = rsa.publicJwk.n
  if (n === undefined) throw new Error("the RSA test key has no modulus")
  const jwk = { kty: "RSA", kid: "rsa-e1", alg: "RS256", use: "sig", n, e: "AQ" }
  const input = `${json({ ...header, kid: "rsa-e1" })}.${json(claims)}`
  const sha256DigestInfo = Buffer.from("3031300d060960864801650304020105000420", "hex")
  const encodedHash = Buffer.concat([sha256DigestInfo, createHash("sha256").update(input).digest()])
  const modulusBytes = Buffer.from(n, "base64url").length
  const block = Buffer.concat([
    Uint8Array.of(0x00, 0x01),
    Buffer.alloc(modulusBytes - encodedHash.length - 3, 0xff),
    Uint8Array.of(0x00),
    encodedHash
  ])
  return { jwk, token: `${input}.${b64(block)}` }
})()

const duplicateClaims = `{"iss":"${ISSUER}","aud":"${AUDIENCE}","sub":"user-1","sub":"admin","iat":${T0},"exp":${T0 + 3600}}`
const duplicateAlg = '{"alg":"none","alg":"RS256","kid":"rsa-1"}'

type Verifier = "default" | "es256-only" | "typed"

interface Case {
  readonly name: string
  readonly token: string
  readonly expected: AuthError.InvalidToken["reason"]
  readonly verifier?: Verifier
}

const cases: ReadonlyArray<Case> = [
  // alg confusion
  {
    name: "alg none without signature",
    token: `${json({ alg: "none" })}.${json(claims)}.`,
    expected: "unsupported-algorithm"
  },
  {
    name: "alg none with a (valid RS256) signature",
    token: `${json({ alg: "none", kid: "rsa-1" })}.${validPayload}.${validSignature}`,
    expected: "unsupported-algorithm"
  },
  { name: 'alg "None"', token: `${json({ alg: "None" })}.${json(claims)}.`, expected: "unsupported-algorithm" },
  { name: 'alg "NONE"', token: `${json({ alg: "NONE" })}.${json(claims)}.`, expected: "unsupported-algorithm" },
  {
    name: 'alg "rs256" (case)',
    token: await Tokens.sign(rsa, { ...header, alg: "rs256" }, claims),
    expected: "unsupported-algorithm"
  },
  {
    name: 'alg "RS256 " (space)',
    token: await Tokens.sign(rsa, { ...header, alg: "RS256 " }, claims),
    expected: "unsupported-algorithm"
  },
  { name: "HS256 signed with the RSA public key (PEM)", token: hmac(publicPem), expected: "unsupported-algorithm" },
  {
    name: "HS256 signed with the RSA public key (JWK JSON)",
    token: hmac(JSON.stringify(rsa.publicJwk)),
    expected: "unsupported-algorithm"
  },
  { name: "RS256 token, ES256-only verifier", token: valid, expected: "unsupported-algorithm", verifier: "es256-only" },
  {
    name: "RS256 header naming the EC key",
    token: await Tokens.sign(rsa, { ...header, kid: "ec-1" }, claims),
    expected: "unknown-key"
  },
  // kid tricks
  { name: "unknown kid", token: await Tokens.sign(rsa, { ...header, kid: "rsa-2" }, claims), expected: "unknown-key" },
  { name: "empty kid", token: await Tokens.sign(rsa, { ...header, kid: "" }, claims), expected: "unknown-key" },
  {
    name: 'kid "../../dev/null"',
    token: await Tokens.sign(attacker, { ...header, kid: "../../dev/null" }, claims),
    expected: "unknown-key"
  },
  {
    name: 'kid "\' OR 1=1 --"',
    token: await Tokens.sign(attacker, { ...header, kid: "' OR 1=1 --" }, claims),
    expected: "unknown-key"
  },
  {
    name: "kid of 257 characters",
    token: await Tokens.sign(rsa, { ...header, kid: "k".repeat(257) }, claims),
    expected: "malformed"
  },
  { name: "kid as a number", token: await Tokens.sign(rsa, { ...header, kid: 1 }, claims), expected: "malformed" },
  // keys from the token are never used
  {
    name: "embedded jwk with the attacker's key and kid",
    token: await Tokens.sign(attacker, { ...header, kid: "attacker", jwk: attacker.publicJwk }, claims),
    expected: "unknown-key"
  },
  {
    name: "embedded jwk with the attacker's key, no kid",
    token: await Tokens.sign(attacker, { alg: "RS256", jwk: attacker.publicJwk }, claims),
    expected: "bad-signature"
  },
  {
    name: "jku to a foreign host",
    token: await Tokens.sign(attackerSameKid, { ...header, jku: "https://attacker.example.net/jwks.json" }, claims),
    expected: "bad-signature"
  },
  {
    name: "x5u to a foreign host",
    token: await Tokens.sign(attackerSameKid, { ...header, x5u: "https://attacker.example.net/cert.pem" }, claims),
    expected: "bad-signature"
  },
  {
    name: "x5c with the attacker's certificate",
    token: await Tokens.sign(attackerSameKid, { ...header, x5c: ["MIIBszCCAVmgAwIBAgIUattacker"] }, claims),
    expected: "bad-signature"
  },
  // crit
  {
    name: 'crit ["exp"]',
    token: await Tokens.sign(rsa, { ...header, crit: ["exp"], exp: T0 + 3600 }, claims),
    expected: "unsupported-critical-header"
  },
  {
    name: 'crit ["b64"] (jose itself understands b64)',
    token: await Tokens.sign(rsa, JSON.stringify({ ...header, crit: ["b64"], b64: true }), claims),
    expected: "unsupported-critical-header"
  },
  { name: "crit not a list", token: await Tokens.sign(rsa, { ...header, crit: "exp" }, claims), expected: "malformed" },
  // time
  {
    name: "expired",
    token: await Tokens.sign(rsa, header, { ...claims, iat: T0 - 7200, exp: T0 - 3600 }),
    expected: "expired"
  },
  {
    name: "nbf in the future",
    token: await Tokens.sign(rsa, header, { ...claims, nbf: T0 + 3600 }),
    expected: "not-yet-valid"
  },
  {
    name: "iat in the future",
    token: await Tokens.sign(rsa, header, { ...claims, iat: T0 + 3600 }),
    expected: "issued-in-future"
  },
  {
    name: "exp 1e400 (Infinity once parsed)",
    token: await Tokens.sign(
      rsa,
      header,
      `{"iss":"${ISSUER}","aud":"${AUDIENCE}","sub":"user-1","iat":${T0},"exp":1e400}`
    ),
    expected: "invalid-claim"
  },
  {
    name: "exp as a string",
    token: await Tokens.sign(rsa, header, { ...claims, exp: String(T0 + 3600) }),
    expected: "invalid-claim"
  },
  { name: "exp negative", token: await Tokens.sign(rsa, header, { ...claims, exp: -1 }), expected: "invalid-claim" },
  {
    name: "missing exp",
    token: await Tokens.sign(rsa, header, { ...claims, exp: undefined }),
    expected: "missing-claim"
  },
  // issuer, audience, type
  {
    name: "wrong iss",
    token: await Tokens.sign(rsa, header, { ...claims, iss: "https://evil.example.com" }),
    expected: "wrong-issuer"
  },
  {
    name: "iss as an array",
    token: await Tokens.sign(rsa, header, { ...claims, iss: [ISSUER] }),
    expected: "wrong-issuer"
  },
  {
    name: "wrong aud",
    token: await Tokens.sign(rsa, header, { ...claims, aud: "api://other" }),
    expected: "wrong-audience"
  },
  { name: "aud as a number", token: await Tokens.sign(rsa, header, { ...claims, aud: 1 }), expected: "invalid-claim" },
  { name: "typ mismatch when typ is required", token: valid, expected: "wrong-type", verifier: "typed" },
  // structure and encoding
  {
    name: "oversized (> 8 KiB), validly signed",
    token: await Tokens.sign(rsa, header, { ...claims, pad: "x".repeat(8192) }),
    expected: "too-large"
  },
  { name: "empty string", token: "", expected: "malformed" },
  { name: "truncated (2 segments)", token: `${validHeader}.${validPayload}`, expected: "malformed" },
  { name: "4 segments", token: `${valid}.${validSignature}`, expected: "malformed" },
  {
    name: "standard base64 (+, / and =) signature",
    token: `${validHeader}.${validPayload}.${Buffer.from(validSignature, "base64url").toString("base64")}`,
    expected: "malformed"
  },
  {
    name: "characters + and / in the payload",
    token: `${validHeader}.+/${validPayload.slice(2)}.${validSignature}`,
    expected: "malformed"
  },
  { name: "padding on the header", token: padded, expected: "malformed" },
  { name: "non-canonical base64url (unused bits set)", token: nonCanonical, expected: "malformed" },
  {
    name: "whitespace inside the token",
    token: `${validHeader}.${validPayload}\n.${validSignature}`,
    expected: "malformed"
  },
  { name: "header not JSON", token: `${b64("{alg:RS256}")}.${validPayload}.${validSignature}`, expected: "malformed" },
  { name: "header a JSON array", token: `${json(["RS256"])}.${validPayload}.${validSignature}`, expected: "malformed" },
  { name: "header without alg", token: await Tokens.sign(rsa, { kid: "rsa-1" }, claims), expected: "malformed" },
  { name: "payload a JSON array", token: await Tokens.sign(rsa, header, "[1,2]"), expected: "malformed" },
  { name: 'payload "null"', token: await Tokens.sign(rsa, header, "null"), expected: "malformed" },
  {
    name: "payload not UTF-8",
    token: await Tokens.sign(rsa, header, Uint8Array.of(0x7b, 0xff, 0x7d)),
    expected: "malformed"
  },
  {
    name: "payload with a byte-order mark",
    token: await Tokens.sign(rsa, header, `\uFEFF${JSON.stringify(claims)}`),
    expected: "malformed"
  },
  {
    name: "duplicate claims in the raw JSON",
    token: await Tokens.sign(rsa, header, duplicateClaims),
    expected: "malformed"
  },
  {
    name: "duplicate claims spelt with an escape",
    token: await Tokens.sign(rsa, header, `{"sub":"a","s\\u0075b":"b","exp":${T0 + 60}}`),
    expected: "malformed"
  },
  {
    name: "duplicate members in a nested object",
    token: await Tokens.sign(rsa, header, `{"sub":"a","ctx":{"role":"user","role":"admin"},"exp":${T0 + 60}}`),
    expected: "malformed"
  },
  { name: "duplicate alg in the header", token: await Tokens.sign(rsa, duplicateAlg, claims), expected: "malformed" },
  // signatures
  {
    name: "ECDSA signature of zeros (CVE-2022-21449)",
    token: `${json(ecHeader)}.${json(claims)}.${b64(new Uint8Array(64))}`,
    expected: "bad-signature"
  },
  { name: "ECDSA signature DER-encoded instead of r || s", token: derSigned.token, expected: "bad-signature" },
  {
    name: "signature from another key with the same kid",
    token: await Tokens.sign(attackerSameKid, header, claims),
    expected: "bad-signature"
  },
  { name: "valid token with one payload byte flipped", token: flipped, expected: "bad-signature" },
  {
    name: "RSA key with e = 1, signature forged without a private key (the key is skipped)",
    token: exponentOne.token,
    expected: "unknown-key"
  },
  { name: "empty signature", token: `${validHeader}.${validPayload}.`, expected: "bad-signature" },
  {
    name: "signature of another token",
    token: `${validHeader}.${json({ ...claims, sub: "admin" })}.${validSignature}`,
    expected: "bad-signature"
  },
  // a forged token never reaches the claim checks
  {
    name: "forged and expired",
    token: await Tokens.sign(attackerSameKid, header, { ...claims, exp: T0 - 3600 }),
    expected: "bad-signature"
  },
  {
    name: "forged with a wrong issuer",
    token: await Tokens.sign(attackerSameKid, header, { ...claims, iss: "https://evil.example.com" }),
    expected: "bad-signature"
  },
  {
    name: "forged with a wrong typ",
    token: await Tokens.sign(attackerSameKid, header, claims),
    expected: "bad-signature",
    verifier: "typed"
  },
  {
    name: "forged with exp 1e400",
    token: await Tokens.sign(attackerSameKid, header, `{"iss":"${ISSUER}","aud":"${AUDIENCE}","exp":1e400}`),
    expected: "bad-signature"
  }
]

const jwks = { keys: [rsa.publicJwk, ec.publicJwk, exponentOne.jwk] }
const base: JwtVerifier.Options = { algorithms: ["RS256", "ES256"], issuer: ISSUER, audience: AUDIENCE }
const verifierOptions: Record<Verifier, JwtVerifier.Options> = {
  default: base,
  "es256-only": { ...base, algorithms: ["ES256"] },
  typed: { ...base, typ: "at+jwt" }
}

describe("SecuritySuite", () => {
  it("has at least 30 cases with distinct names", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30)
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length)
  })

  for (const { expected, name, token, verifier = "default" } of cases) {
    it.effect(`${name} → ${expected}`, () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(T0 * 1000)
        const keys = yield* KeySet.fromJwks(jwks)
        const jwt = yield* JwtVerifier.make(verifierOptions[verifier])
        const error = yield* Effect.flip(jwt.verify(token, keys))
        expect(error._tag).toBe("InvalidToken")
        if (error._tag !== "InvalidToken") return
        expect(error.reason).toBe(expected)
        // Fixed, library-written text: never a piece of the token.
        expect(error.detail).toBeDefined()
        for (const part of token.split(".")) {
          if (part.length >= 8) expect(error.message).not.toContain(part.slice(0, 8))
        }
      })
    )
  }

  it.effect("the genuine token the cases are derived from verifies, cached or not", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(T0 * 1000)
      const keys = yield* KeySet.fromJwks(jwks)
      for (const options of [base, { ...base, cache: { maxEntries: 10 } }]) {
        const jwt = yield* JwtVerifier.make(options)
        expect((yield* jwt.verify(valid, keys)).claims.sub).toBe("user-1")
        expect((yield* jwt.verify(valid, keys)).claims.sub).toBe("user-1")
        yield* jwt.verify(yield* Effect.promise(() => Tokens.sign(ec, ecHeader, claims)), keys)
      }
    })
  )

  it.effect("a refused token stays refused when the cache is on", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(T0 * 1000)
      const keys = yield* KeySet.fromJwks(jwks)
      const jwt = yield* JwtVerifier.make({ ...base, cache: { maxEntries: 100 } })
      yield* jwt.verify(valid, keys)
      for (const { expected, token, verifier = "default" } of cases) {
        if (verifier !== "default") continue
        const error = yield* Effect.flip(jwt.verify(token, keys))
        expect(error._tag === "InvalidToken" ? error.reason : error._tag).toBe(expected)
      }
    })
  )

  // The cases above would be meaningless if these tokens were not otherwise genuine: jose alone, with
  // the right key, accepts them, and only this package's stricter reading refuses them.
  describe("tokens jose alone accepts", () => {
    const joseAccepts = (token: string, key: Keys.SigningKey) =>
      Effect.promise(async () => {
        const publicKey = await crypto.subtle.importKey(
          "jwk",
          { ...key.publicJwk },
          { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
          false,
          ["verify"]
        )
        return jwtVerify(token, publicKey, { currentDate: new Date(T0 * 1000) }).then(
          (result) => result.payload,
          () => undefined
        )
      })

    it.effect("non-canonical base64url signature", () =>
      Effect.gen(function* () {
        expect(nonCanonical).not.toBe(valid)
        expect((yield* joseAccepts(nonCanonical, rsa))?.sub).toBe("user-1")
      })
    )

    it.effect("duplicate claims: jose keeps the last one", () =>
      Effect.gen(function* () {
        const token = yield* Effect.promise(() => Tokens.sign(rsa, header, duplicateClaims))
        expect((yield* joseAccepts(token, rsa))?.sub).toBe("admin")
      })
    )

    it.effect("duplicate alg: jose keeps the last one", () =>
      Effect.gen(function* () {
        const token = yield* Effect.promise(() => Tokens.sign(rsa, duplicateAlg, claims))
        expect((yield* joseAccepts(token, rsa))?.sub).toBe("user-1")
      })
    )

    it.effect("exp 1e400 never expires for jose", () =>
      Effect.gen(function* () {
        const token = yield* Effect.promise(() =>
          Tokens.sign(rsa, header, `{"iss":"${ISSUER}","sub":"user-1","exp":1e400}`)
        )
        expect((yield* joseAccepts(token, rsa))?.exp).toBe(Number.POSITIVE_INFINITY)
      })
    )

    it.effect("a key with e = 1 accepts the forged signature", () =>
      Effect.gen(function* () {
        const key = yield* Effect.promise(() =>
          crypto.subtle.importKey("jwk", exponentOne.jwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, [
            "verify"
          ])
        )
        const verified = yield* Effect.promise(() =>
          jwtVerify(exponentOne.token, key, { currentDate: new Date(T0 * 1000) })
        )
        expect(verified.payload.sub).toBe("user-1")
      })
    )

    it("the DER signature is a genuine signature of the same input", () => {
      const publicKey = createPublicKey({ key: { ...ec.publicJwk }, format: "jwk" })
      const ok = verify("sha256", Buffer.from(derSigned.input), { key: publicKey, dsaEncoding: "der" }, derSigned.der)
      expect(ok).toBe(true)
    })
  })
})
