import type { Keys } from "@effect-auth/testing"
import { importJWK } from "jose"
import type { JWK } from "jose"
import { Buffer } from "node:buffer"

/** The three segments of a compact JWS. */
export const segments = (token: string): [string, string, string] => {
  const [header = "", payload = "", signature = ""] = token.split(".")
  return [header, payload, signature]
}

/** Checks a signature with WebCrypto alone, for tokens jose refuses to verify by design. */
export const signatureIsValid = async (token: string, publicJwk: JWK, alg: Keys.Algorithm): Promise<boolean> => {
  const [header, payload, signature] = segments(token)
  const key = await importJWK(publicJwk, alg)
  if (!(key instanceof CryptoKey)) throw new Error("expected a CryptoKey")
  const params =
    alg === "EdDSA"
      ? { name: "Ed25519" }
      : alg.startsWith("PS")
        ? { name: "RSA-PSS", saltLength: Number(alg.slice(2)) / 8 }
        : alg.startsWith("ES")
          ? { name: "ECDSA", hash: `SHA-${alg.slice(2)}` }
          : { name: "RSASSA-PKCS1-v1_5" }
  return crypto.subtle.verify(
    params,
    key,
    Buffer.from(signature, "base64url"),
    new TextEncoder().encode(`${header}.${payload}`)
  )
}
