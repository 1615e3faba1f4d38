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

/**
 * How one key checks one algorithm's signatures, worked out once per key and algorithm. Every check has this
 * shape and goes through the same calls, so the code that runs it (ours and node's option reads) sees one
 * shape whatever the algorithm: an application with RS256 and ES256 issuers does not make it polymorphic.
 */
interface Check {
  /** Whether the key is a public key of the type, curve and size the algorithm is defined for. */
  readonly fits: boolean
  /**
   * The one signature length allowed, or 0: fixed for ECDSA (IEEE P1363), the modulus' for RSA (a shorter
   * spelling would also verify PSS). Checked before any crypto, so one signature never has two spellings.
   */
  readonly signatureBytes: number
  /** The digest of a `Verify` object; `null` for Ed25519, which hashes itself (one-shot call only). */
  readonly hash: string | null
  /** What `Verify.verify` takes, with the same members for every algorithm (each ignores the others'). */
  readonly options: {
    readonly key: KeyObject
    readonly dsaEncoding: "ieee-p1363"
    readonly padding: number
    readonly saltLength: number
  }
}

const makeCheck = (alg: Algorithm, key: KeyObject): Check => {
  const scheme = schemes[alg]
  const type = key.type === "public" ? (key.asymmetricKeyType ?? "") : ""
  const details = key.asymmetricKeyDetails
  const bits = type === "rsa" ? (details?.modulusLength ?? 0) : 0
  const fits =
    type === scheme.keyType &&
    (scheme.curve === undefined || details?.namedCurve === scheme.curve) &&
    // jose refuses RSA keys under 2048 bits whatever their source; so does this path (KeySet already does).
    (type !== "rsa" || bits >= 2048)
  return {
    fits,
    signatureBytes: scheme.signatureBytes ?? Math.ceil(bits / 8),
    hash: scheme.hash,
    options: {
      key,
      dsaEncoding: "ieee-p1363",
      padding: scheme.pss === true ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST
    }
  }
}

/** The checks of each key by algorithm: held as long as the key is. */
const checks = new WeakMap<KeyObject, Map<Algorithm, Check>>()

/** The check asked for last: most requests use the key the previous one used. */
let last: { readonly alg: Algorithm; readonly key: KeyObject; readonly check: Check } | undefined

const checkOf = (alg: Algorithm, key: KeyObject): Check => {
  const previous = last
  if (previous !== undefined && previous.key === key && previous.alg === alg) return previous.check
  let byAlgorithm = checks.get(key)
  if (byAlgorithm === undefined) checks.set(key, (byAlgorithm = new Map()))
  let check = byAlgorithm.get(alg)
  if (check === undefined) byAlgorithm.set(alg, (check = makeCheck(alg, key)))
  last = { alg, key, check }
  return check
}

/** Whether `key` is a public key of the type, curve and size that `alg` is defined for. */
export const fits = (alg: Algorithm, key: KeyObject): boolean => checkOf(alg, key).fits

/**
 * Whether a signature has the one length `alg` allows with `key`: fixed for ECDSA (IEEE P1363), the
 * modulus' for RSA. Checked before any crypto, so one signature never has two spellings.
 */
export const hasExactLength = (alg: Algorithm, key: KeyObject, signature: Uint8Array): boolean =>
  hasLengthOf(checkOf(alg, key), signature)

const hasLengthOf = (check: Check, signature: Uint8Array): boolean =>
  check.signatureBytes === 0 || signature.length === check.signatureBytes

/**
 * Whether `signature` is `alg`'s signature of `signingInput` (the ASCII `header.payload` of the token) by
 * `key`. Never throws: anything OpenSSL refuses is a signature that does not verify.
 */
export const verify = (alg: Algorithm, key: KeyObject, signingInput: string, signature: Uint8Array): boolean => {
  const check = checkOf(alg, key)
  // A key source could hand over any key: `crypto.verify` would happily check RS256 with an EC key.
  if (!check.fits || !hasLengthOf(check, signature)) return false
  try {
    // Ed25519 hashes itself, so only the one-shot call takes it. base64url is ASCII: latin1 encodes it exactly.
    if (check.hash === null) return cryptoVerify(null, Buffer.from(signingInput, "latin1"), key, signature)
    // A `Verify` object, not the one-shot `crypto.verify`: the one-shot call builds a job object around the same
    // OpenSSL calls and costs about 1 µs more per RSA check (measured: 22.0 against 20.9 µs for RS256).
    return createVerify(check.hash).update(signingInput, "latin1").verify(check.options, signature)
  } catch {
    return false
  }
}
