import { Issuer, Keys, Tokens } from "@effect-auth/testing"
import { describe, expect, it } from "@effect/vitest"
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from "jose"
import type { JSONWebKeySet } from "jose"
import { Buffer } from "node:buffer"
import { segments, signatureIsValid } from "./helpers.js"

const fetchJwks = async (issuer: Issuer.Issuer): Promise<JSONWebKeySet> => {
  const response = await fetch(issuer.jwksUrl)
  return (await response.json()) as JSONWebKeySet
}

const decodeSegment = (segment: string): string => Buffer.from(segment, "base64url").toString("utf8")

describe("Tokens.mint", () => {
  it("mints tokens of every algorithm that jose verifies against the issuer's JWKS", async () => {
    const issuer = await Issuer.start({ algorithm: "EdDSA" })
    try {
      const keys = await Promise.all(Keys.algorithms.map((alg) => Keys.generate(alg)))
      for (const key of keys) issuer.addKey(key)
      const jwks = createLocalJWKSet(await fetchJwks(issuer))
      for (const key of keys) {
        const token = await issuer.mint({ aud: "api" }, { key })
        const { payload, protectedHeader } = await jwtVerify(token, jwks, {
          issuer: issuer.issuer,
          audience: "api",
          algorithms: [key.alg]
        })
        expect(protectedHeader).toEqual({ alg: key.alg, kid: key.kid, typ: "JWT" })
        expect(payload.sub).toBe("user-1")
      }
    } finally {
      await issuer.close()
    }
  })

  it("fills iat, exp, iss, sub and aud", async () => {
    const key = await Keys.generate("ES256")
    const token = await Tokens.mint({
      key,
      issuer: "https://issuer.test",
      subject: "alice",
      audience: ["api", "web"],
      now: 1_700_000_000,
      expiresIn: 60,
      claims: { scope: "read write" }
    })
    expect(decodeJwt(token)).toEqual({
      iss: "https://issuer.test",
      sub: "alice",
      aud: ["api", "web"],
      iat: 1_700_000_000,
      exp: 1_700_000_060,
      scope: "read write"
    })
    expect(decodeProtectedHeader(token)).toEqual({ alg: "ES256", kid: key.kid, typ: "JWT" })
  })

  it("defaults iat to now and exp to an hour later", async () => {
    const key = await Keys.generate("ES256")
    const before = Math.floor(Date.now() / 1000)
    const claims = decodeJwt(await Tokens.mint({ key }))
    const after = Math.floor(Date.now() / 1000)
    expect(claims.iat).toBeGreaterThanOrEqual(before)
    expect(claims.iat).toBeLessThanOrEqual(after)
    expect(claims.exp).toBe((claims.iat ?? 0) + 3600)
    expect(Object.keys(claims).sort()).toEqual(["exp", "iat"])
  })

  it("removes claims and header members set to undefined, and overrides the others", async () => {
    const key = await Keys.generate("ES256")
    const token = await Tokens.mint({
      key,
      issuer: "https://issuer.test",
      claims: { exp: undefined, iat: undefined, iss: "https://other.test", nbf: 5 },
      header: { typ: undefined, kid: "other-kid", cty: "x" }
    })
    expect(decodeJwt(token)).toEqual({ iss: "https://other.test", nbf: 5 })
    expect(decodeProtectedHeader(token)).toEqual({ alg: "ES256", kid: "other-kid", cty: "x" })
  })

  it("mints already expired tokens with a negative expiresIn", async () => {
    const issuer = await Issuer.start({ algorithm: "ES256" })
    try {
      const token = await issuer.mint({}, { expiresIn: -60 })
      const jwks = createLocalJWKSet(await fetchJwks(issuer))
      await expect(jwtVerify(token, jwks)).rejects.toBeInstanceOf(errors.JWTExpired)
    } finally {
      await issuer.close()
    }
  })

  it("signs headers jose would refuse with the key's own algorithm", async () => {
    const key = await Keys.generate("ES256")
    const confused = await Tokens.mint({ key, header: { alg: "ES384" } })
    expect(decodeProtectedHeader(confused).alg).toBe("ES384")
    expect(await signatureIsValid(confused, key.publicJwk, "ES256")).toBe(true)

    const noAlg = await Tokens.mint({ key, header: { alg: undefined } })
    expect(decodeProtectedHeader(noAlg)).toEqual({ kid: key.kid, typ: "JWT" })
    expect(await signatureIsValid(noAlg, key.publicJwk, "ES256")).toBe(true)
  })
})

describe("Tokens.sign", () => {
  it("uses a string payload verbatim, duplicate members included", async () => {
    const key = await Keys.generate("EdDSA")
    const raw = '{"sub":"alice","sub":"admin"}'
    const token = await Tokens.sign(key, { alg: "EdDSA", kid: key.kid }, raw)
    const [header, payload] = segments(token)
    expect(decodeSegment(header)).toBe(`{"alg":"EdDSA","kid":"${key.kid}"}`)
    expect(decodeSegment(payload)).toBe(raw)
    expect(await signatureIsValid(token, key.publicJwk, "EdDSA")).toBe(true)
  })

  it("adds nothing to the header or payload", async () => {
    const key = await Keys.generate("ES256")
    const token = await Tokens.sign(key, { alg: "ES256", jku: "https://evil.test/jwks", jwk: key.publicJwk }, { a: 1 })
    expect(decodeProtectedHeader(token)).toEqual({ alg: "ES256", jku: "https://evil.test/jwks", jwk: key.publicJwk })
    expect(decodeJwt(token)).toEqual({ a: 1 })
    expect(await signatureIsValid(token, key.publicJwk, "ES256")).toBe(true)
  })

  it("signs critical extensions, well-formed or not", async () => {
    const key = await Keys.generate("ES256")
    const jwks = createLocalJWKSet({ keys: [key.publicJwk] })
    const crit = await Tokens.sign(key, { alg: "ES256", crit: ["urn:test:ext"], "urn:test:ext": 1 }, { sub: "a" })
    await expect(jwtVerify(crit, jwks)).rejects.toBeInstanceOf(errors.JOSENotSupported)
    await expect(jwtVerify(crit, jwks, { crit: { "urn:test:ext": true } })).resolves.toMatchObject({
      payload: { sub: "a" }
    })

    const missing = await Tokens.sign(key, { alg: "ES256", crit: ["exp"] }, { sub: "a" })
    expect(decodeProtectedHeader(missing).crit).toEqual(["exp"])
    expect(await signatureIsValid(missing, key.publicJwk, "ES256")).toBe(true)
  })

  it("uses a string header verbatim", async () => {
    const key = await Keys.generate("ES256")
    const header = '{"alg":"ES256","alg":"none"}'
    const token = await Tokens.sign(key, header, { sub: "a" })
    expect(decodeSegment(segments(token)[0])).toBe(header)
    expect(await signatureIsValid(token, key.publicJwk, "ES256")).toBe(true)
  })
})
