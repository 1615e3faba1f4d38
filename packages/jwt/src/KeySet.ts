/**
 * A parsed, validated set of public verification keys: the unit every key source (a JWKS endpoint, a
 * static document) hands to the verifier.
 *
 * Keys come only from here, never from a token: a token's embedded `jwk`, `jku`, `x5u` or `x5c` is
 * not read. Keys the set cannot use safely are skipped (logged at debug level, without key material),
 * so one odd key never takes the others down.
 *
 * @since 0.1.0
 */
import { AuthError } from "@effect-auth/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { createPublicKey, type KeyObject } from "node:crypto"
import * as KeyBinding from "./internal/keyBinding.js"
import * as Signature from "./internal/signature.js"

/**
 * The asymmetric JWS algorithms this package verifies. HMAC (`HS*`) and `none` are not in the type,
 * so no configuration can allow them.
 *
 * @since 0.1.0
 */
export type Algorithm = KeyBinding.Algorithm

/**
 * Every supported algorithm.
 *
 * @since 0.1.0
 */
export const algorithms: ReadonlyArray<Algorithm> = KeyBinding.algorithms

/**
 * Whether a value names a supported algorithm.
 *
 * @since 0.1.0
 */
export const isAlgorithm: (u: unknown) => u is Algorithm = KeyBinding.isAlgorithm

/**
 * A key ready to verify one algorithm.
 *
 * @since 0.1.0
 */
export interface VerificationKey {
  readonly kid: string | undefined
  readonly alg: Algorithm
  /** The public key, imported once per key set (jose accepts it as well as `node:crypto`). */
  readonly key: KeyObject
  /** The published JWK: public members and extras such as Entra's `issuer`. */
  readonly jwk: Readonly<Record<string, unknown>>
}

/**
 * Where the verifier gets keys from.
 *
 * @since 0.1.0
 */
export interface KeySource {
  /** Keys that may verify a token with this header. Fails `InvalidToken("unknown-key")` when none. */
  readonly keysFor: (header: {
    readonly alg: Algorithm
    readonly kid?: string | undefined
  }) => Effect.Effect<ReadonlyArray<VerificationKey>, AuthError.InvalidToken | AuthError.ProviderUnavailable>
  /**
   * Optional synchronous lane: `keysFor`'s answer when it is at hand (keys in memory, nothing due), or
   * `undefined` when `keysFor` has to run (a fetch, a refresh). `nowMillis` is the caller's `Clock` time.
   */
  readonly keysForNow?:
    | ((
        header: { readonly alg: Algorithm; readonly kid?: string | undefined },
        nowMillis: number
      ) =>
        | Either.Either<ReadonlyArray<VerificationKey>, AuthError.InvalidToken | AuthError.ProviderUnavailable>
        | undefined)
    | undefined
}

/**
 * A validated key set.
 *
 * @since 0.1.0
 */
export interface KeySet extends KeySource {
  /** Always answers: a key set is in memory. */
  readonly keysForNow: (header: {
    readonly alg: Algorithm
    readonly kid?: string | undefined
  }) => Either.Either<ReadonlyArray<VerificationKey>, AuthError.InvalidToken>
  /** The `kid`s of the usable keys. */
  readonly kids: ReadonlySet<string>
  /** How many keys are usable (skipped keys are not counted). */
  readonly size: number
}

/**
 * The shape of a JWKS document (RFC 7517 §5): `keys` is checked to be an array; each key is checked
 * on its own by `fromJwks`, so one bad key does not fail the document.
 *
 * @since 0.1.0
 */
export const JwksDocument = Schema.Struct({ keys: Schema.Array(Schema.Unknown) })

const decodeDocument = Schema.decodeUnknownEither(JwksDocument)

interface Entry {
  readonly binding: KeyBinding.Binding
  /**
   * The key for each algorithm it is bound to, imported on first use (synchronously, once per key set):
   * `null` when the import failed, so a key the runtime refuses is skipped, never retried per request.
   */
  keys: ReadonlyMap<Algorithm, VerificationKey> | null | undefined
}

/**
 * The same public key, read back from its DER (SPKI) form. OpenSSL 3 holds a key built from JWK members as a
 * legacy key and fetches its key manager again on every check; a key decoded from DER has one. RSA and ECDSA
 * checks run 0.2 to 0.7 µs faster with it.
 */
const providerNative = (key: KeyObject): KeyObject =>
  createPublicKey({ key: key.export({ type: "spki", format: "der" }), format: "der", type: "spki" })

const importKeys = (entry: Entry): ReadonlyMap<Algorithm, VerificationKey> | null => {
  if (entry.keys !== undefined) return entry.keys
  let imported: ReadonlyMap<Algorithm, VerificationKey> | null = null
  try {
    const key = providerNative(createPublicKey({ key: { ...entry.binding.material }, format: "jwk" }))
    const { jwk, kid } = entry.binding
    // Binding chose the algorithms from the JWK's members; the imported key must agree (the last gate).
    const algorithms = entry.binding.algorithms.filter((alg) => Signature.fits(alg, key))
    imported = new Map(algorithms.map((alg) => [alg, Object.freeze({ kid, alg, key, jwk })]))
  } catch {
    // An EC point off its curve, a modulus OpenSSL will not load: this key cannot verify anything.
  }
  entry.keys = imported
  return imported
}

/**
 * The most keys a token without `kid` is tried against. When more keys are bound to its algorithm the
 * token is refused (`unknown-key`): it must name its key.
 *
 * @since 0.1.0
 */
export const maxKeysWithoutKid = 4

// One answer whether the kid is unknown, bound to another algorithm or failed to import: telling
// these apart would let a caller probe which kids and algorithms the set holds.
const unknownKey = () => new AuthError.InvalidToken({ reason: "unknown-key", detail: "No key can verify this token" })

const make = (entries: ReadonlyArray<Entry>): KeySet => {
  const kids = new Set<string>()
  for (const entry of entries) if (entry.binding.kid !== undefined) kids.add(entry.binding.kid)
  /**
   * The keys found for each algorithm and kid: a key set never changes, so each answer is worked out once.
   * Only found keys are kept, which bounds this by the set (made-up kids are not remembered).
   */
  const found = new Map<
    Algorithm,
    Map<string | undefined, Either.Either<ReadonlyArray<VerificationKey>, AuthError.InvalidToken>>
  >()
  const keysForNow = ({
    alg,
    kid
  }: {
    readonly alg: Algorithm
    readonly kid?: string | undefined
  }): Either.Either<ReadonlyArray<VerificationKey>, AuthError.InvalidToken> => {
    const known = found.get(alg)?.get(kid)
    if (known !== undefined) return known
    const answer = lookup(alg, kid)
    if (Either.isRight(answer)) {
      let byKid = found.get(alg)
      if (byKid === undefined) found.set(alg, (byKid = new Map()))
      byKid.set(kid, answer)
    }
    return answer
  }
  const lookup = (
    alg: Algorithm,
    kid: string | undefined
  ): Either.Either<ReadonlyArray<VerificationKey>, AuthError.InvalidToken> => {
    const candidates = entries.filter(
      (entry) => entry.binding.algorithms.includes(alg) && (kid === undefined || entry.binding.kid === kid)
    )
    if (candidates.length === 0) return Either.left(unknownKey())
    // Each candidate costs an import and a signature check: without this bound a kid-less token would
    // cost work in proportion to the JWKS (up to 1 MiB of 16384-bit RSA keys).
    if (kid === undefined && candidates.length > maxKeysWithoutKid) return Either.left(unknownKey())
    const keys: Array<VerificationKey> = []
    for (const entry of candidates) {
      const key = importKeys(entry)?.get(alg)
      if (key !== undefined) keys.push(key)
    }
    return keys.length === 0 ? Either.left(unknownKey()) : Either.right(Object.freeze(keys))
  }
  // An Either is an Effect: the lookup is synchronous either way.
  return { kids, size: entries.length, keysFor: keysForNow, keysForNow }
}

/**
 * Validates a JWKS document and binds its keys to algorithms. Skipped, never failing the set: keys of
 * an unknown `kty` or curve, with private members (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`),
 * `kty: "oct"`, `use` other than `"sig"`, `key_ops` without `"verify"`, RSA moduli under 2048 bits (or
 * over 16384), RSA exponents that are not an odd number from 3 to 2^32 - 1 spelt canonically (no leading
 * zero byte), and an `alg` that is unsupported or disagrees with the key type. A key with `alg` verifies
 * only that algorithm. Keys are imported lazily (`node:crypto` `KeyObject`s), once per key set; a key that fails to
 * import is skipped. A document that is not `{ keys: [...] }` gives an empty set (and a warning).
 *
 * `keysFor` with a `kid` returns the keys with that `kid` bound to the algorithm (several when a
 * provider publishes duplicate kids: each is tried); without a `kid`, every key bound to it, as long as
 * there are at most `maxKeysWithoutKid` (4) of them. No key, whatever the cause, and too many keys for a
 * token without `kid` are `InvalidToken("unknown-key")`.
 *
 * @example
 * import { KeySet } from "@effect-auth/jwt"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function* () {
 *   const keys = yield* KeySet.fromJwks({ keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }] })
 *   return yield* keys.keysFor({ alg: "EdDSA" })
 * })
 *
 * @since 0.1.0
 */
export const fromJwks = (jwks: unknown): Effect.Effect<KeySet> =>
  Effect.gen(function* () {
    const document = decodeDocument(jwks)
    if (Either.isLeft(document)) {
      yield* Effect.logWarning("The JWKS document is not { keys: [...] }; it provides no keys")
      return make([])
    }
    const entries: Array<Entry> = []
    for (const [index, input] of document.right.keys.entries()) {
      const bound = KeyBinding.bind(input)
      if (Either.isLeft(bound)) {
        const kid = typeof input === "object" && input !== null && "kid" in input ? input.kid : undefined
        yield* Effect.logDebug("Skipping a JWK").pipe(
          Effect.annotateLogs({
            index,
            reason: bound.left,
            ...(typeof kid === "string" && kid.length <= 256 ? { kid } : {})
          })
        )
        continue
      }
      entries.push({ binding: bound.right, keys: undefined })
    }
    return make(entries)
  })
