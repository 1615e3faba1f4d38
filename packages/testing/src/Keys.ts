/**
 * Signing keys for tests: a private `CryptoKey` to mint tokens with and the public JWK an issuer
 * publishes for it.
 *
 * @since 0.1.0
 */
import { exportJWK, generateKeyPair } from "jose"
import type { JWK } from "jose"
import { randomBytes } from "node:crypto"
import { isRsa, rsaGenerateParams } from "./internal/algorithms.js"

/**
 * The asymmetric JWS algorithms a test key can sign with (no HMAC, no `none`).
 *
 * @since 0.1.0
 */
export type Algorithm =
  "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384" | "ES512" | "EdDSA"

/**
 * Every `Algorithm`, in a stable order (handy for `it.each`).
 *
 * @since 0.1.0
 */
export const algorithms: ReadonlyArray<Algorithm> = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA"
]

/**
 * A key pair: `privateKey` signs (jose accepts it directly), `publicJwk` is what a JWKS publishes.
 *
 * @since 0.1.0
 */
export interface SigningKey {
  readonly kid: string
  readonly alg: Algorithm
  /** Extractable, so tests can export it if they need to. */
  readonly privateKey: CryptoKey
  /** Public members only, plus `kid`, `alg` and `use: "sig"`. */
  readonly publicJwk: JWK
}

/**
 * Options of `generate`.
 *
 * @since 0.1.0
 */
export interface GenerateOptions {
  /** Default: base64url of 8 random bytes. */
  readonly kid?: string | undefined
  /**
   * RSA modulus length in bits, default 2048. Values below 2048 (which jose refuses to generate) are
   * generated with WebCrypto directly, so tests can check that weak keys are refused.
   */
  readonly modulusLength?: number | undefined
}

/**
 * Generates a fresh key pair for `alg` (default `RS256`; `EdDSA` uses the Ed25519 curve).
 *
 * @example
 * const key = await Keys.generate("ES256", { kid: "test-key" })
 *
 * @since 0.1.0
 */
export const generate = async (alg: Algorithm = "RS256", options?: GenerateOptions): Promise<SigningKey> => {
  const kid = options?.kid ?? randomBytes(8).toString("base64url")
  const modulusLength = options?.modulusLength ?? 2048
  const pair =
    isRsa(alg) && modulusLength < 2048
      ? await generateWeakRsa(alg, modulusLength)
      : await generateKeyPair(
          alg,
          isRsa(alg)
            ? { extractable: true, modulusLength }
            : alg === "EdDSA"
              ? { extractable: true, crv: "Ed25519" }
              : { extractable: true }
        )
  const exported = await exportJWK(pair.publicKey)
  const publicJwk: JWK = { ...exported, kid, alg, use: "sig" }
  return { kid, alg, privateKey: pair.privateKey, publicJwk }
}

const generateWeakRsa = (alg: Algorithm, modulusLength: number): Promise<CryptoKeyPair> =>
  crypto.subtle.generateKey(rsaGenerateParams(alg, modulusLength), true, ["sign", "verify"])
