/**
 * JWS signature checks with `node:crypto`, synchronously, on keys imported once per key set.
 *
 * jose 6 verifies through WebCrypto only, which costs a promise and a copy per call and is about half as
 * fast as `crypto.verify` on a `KeyObject` (see bench/RESULTS.md). The checks here are the ones RFC 7518
 * defines and jose applies, and a differential test holds them to jose's decisions:
 *
 * - RS*: RSASSA-PKCS1-v1_5 with the algorithm's hash.
 * - PS*: RSASSA-PSS, MGF1 with the same hash, salt exactly as long as the hash (what WebCrypto requires).
 * - ES*: ECDSA with the signature in IEEE P1363 form (r || s, fixed length), never DER.
 * - EdDSA: Ed25519.
 *
 * The key's type must match the algorithm (an RSA key never checks an ES256 signature, a P-384 key never an
 * ES256 one): key binding ensures it for our key sets, and this module checks again for any key source.
 */
import { constants, createVerify, verify as cryptoVerify, type KeyObject } from "node:crypto"
import type { Algorithm } from "./keyBinding.js"

interface Scheme {
  /** The digest `crypto.verify` takes (`null`: the algorithm hashes itself, Ed25519). */
  readonly hash: string | null
  readonly keyType: "rsa" | "ec" | "ed25519"
  /** The curve of an EC key. */
  readonly curve?: string
  /** The exact length of an IEEE P1363 ECDSA signature. */
  readonly signatureBytes?: number
  readonly pss?: boolean
}

const schemes: Readonly<Record<Algorithm, Scheme>> = {
  RS256: { hash: "sha256", keyType: "rsa" },
  RS384: { hash: "sha384", keyType: "rsa" },
  RS512: { hash: "sha512", keyType: "rsa" },
  PS256: { hash: "sha256", keyType: "rsa", pss: true },
  PS384: { hash: "sha384", keyType: "rsa", pss: true },
  PS512: { hash: "sha512", keyType: "rsa", pss: true },
  ES256: { hash: "sha256", keyType: "ec", curve: "prime256v1", signatureBytes: 64 },
  ES384: { hash: "sha384", keyType: "ec", curve: "secp384r1", signatureBytes: 96 },
  ES512: { hash: "sha512", keyType: "ec", curve: "secp521r1", signatureBytes: 132 },
  EdDSA: { hash: null, keyType: "ed25519" }
}

interface Kind {
  /** `rsa` (2048 bits or more), `ec:<curve>`, `ed25519`, or `unusable`. */
  readonly name: string
  /** An RSA signature's exact length: the modulus' (a shorter spelling would also verify PSS). */
  readonly signatureBytes?: number
}

/** What a key is, read once per key: the details are built on each read. */
const kinds = new WeakMap<KeyObject, Kind>()

const kindOf = (key: KeyObject): Kind => {
  let kind = kinds.get(key)
  if (kind === undefined) {
    const type = key.type === "public" ? (key.asymmetricKeyType ?? "") : ""
    const details = key.asymmetricKeyDetails
    if (type === "rsa") {
      const bits = details?.modulusLength ?? 0
      // jose refuses RSA keys under 2048 bits whatever their source; so does this path (KeySet already does).
      kind = bits >= 2048 ? { name: "rsa", signatureBytes: Math.ceil(bits / 8) } : { name: "unusable" }
    } else {
      kind = { name: type === "ec" ? `ec:${details?.namedCurve ?? ""}` : type === "ed25519" ? type : "unusable" }
    }
    kinds.set(key, kind)
  }
  return kind
}

/** Whether `key` is a public key of the type, curve and size that `alg` is defined for. */
export const fits = (alg: Algorithm, key: KeyObject): boolean => {
  const scheme = schemes[alg]
  return kindOf(key).name === (scheme.curve === undefined ? scheme.keyType : `ec:${scheme.curve}`)
}

/**
 * Whether a signature has the one length `alg` allows with `key`: fixed for ECDSA (IEEE P1363), the
 * modulus' for RSA. Checked before any crypto, so one signature never has two spellings.
 */
export const hasExactLength = (alg: Algorithm, key: KeyObject, signature: Uint8Array): boolean => {
  const expected = schemes[alg].signatureBytes ?? kindOf(key).signatureBytes
  return expected === undefined || signature.length === expected
}

/**
 * Whether `signature` is `alg`'s signature of `signingInput` (the ASCII `header.payload` of the token) by
 * `key`. Never throws: anything OpenSSL refuses is a signature that does not verify.
 */
export const verify = (alg: Algorithm, key: KeyObject, signingInput: string, signature: Uint8Array): boolean => {
  const scheme = schemes[alg]
  // A key source could hand over any key: `crypto.verify` would happily check RS256 with an EC key.
  if (!fits(alg, key) || !hasExactLength(alg, key, signature)) return false
  try {
    // Ed25519 hashes itself, so only the one-shot call takes it. base64url is ASCII: latin1 encodes it exactly.
    if (scheme.hash === null) return cryptoVerify(null, Buffer.from(signingInput, "latin1"), key, signature)
    // A `Verify` object, not the one-shot `crypto.verify`: the one-shot call builds a job object around the same
    // OpenSSL calls and costs about 1 µs more per RSA check (measured: 22.0 against 20.9 µs for RS256).
    const verifier = createVerify(scheme.hash).update(signingInput, "latin1")
    if (scheme.keyType === "ec") return verifier.verify({ key, dsaEncoding: "ieee-p1363" }, signature)
    if (scheme.pss === true) {
      return verifier.verify(
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        signature
      )
    }
    return verifier.verify(key, signature)
  } catch {
    return false
  }
}
