/**
 * Malicious and edge-case tokens: each must be refused with one exact reason. The tokens and the settings
 * they are checked with are in `fixtures/securityCases.ts`, shared with the differential test.
 */
import { JwtVerifier, KeySet } from "@effect-auth/jwt"
import type { Keys } from "@effect-auth/testing"
import { Tokens } from "@effect-auth/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import { jwtVerify } from "jose"
import { createPublicKey, verify } from "node:crypto"
import {
  base,
  cases,
  claims,
  derSigned,
  duplicateAlg,
  duplicateClaims,
  ec,
  ecHeader,
  exponentOne,
  header,
  ISSUER,
  jwks,
  nonCanonical,
  rsa,
  T0,
  valid,
  verifierOptions
} from "./fixtures/securityCases.js"

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
