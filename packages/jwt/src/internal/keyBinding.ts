/**
 * Which algorithms a published JWK may verify, and why a JWK is not used at all.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

/** The asymmetric JWS algorithms this package verifies. */
export type Algorithm =
  "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384" | "ES512" | "EdDSA"

/** Every supported algorithm. */
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

const algorithmSet: ReadonlySet<string> = new Set(algorithms)

/** Whether a value names a supported algorithm. */
export const isAlgorithm = (u: unknown): u is Algorithm => typeof u === "string" && algorithmSet.has(u)

const rsa: ReadonlyArray<Algorithm> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]

/** The smallest RSA modulus accepted (NIST SP 800-131A; jose refuses smaller ones too). */
export const minRsaBits = 2048
/** The largest RSA modulus accepted: bigger keys only make verification slow. */
export const maxRsaBits = 16384

/** Curve → algorithm, with the byte length of a coordinate. */
const curves: Readonly<
  Record<string, { readonly kty: "EC" | "OKP"; readonly alg: Algorithm; readonly bytes: number }>
> = {
  "P-256": { kty: "EC", alg: "ES256", bytes: 32 },
  "P-384": { kty: "EC", alg: "ES384", bytes: 48 },
  "P-521": { kty: "EC", alg: "ES512", bytes: 66 },
  Ed25519: { kty: "OKP", alg: "EdDSA", bytes: 32 }
}

/** JWK members that only a private or symmetric key has. */
const privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"] as const

const Base64Url = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]+$/))

const common = {
  kid: Schema.optional(Schema.String),
  alg: Schema.optional(Schema.String),
  use: Schema.optional(Schema.String),
  key_ops: Schema.optional(Schema.Array(Schema.String))
}

const Jwk = Schema.Union(
  Schema.Struct({ kty: Schema.Literal("RSA"), n: Base64Url, e: Base64Url, ...common }),
  Schema.Struct({ kty: Schema.Literal("EC"), crv: Schema.String, x: Base64Url, y: Base64Url, ...common }),
  Schema.Struct({ kty: Schema.Literal("OKP"), crv: Schema.String, x: Base64Url, ...common })
)

const decodeJwk = Schema.decodeUnknownEither(Jwk)

/** A JWK that may be used, and for which algorithms. */
export interface Binding {
  readonly kid: string | undefined
  readonly algorithms: ReadonlyArray<Algorithm>
  /** The public members only: what is handed to `importJWK` (no `alg`, `use`, `key_ops` or `ext`). */
  readonly material: Readonly<Record<string, string>>
  /** The JWK as published (public members and extras such as Entra's `issuer`), frozen. */
  readonly jwk: Readonly<Record<string, unknown>>
}

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const byteLength = (b64url: string): number => Buffer.from(b64url, "base64url").length

const rsaModulusBits = (n: string): number => {
  const bytes = Buffer.from(n, "base64url")
  let start = 0
  while (start < bytes.length && bytes[start] === 0) start++
  if (start === bytes.length) return 0
  const first = bytes[start] ?? 0
  return (bytes.length - start - 1) * 8 + (32 - Math.clz32(first))
}

/**
 * Why an RSA public exponent is refused, or `undefined`. With e = 1 the signature of a message is its
 * padded hash, so anyone could sign; an even e is not an RSA key at all. Only the canonical spelling is
 * read (no leading zero byte, no set unused bits), so one key has one form.
 */
const rsaExponentProblem = (e: string): string | undefined => {
  const bytes = Buffer.from(e, "base64url")
  if (bytes.toString("base64url") !== e || bytes[0] === 0) return "RSA exponent not in canonical form"
  // At most 2^32 - 1: RFC 8017 allows more, but no deployed key uses it and a large e only costs time.
  if (bytes.length > 4) return "RSA exponent larger than 2^32 - 1"
  const value = bytes.reduce((acc, byte) => acc * 256 + byte, 0)
  if (value < 3 || value % 2 === 0) return "RSA exponent not an odd number of at least 3"
  return undefined
}

/**
 * Validates one published JWK and says which algorithms it may verify; `Left` carries why it is
 * skipped (a fixed text without key material, for the debug log).
 *
 * A JWK with `alg` serves that algorithm only; without `alg` it serves every algorithm its key type
 * allows (RSA: RS* and PS*; a curve: its one ECDSA or EdDSA algorithm).
 */
export const bind = (input: unknown): Either.Either<Binding, string> => {
  if (!isRecord(input)) return Either.left("not a JSON object")
  // Checked before the schema so that a private or symmetric key is never parsed, kept or imported.
  if (input.kty === "oct") return Either.left("symmetric key (kty oct)")
  if (privateMembers.some((member) => input[member] !== undefined)) return Either.left("has private key members")
  const decoded = decodeJwk(input)
  if (Either.isLeft(decoded)) return Either.left("unknown key type or invalid members")
  const jwk = decoded.right
  if (jwk.use !== undefined && jwk.use !== "sig") return Either.left("use is not sig")
  if (jwk.key_ops !== undefined && !jwk.key_ops.includes("verify")) return Either.left("key_ops lacks verify")
  let allowed: ReadonlyArray<Algorithm>
  let material: Record<string, string>
  if (jwk.kty === "RSA") {
    const bits = rsaModulusBits(jwk.n)
    if (bits < minRsaBits) return Either.left("RSA modulus shorter than 2048 bits")
    if (bits > maxRsaBits) return Either.left("RSA modulus longer than 16384 bits")
    const exponentProblem = rsaExponentProblem(jwk.e)
    if (exponentProblem !== undefined) return Either.left(exponentProblem)
    allowed = rsa
    material = { kty: "RSA", n: jwk.n, e: jwk.e }
  } else {
    const curve = curves[jwk.crv]
    if (curve === undefined || curve.kty !== jwk.kty) return Either.left("unsupported curve")
    if (byteLength(jwk.x) !== curve.bytes) return Either.left("coordinate of the wrong length")
    if (jwk.kty === "EC") {
      if (byteLength(jwk.y) !== curve.bytes) return Either.left("coordinate of the wrong length")
      material = { kty: "EC", crv: jwk.crv, x: jwk.x, y: jwk.y }
    } else {
      material = { kty: "OKP", crv: jwk.crv, x: jwk.x }
    }
    allowed = [curve.alg]
  }
  if (jwk.alg !== undefined) {
    if (!isAlgorithm(jwk.alg)) return Either.left("alg is not a supported algorithm")
    if (!allowed.includes(jwk.alg)) return Either.left("alg does not match the key type")
    allowed = [jwk.alg]
  }
  return Either.right({
    kid: jwk.kid,
    algorithms: allowed,
    material: Object.freeze(material),
    jwk: Object.freeze({ ...input })
  })
}

/**
 * A string that identifies a public key by its members (like the RFC 7638 thumbprint input), or
 * `undefined` when the JWK lacks them.
 */
export const publicKeyId = (jwk: Readonly<Record<string, unknown>>): string | undefined => {
  const members =
    jwk.kty === "RSA" ? ["kty", "n", "e"] : jwk.kty === "EC" ? ["kty", "crv", "x", "y"] : ["kty", "crv", "x"]
  const values = members.map((member) => jwk[member])
  return values.every((value) => typeof value === "string") ? values.join(".") : undefined
}
