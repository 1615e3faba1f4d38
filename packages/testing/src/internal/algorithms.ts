import type { Algorithm } from "../Keys.js"

/** @internal */
export const isRsa = (alg: Algorithm): boolean => alg.startsWith("RS") || alg.startsWith("PS")

const hash = (alg: Algorithm): string => `SHA-${alg.slice(2)}`

/** @internal WebCrypto parameters that generate an RSA key pair for `alg` (any modulus length). */
export const rsaGenerateParams = (alg: Algorithm, modulusLength: number): RsaHashedKeyGenParams => ({
  name: alg.startsWith("PS") ? "RSA-PSS" : "RSASSA-PKCS1-v1_5",
  hash: hash(alg),
  modulusLength,
  publicExponent: Uint8Array.of(1, 0, 1)
})

/** @internal WebCrypto parameters that produce a JWS signature for `alg` (ECDSA output is already r || s). */
export const signParams = (alg: Algorithm): AlgorithmIdentifier | RsaPssParams | EcdsaParams => {
  if (alg === "EdDSA") return { name: "Ed25519" }
  if (alg.startsWith("PS")) return { name: "RSA-PSS", saltLength: Number(alg.slice(2)) / 8 }
  if (alg.startsWith("ES")) return { name: "ECDSA", hash: hash(alg) }
  return { name: "RSASSA-PKCS1-v1_5" }
}

/** @internal Whether jose will sign with this key: it refuses RSA moduli below 2048 bits. */
export const joseCanSign = (key: CryptoKey): boolean => {
  const algorithm: KeyAlgorithm & { readonly modulusLength?: number } = key.algorithm
  return algorithm.modulusLength === undefined || algorithm.modulusLength >= 2048
}
