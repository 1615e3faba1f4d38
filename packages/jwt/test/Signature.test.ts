import { describe, expect, it } from "@effect/vitest"
import { constants, generateKeyPairSync, type KeyObject, sign } from "node:crypto"
import { fits, hasExactLength, verify } from "../src/internal/signature.js"

const input = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9"
const data = Buffer.from(input, "latin1")

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 })
const p256 = generateKeyPairSync("ec", { namedCurve: "P-256" })
const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" })
const ed25519 = generateKeyPairSync("ed25519")

const rs256 = sign("sha256", data, rsa.privateKey)
const ps256 = sign("sha256", data, {
  key: rsa.privateKey,
  padding: constants.RSA_PKCS1_PSS_PADDING,
  saltLength: constants.RSA_PSS_SALTLEN_DIGEST
})
const es256 = sign("sha256", data, { key: p256.privateKey, dsaEncoding: "ieee-p1363" })
const es256Der = sign("sha256", data, p256.privateKey)
const eddsa = sign(null, data, ed25519.privateKey)

describe("signature checks", () => {
  it("keeps each algorithm's rules for one key, whichever algorithm was checked before", () => {
    const key: KeyObject = rsa.publicKey
    // Alternating: the check worked out for one algorithm is never the other's.
    for (let round = 0; round < 3; round++) {
      expect(verify("RS256", key, input, rs256)).toBe(true)
      expect(verify("PS256", key, input, rs256)).toBe(false)
      expect(verify("PS256", key, input, ps256)).toBe(true)
      expect(verify("RS256", key, input, ps256)).toBe(false)
    }
  })

  it("checks a key only for the algorithms of its type, curve and size", () => {
    expect(fits("ES256", p256.publicKey)).toBe(true)
    expect(fits("ES384", p256.publicKey)).toBe(false)
    expect(fits("ES256", p384.publicKey)).toBe(false)
    expect(fits("RS256", p256.publicKey)).toBe(false)
    expect(fits("EdDSA", rsa.publicKey)).toBe(false)
    expect(fits("RS256", generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey)).toBe(false)
    // A private key is not a verification key, even of the right type.
    expect(fits("RS256", rsa.privateKey)).toBe(false)
    expect(verify("ES256", p256.publicKey, input, es256)).toBe(true)
    expect(verify("ES384", p256.publicKey, input, es256)).toBe(false)
    expect(verify("EdDSA", ed25519.publicKey, input, eddsa)).toBe(true)
    expect(verify("EdDSA", rsa.publicKey, input, rs256)).toBe(false)
  })

  it("takes one spelling of a signature: P1363 of the curve's length, or the modulus' length", () => {
    expect(hasExactLength("ES256", p256.publicKey, es256)).toBe(true)
    // DER is another spelling of the same signature (and a different length).
    expect(verify("ES256", p256.publicKey, input, es256Der)).toBe(false)
    expect(hasExactLength("RS256", rsa.publicKey, rs256)).toBe(true)
    expect(verify("RS256", rsa.publicKey, input, rs256.subarray(1))).toBe(false)
    expect(verify("RS256", rsa.publicKey, input, Buffer.concat([Buffer.alloc(1), rs256]))).toBe(false)
  })
})
