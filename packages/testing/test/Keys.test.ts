import { Keys, Tokens } from "@effect-auth/testing"
import { describe, expect, it } from "@effect/vitest"
import { Buffer } from "node:buffer"
import { signatureIsValid } from "./helpers.js"

describe("Keys", () => {
  it("publishes only public members, with kid, alg and use", async () => {
    const rsa = await Keys.generate()
    expect(rsa.alg).toBe("RS256")
    expect(rsa.publicJwk).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig", kid: rsa.kid, e: "AQAB" })
    expect(Buffer.from(rsa.publicJwk.n ?? "", "base64url").length).toBe(256)
    expect(Object.keys(rsa.publicJwk).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"])

    const ed = await Keys.generate("EdDSA", { kid: "ed-key" })
    expect(ed.publicJwk).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig", kid: "ed-key" })
    expect(Object.keys(ed.publicJwk).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x"])

    const ec = await Keys.generate("ES384")
    expect(ec.publicJwk).toMatchObject({ kty: "EC", crv: "P-384", alg: "ES384" })
    expect(ec.privateKey.type).toBe("private")
    expect(ec.privateKey.extractable).toBe(true)
  })

  it("gives each key a random kid by default", async () => {
    const [a, b] = await Promise.all([Keys.generate("ES256"), Keys.generate("ES256")])
    expect(a.kid).toMatch(/^[A-Za-z0-9_-]{11}$/)
    expect(a.kid).not.toBe(b.kid)
  })

  it("honours modulusLength, even below what jose generates", async () => {
    const weak = await Keys.generate("RS256", { modulusLength: 1024 })
    expect(Buffer.from(weak.publicJwk.n ?? "", "base64url").length).toBe(128)
    const token = await Tokens.mint({ key: weak })
    expect(await signatureIsValid(token, weak.publicJwk, "RS256")).toBe(true)
  })
})
