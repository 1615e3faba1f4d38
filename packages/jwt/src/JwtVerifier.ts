/**
 * Verifies signed JWTs (JWS compact serialization) against a `KeySource`. Signatures are checked with
 * `node:crypto` on keys imported once per key set (or, with `engine: "jose"`, by `jose.jwtVerify`, the
 * reference the fast path is tested against); this module does everything else.
 *
 * In order: the size (before any parsing), a strict decode (`internal/compact`), the header (algorithm
 * from the verifier's allow-list, never from the token; `crit`; `kid`), the keys (from the `KeySource`
 * only, never from `jwk`/`jku`/`x5u`/`x5c` headers), the signature, and only then the claims. A forged
 * token therefore learns nothing about claim checks: it gets `bad-signature` or an earlier structural
 * reason.
 *
 * @since 0.1.0
 */
import { AuthError } from "@effect-auth/core"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { jwtVerify } from "jose"
import { hash } from "node:crypto"
import { isNonEmptyString } from "./internal/claims.js"
import * as Compact from "./internal/compact.js"
import { publicKeyId } from "./internal/keyBinding.js"
import * as Lru from "./internal/lru.js"
import * as Signature from "./internal/signature.js"
import * as KeySet from "./KeySet.js"

/**
 * The JWT claims set.
 *
 * @since 0.1.0
 */
export type Claims = Readonly<Record<string, unknown>>

/**
 * How a verifier checks tokens.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The algorithms accepted, whatever a token's header says. At least one. */
  readonly algorithms: ReadonlyArray<KeySet.Algorithm>
  /** Accepted `iss`: exact string(s), or a predicate (multi-tenant issuers). */
  readonly issuer: string | ReadonlyArray<string> | ((iss: string, claims: Claims) => boolean)
  /** When set, `aud` is required and must contain one of these. */
  readonly audience?: string | ReadonlyArray<string> | undefined
  /** Allowed clock skew for `exp`, `nbf`, `iat` and `maxAge`. Default 30 seconds, at most 5 minutes. */
  readonly clockTolerance?: Duration.DurationInput | undefined
  /** Required header `typ` (case-insensitive; `"application/"` optional), e.g. `"at+jwt"`. */
  readonly typ?: string | ReadonlyArray<string> | undefined
  /** Claims that must be present. */
  readonly requiredClaims?: ReadonlyArray<string> | undefined
  /** Largest token accepted, in bytes; checked before any parsing. Default 8192. */
  readonly maxTokenBytes?: number | undefined
  /** Whether `exp` is required. Default `true`. */
  readonly requireExp?: boolean | undefined
  /** Largest accepted `now - iat` (then `iat` is required). */
  readonly maxAge?: Duration.DurationInput | undefined
  /** RFC 9068 access tokens: `typ` `at+jwt`; `sub`, `client_id`, `iat`, `jti` required; needs `audience`. */
  readonly accessTokenProfile?: boolean | undefined
  /** A cache of verified tokens, keyed by their SHA-256. Off by default. */
  readonly cache?: { readonly maxEntries: number } | undefined
  /** Names a `crit` header may list because the application processes them. Default none. */
  readonly understoodCriticalHeaders?: ReadonlyArray<string> | undefined
  /**
   * What checks signatures. `"node"` (default): `node:crypto` on keys imported once, synchronously, then
   * this module's claim checks. `"jose"`: `jose.jwtVerify` (WebCrypto), then the same claim checks; about
   * half as fast, kept as the reference the differential test holds `"node"` to. Both give the same
   * decision and reason for every token.
   */
  readonly engine?: Engine | undefined
}

/**
 * What checks signatures: `node:crypto` (the default) or `jose`.
 *
 * @since 0.1.0
 */
export type Engine = "node" | "jose"

/**
 * A verified token.
 *
 * @since 0.1.0
 */
export interface Verified {
  readonly header: Readonly<Record<string, unknown>>
  readonly claims: Claims
  /** The key whose signature verified. */
  readonly key: KeySet.VerificationKey
}

/**
 * A token verifier.
 *
 * @since 0.1.0
 */
export interface JwtVerifier {
  readonly verify: (
    token: string,
    keys: KeySet.KeySource
  ) => Effect.Effect<Verified, AuthError.InvalidToken | AuthError.ProviderUnavailable>
  /**
   * `verify` without a fiber when the key source has the keys at hand (`KeySource.keysForNow`) and the
   * engine is `"node"`: the same decision, or `undefined` when `verify` has to run. `nowMillis` is the
   * caller's `Clock` time.
   */
  readonly verifyNow?:
    | ((
        token: string,
        keys: KeySet.KeySource,
        nowMillis: number
      ) => Either.Either<Verified, AuthError.InvalidToken | AuthError.ProviderUnavailable> | undefined)
    | undefined
  /**
   * The verified-token cache's answer for `token`, from memory only: its verification when the cache holds
   * one that still passes every time check and whose key the source still offers at hand, otherwise
   * `undefined`. Decodes nothing, so a provider can ask before it reads the token (engine `"node"` only).
   */
  readonly cachedNow?: ((token: string, keys: KeySet.KeySource, nowMillis: number) => Verified | undefined) | undefined
}

/**
 * The default largest token: 8 KiB.
 *
 * @since 0.1.0
 */
export const defaultMaxTokenBytes = 8192

/**
 * The default clock tolerance: 30 seconds.
 *
 * @since 0.1.0
 */
export const defaultClockTolerance: Duration.Duration = Duration.seconds(30)

/**
 * The largest clock tolerance `make` accepts: 5 minutes.
 *
 * @since 0.1.0
 */
export const maxClockTolerance: Duration.Duration = Duration.minutes(5)

/** The longest `kid` read; longer ones are refused before any key lookup. */
const maxKidLength = 256

type Reason = AuthError.InvalidToken["reason"]

const fail = (reason: Reason, detail: string) => new AuthError.InvalidToken({ reason, detail })

interface Settings {
  readonly algorithms: ReadonlyArray<KeySet.Algorithm>
  readonly issuer: (iss: string, claims: Claims) => boolean
  readonly audiences: ReadonlyArray<string> | undefined
  readonly tolerance: number
  readonly types: ReadonlyArray<string> | undefined
  readonly requiredClaims: ReadonlyArray<string>
  readonly maxTokenBytes: number
  readonly requireExp: boolean
  readonly maxAge: number | undefined
  readonly accessTokenProfile: boolean
  readonly critical: ReadonlySet<string>
}

interface Prepared {
  readonly decoded: Compact.Decoded
  readonly alg: KeySet.Algorithm
  readonly kid: string | undefined
}

interface CacheEntry {
  readonly verified: Verified
  /** Epoch seconds from which the token passes every time check (inclusive). */
  readonly validFrom: number
  /** Epoch seconds at which it stops passing them (exclusive); never after `exp`. */
  readonly validUntil: number
}

const normalizeTyp = (typ: string): string => {
  const lower = typ.toLowerCase()
  return lower.startsWith("application/") ? lower.slice("application/".length) : lower
}

const stringList = (value: string | ReadonlyArray<string>): ReadonlyArray<string> =>
  typeof value === "string" ? [value] : value

const configError = (path: string, message: string) => Effect.fail(ConfigError.InvalidData([path], message))

const seconds = (
  path: string,
  input: Duration.DurationInput,
  max: Duration.Duration | undefined
): Effect.Effect<number, ConfigError.ConfigError> => {
  const decoded = Duration.decodeUnknown(input)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value)) {
    return configError(path, "Expected a finite duration")
  }
  if (max !== undefined && Duration.greaterThan(decoded.value, max)) {
    return configError(path, `Expected at most ${Duration.format(max)}`)
  }
  return Effect.succeed(Duration.toSeconds(decoded.value))
}

const settings = (options: Options): Effect.Effect<Settings, ConfigError.ConfigError> =>
  Effect.gen(function* () {
    const algorithms = options.algorithms
    if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every(KeySet.isAlgorithm)) {
      return yield* configError("algorithms", `Expected a non-empty list of: ${KeySet.algorithms.join(", ")}`)
    }
    const issuer = options.issuer
    let issuerCheck: (iss: string, claims: Claims) => boolean
    if (typeof issuer === "function") {
      issuerCheck = issuer
    } else {
      const issuers = [...stringList(issuer)]
      if (issuers.length === 0 || !issuers.every(isNonEmptyString)) {
        return yield* configError("issuer", "Expected an issuer, a non-empty list of issuers or a predicate")
      }
      issuerCheck = (iss) => issuers.includes(iss)
    }
    const audiences = options.audience === undefined ? undefined : [...stringList(options.audience)]
    if (audiences !== undefined && (audiences.length === 0 || !audiences.every(isNonEmptyString))) {
      return yield* configError("audience", "Expected an audience or a non-empty list of audiences")
    }
    const accessTokenProfile = options.accessTokenProfile === true
    if (accessTokenProfile && audiences === undefined) {
      return yield* configError("audience", "The access token profile (RFC 9068) requires an audience")
    }
    let types = options.typ === undefined ? undefined : stringList(options.typ)
    if (types !== undefined && (types.length === 0 || !types.every(isNonEmptyString))) {
      return yield* configError("typ", "Expected a type or a non-empty list of types")
    }
    types = types?.map(normalizeTyp)
    if (accessTokenProfile) {
      if (types !== undefined && types.some((typ) => typ !== "at+jwt")) {
        return yield* configError("typ", "The access token profile (RFC 9068) requires typ at+jwt")
      }
      types = ["at+jwt"]
    }
    const requiredClaims = [...(options.requiredClaims ?? [])]
    if (!requiredClaims.every(isNonEmptyString)) {
      return yield* configError("requiredClaims", "Expected claim names")
    }
    const maxTokenBytes = options.maxTokenBytes ?? defaultMaxTokenBytes
    if (!Number.isSafeInteger(maxTokenBytes) || maxTokenBytes <= 0) {
      return yield* configError("maxTokenBytes", "Expected a positive integer")
    }
    const tolerance = yield* seconds(
      "clockTolerance",
      options.clockTolerance ?? defaultClockTolerance,
      maxClockTolerance
    )
    const maxAge = options.maxAge === undefined ? undefined : yield* seconds("maxAge", options.maxAge, undefined)
    const critical = options.understoodCriticalHeaders ?? []
    if (!critical.every(isNonEmptyString)) {
      return yield* configError("understoodCriticalHeaders", "Expected header names")
    }
    // Copies: changing the options object afterwards must not change a running verifier.
    return {
      algorithms: [...algorithms],
      issuer: issuerCheck,
      audiences,
      tolerance,
      types,
      requiredClaims,
      maxTokenBytes,
      requireExp: options.requireExp !== false || accessTokenProfile,
      maxAge,
      accessTokenProfile,
      critical: new Set(critical)
    }
  })

/** Header checks made before any key is looked up. */
const checkHeader = (
  settings: Settings,
  header: Readonly<Record<string, unknown>>
): { readonly alg: KeySet.Algorithm; readonly kid: string | undefined } | AuthError.InvalidToken => {
  const alg = header.alg
  // The allow-list is the verifier's: `none`, HS* and anything else not configured stop here.
  if (!KeySet.isAlgorithm(alg) || !settings.algorithms.includes(alg)) {
    return fail("unsupported-algorithm", "The token's algorithm is not allowed")
  }
  const crit = header.crit
  if (crit !== undefined) {
    if (!Array.isArray(crit) || crit.length === 0 || !crit.every(isNonEmptyString)) {
      return fail("malformed", "The token's crit header is not a list of names")
    }
    // RFC 7515 §4.1.11: an extension we do not process must make the token invalid.
    if (!crit.every((name) => settings.critical.has(name))) {
      return fail("unsupported-critical-header", "The token has a critical header that is not understood")
    }
  }
  const kid = header.kid
  if (kid !== undefined && (typeof kid !== "string" || kid.length > maxKidLength)) {
    return fail("malformed", "The token's key id is not a string of at most 256 characters")
  }
  // RFC 7797 unencoded payloads change what is signed; a JWT never uses them (RFC 7797 §7).
  if (header.b64 !== undefined && header.b64 !== true) {
    return fail("malformed", "The token uses an unencoded payload")
  }
  if (header.typ !== undefined && typeof header.typ !== "string") {
    return fail("malformed", "The token's type is not a string")
  }
  return { alg, kid }
}

type JoseFailure = { readonly code?: unknown; readonly claim?: unknown; readonly reason?: unknown }

/**
 * What a jose failure means: `undefined` when this key did not verify the signature (try the next);
 * `afterSignature` when jose refused a claim, which it only checks once the signature verified.
 */
const classify = (
  error: unknown,
  header: Readonly<Record<string, unknown>>
): { readonly error: AuthError.InvalidToken; readonly afterSignature: boolean } | undefined => {
  const { claim, code, reason } = (typeof error === "object" && error !== null ? error : {}) as JoseFailure
  const before = (reason: Reason, detail: string) => ({ error: fail(reason, detail), afterSignature: false })
  const after = (reason: Reason, detail: string) => ({ error: fail(reason, detail), afterSignature: true })
  switch (code) {
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return undefined
    case "ERR_JWT_EXPIRED":
      return after("expired", "The token has expired")
    case "ERR_JWT_CLAIM_VALIDATION_FAILED": {
      if (reason === "missing") return after("missing-claim", "The token lacks a required claim")
      if (reason !== "check_failed") return after("invalid-claim", "A claim of the token has the wrong type")
      switch (claim) {
        case "nbf":
          return after("not-yet-valid", "The token is not valid yet")
        case "iat":
          return after("issued-in-future", "The token was issued in the future")
        case "iss":
          return after("wrong-issuer", "The token's issuer is not accepted")
        case "aud":
          return after("wrong-audience", "The token is not meant for this audience")
        case "typ":
          return after("wrong-type", "The token's type is not accepted")
        default:
          return after("invalid-claim", "A claim of the token is not accepted")
      }
    }
    case "ERR_JWT_INVALID":
    case "ERR_JWS_INVALID":
      return before("malformed", "The token is malformed")
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return before("unsupported-algorithm", "The token's algorithm is not allowed")
    case "ERR_JOSE_NOT_SUPPORTED":
      return header.crit === undefined
        ? before("unsupported-algorithm", "The token's algorithm is not supported")
        : before("unsupported-critical-header", "The token has a critical header that is not understood")
    default:
      // Anything else (a key jose will not use for this algorithm) means this key cannot verify: fail closed.
      return undefined
  }
}

const isDate = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value) && value >= 0

/** Checks made after the signature verified, in a fixed order so each token gets one deterministic reason. */
const checkClaims = (
  settings: Settings,
  header: Readonly<Record<string, unknown>>,
  claims: Claims,
  now: number
): AuthError.InvalidToken | undefined => {
  const { tolerance } = settings
  if (settings.types !== undefined) {
    const typ = header.typ
    if (typeof typ !== "string" || !settings.types.includes(normalizeTyp(typ))) {
      return fail("wrong-type", "The token's type is not accepted")
    }
  }
  const { exp, iat, nbf } = claims
  // JSON `1e400` parses to Infinity, which every comparison below would treat as "never expires".
  if (
    (exp !== undefined && !isDate(exp)) ||
    (nbf !== undefined && !isDate(nbf)) ||
    (iat !== undefined && !isDate(iat))
  ) {
    return fail("invalid-claim", "A date claim is not a non-negative number")
  }
  if (exp === undefined && settings.requireExp) return fail("missing-claim", "The token has no expiry (exp)")
  if (isDate(exp) && exp <= now - tolerance) return fail("expired", "The token has expired")
  if (isDate(nbf) && nbf > now + tolerance) return fail("not-yet-valid", "The token is not valid yet")
  if (isDate(iat) && iat > now + tolerance) return fail("issued-in-future", "The token was issued in the future")
  if (settings.maxAge !== undefined) {
    if (!isDate(iat)) return fail("missing-claim", "The token has no issue time (iat)")
    if (now - iat > settings.maxAge + tolerance) return fail("expired", "The token is older than allowed")
  }
  const iss = claims.iss
  if (iss === undefined) return fail("missing-claim", "The token has no issuer (iss)")
  if (typeof iss !== "string" || !safely(() => settings.issuer(iss, claims))) {
    return fail("wrong-issuer", "The token's issuer is not accepted")
  }
  if (settings.audiences !== undefined) {
    const aud = claims.aud
    if (aud === undefined) return fail("missing-claim", "The token has no audience (aud)")
    const audiences = settings.audiences
    if (typeof aud === "string") {
      if (!audiences.includes(aud)) return fail("wrong-audience", "The token is not meant for this audience")
    } else {
      if (!Array.isArray(aud) || !aud.every((value) => typeof value === "string")) {
        return fail("invalid-claim", "The token's audience is not a string or a list of strings")
      }
      if (!aud.some((value: string) => audiences.includes(value))) {
        return fail("wrong-audience", "The token is not meant for this audience")
      }
    }
  }
  if (claims.sub !== undefined && typeof claims.sub !== "string") {
    return fail("invalid-claim", "The token's subject is not a string")
  }
  for (const name of settings.requiredClaims) {
    if (!Object.hasOwn(claims, name)) return fail("missing-claim", "The token lacks a required claim")
  }
  if (settings.accessTokenProfile) {
    for (const name of ["sub", "client_id", "iat", "jti"]) {
      if (!Object.hasOwn(claims, name)) return fail("missing-claim", "The access token lacks a required claim")
    }
    if (typeof claims.client_id !== "string" || typeof claims.jti !== "string") {
      return fail("invalid-claim", "The access token's client_id or jti is not a string")
    }
  }
  return undefined
}

/** A predicate supplied by the application that throws refuses the token. */
const safely = (predicate: () => boolean): boolean => {
  try {
    return predicate() === true
  } catch {
    return false
  }
}

/** A cache entry exists, but whether its key is still offered must be waited for. */
const keysNotAtHand = Symbol("keysNotAtHand")

/** The token hashed last and its digest: a provider's cache probe and the verification after it hash once. */
let lastDigest: { readonly token: string; readonly digest: string } | undefined

/** A token's cache key: its SHA-256 (one-shot `hash`, half the cost of a Hash object). */
const tokenDigest = (token: string): string => {
  const last = lastDigest
  // The last character first: two tokens of one issuer share a long prefix, often their length too.
  if (last !== undefined && token.charCodeAt(token.length - 1) === last.token.charCodeAt(last.token.length - 1)) {
    if (last.token === token) return last.digest
  }
  const digest = hash("sha256", token, "base64url")
  lastDigest = { token, digest }
  return digest
}

/** The window in which a verified token keeps passing every time check, or `undefined` if not cacheable. */
const cacheWindow = (settings: Settings, claims: Claims): Omit<CacheEntry, "verified"> | undefined => {
  const { exp, iat, nbf } = claims
  // Without exp there is no bound on how long an entry could be served.
  if (!isDate(exp)) return undefined
  let validUntil = exp
  if (settings.maxAge !== undefined && isDate(iat)) {
    validUntil = Math.min(validUntil, iat + settings.maxAge + settings.tolerance)
  }
  let validFrom = Number.NEGATIVE_INFINITY
  if (isDate(nbf)) validFrom = Math.max(validFrom, nbf - settings.tolerance)
  if (isDate(iat)) validFrom = Math.max(validFrom, iat - settings.tolerance)
  return { validFrom, validUntil }
}

/**
 * Whether a key a source offered may check `alg` at all. A key source must not widen the allow-list by
 * returning keys of another algorithm, nor keys whose type does not fit it (both engines skip them alike).
 */
const usable = (candidate: KeySet.VerificationKey, alg: KeySet.Algorithm, signature: Uint8Array): boolean =>
  candidate.alg === alg && Signature.fits(alg, candidate.key) && Signature.hasExactLength(alg, candidate.key, signature)

const sameKey = (a: KeySet.VerificationKey, b: KeySet.VerificationKey): boolean => {
  if (a.alg !== b.alg || a.kid !== b.kid) return false
  if (a.key === b.key) return true
  const id = publicKeyId(a.jwk)
  return id !== undefined && id === publicKeyId(b.jwk)
}

/**
 * Builds a verifier. Fails with a `ConfigError` for an empty or unknown algorithm list, an empty issuer
 * or audience list, a clock tolerance over 5 minutes, the access token profile without an audience, or
 * a non-positive size.
 *
 * @example
 * import { JwtVerifier, KeySet } from "@effect-auth/jwt"
 * import * as Effect from "effect/Effect"
 *
 * const claims = (token: string, keys: KeySet.KeySource) =>
 *   Effect.gen(function* () {
 *     const verifier = yield* JwtVerifier.make({
 *       algorithms: ["RS256"],
 *       issuer: "https://issuer.example.com",
 *       audience: "api://orders"
 *     })
 *     const verified = yield* verifier.verify(token, keys)
 *     return verified.claims
 *   })
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<JwtVerifier, ConfigError.ConfigError> =>
  Effect.gen(function* () {
    const config = yield* settings(options)
    const cacheOptions = options.cache
    if (
      cacheOptions !== undefined &&
      (!Number.isSafeInteger(cacheOptions.maxEntries) || cacheOptions.maxEntries <= 0)
    ) {
      return yield* configError("cache", "Expected a positive integer maxEntries")
    }
    const engine = options.engine ?? "node"
    if (engine !== "node" && engine !== "jose") return yield* configError("engine", 'Expected "node" or "jose"')
    // One cache per verifier: an entry is only ever served by the verifier (and settings) that made it.
    const cache = cacheOptions === undefined ? undefined : Lru.make<string, CacheEntry>(cacheOptions.maxEntries)
    const joseCrit = Object.fromEntries([...config.critical].map((name) => [name, true]))

    /** The cache key of a token, when caching. */
    const digestOf = (token: string): string | undefined => (cache === undefined ? undefined : tokenDigest(token))

    /** A cached entry still inside its time window (expired ones are dropped). */
    const cachedEntry = (digest: string, now: number): CacheEntry | undefined => {
      const entry = cache?.get(digest)
      if (entry === undefined) return undefined
      if (entry.validFrom <= now && now < entry.validUntil) return entry
      cache?.delete(digest)
      return undefined
    }

    /** A key removed from the source (rotated out, revoked) stops vouching for cached tokens. */
    const stillVouches = (
      digest: string,
      entry: CacheEntry,
      offered: Either.Either<ReadonlyArray<KeySet.VerificationKey>, unknown>
    ): Verified | undefined => {
      const { key } = entry.verified
      if (Either.isRight(offered) && offered.right.some((candidate) => sameKey(candidate, key))) return entry.verified
      cache?.delete(digest)
      return undefined
    }

    const cached = (
      digest: string,
      now: number,
      keys: KeySet.KeySource
    ): Effect.Effect<Verified | undefined, never> => {
      const entry = cachedEntry(digest, now)
      if (entry === undefined) return Effect.succeed(undefined)
      const { key } = entry.verified
      return Effect.map(Effect.either(keys.keysFor({ alg: key.alg, kid: key.kid })), (offered) =>
        stillVouches(digest, entry, offered)
      )
    }

    /**
     * The key whose signature verifies, with jose's own claim refusal if it made one: jose checks
     * `exp`/`nbf` right after the signature, and our checks, which run next, decide which reason wins.
     */
    const verifySignature = (
      token: string,
      header: Readonly<Record<string, unknown>>,
      alg: KeySet.Algorithm,
      signature: Uint8Array,
      candidates: ReadonlyArray<KeySet.VerificationKey>,
      nowMillis: number
    ): Effect.Effect<
      { readonly key: KeySet.VerificationKey; readonly refused: AuthError.InvalidToken | undefined },
      AuthError.InvalidToken
    > =>
      Effect.gen(function* () {
        for (const candidate of candidates) {
          if (!usable(candidate, alg, signature)) continue
          const result = yield* Effect.either(
            Effect.tryPromise({
              try: () =>
                jwtVerify(token, candidate.key, {
                  algorithms: [alg],
                  currentDate: new Date(nowMillis),
                  clockTolerance: config.tolerance,
                  crit: joseCrit
                }),
              catch: (error) => error
            })
          )
          if (Either.isRight(result)) return { key: candidate, refused: undefined }
          const classified = classify(result.left, header)
          if (classified === undefined) continue
          if (classified.afterSignature) return { key: candidate, refused: classified.error }
          return yield* Effect.fail(classified.error)
        }
        return yield* Effect.fail(fail("bad-signature", "The token's signature does not verify"))
      })

    /** Size, strict decoding and header checks: everything decided before a key is looked up. */
    const prepare = (token: string): Either.Either<Prepared, AuthError.InvalidToken> => {
      const decoded = Compact.decode(token, config.maxTokenBytes)
      if (Either.isLeft(decoded)) return Either.left(decoded.left)
      const checked = checkHeader(config, decoded.right.header)
      if (checked instanceof AuthError.InvalidToken) return Either.left(checked)
      if (decoded.right.signature.length === 0) {
        return Either.left(fail("bad-signature", "The token's signature does not verify"))
      }
      return Either.right({ decoded: decoded.right, alg: checked.alg, kid: checked.kid })
    }

    /** Our claim checks (after the signature, always), then the result, cached when it may be. */
    const complete = (
      decoded: Compact.Decoded,
      key: KeySet.VerificationKey,
      now: number,
      digest: string | undefined
    ): Either.Either<Verified, AuthError.InvalidToken> => {
      // Frozen since decoding, so the application's `issuer` predicate cannot change what later readers see.
      const { claims, header } = decoded
      const refused = checkClaims(config, header, claims, now)
      if (refused !== undefined) return Either.left(refused)
      const verified: Verified = { header, claims, key }
      if (cache !== undefined && digest !== undefined) {
        const window = cacheWindow(config, claims)
        if (window !== undefined) cache.set(digest, { verified, ...window })
      }
      return Either.right(verified)
    }

    /** The `node:crypto` engine's signature check over the keys offered, then the claims. */
    const checkCandidates = (
      prepared: Prepared,
      candidates: ReadonlyArray<KeySet.VerificationKey>,
      now: number,
      digest: string | undefined
    ): Either.Either<Verified, AuthError.InvalidToken> => {
      const { alg, decoded } = prepared
      for (const candidate of candidates) {
        if (!usable(candidate, alg, decoded.signature)) continue
        if (Signature.verify(alg, candidate.key, decoded.signingInput, decoded.signature)) {
          return complete(decoded, candidate, now, digest)
        }
      }
      return Either.left(fail("bad-signature", "The token's signature does not verify"))
    }

    /** The `node:crypto` engine when the keys have to be waited for. */
    const verifyWithNode = (
      token: string,
      keys: KeySet.KeySource,
      now: number,
      digest: string | undefined
    ): Effect.Effect<Verified, AuthError.InvalidToken | AuthError.ProviderUnavailable> => {
      const prepared = prepare(token)
      if (Either.isLeft(prepared)) return Either.left(prepared.left)
      const { alg, kid } = prepared.right
      return Effect.flatMap(keys.keysFor({ alg, kid }), (candidates) =>
        checkCandidates(prepared.right, candidates, now, digest)
      )
    }

    /** A cached verification still valid at `now` whose key is at hand; `keysNotAtHand` when that is unknown yet. */
    const cachedAtHand = (
      digest: string,
      now: number,
      keysForNow: NonNullable<KeySet.KeySource["keysForNow"]>,
      nowMillis: number
    ): Verified | undefined | typeof keysNotAtHand => {
      const entry = cachedEntry(digest, now)
      if (entry === undefined) return undefined
      const { key } = entry.verified
      const offered = keysForNow({ alg: key.alg, kid: key.kid }, nowMillis)
      return offered === undefined ? keysNotAtHand : stillVouches(digest, entry, offered)
    }

    const cachedNow = (token: string, keys: KeySet.KeySource, nowMillis: number): Verified | undefined => {
      const keysForNow = keys.keysForNow
      if (cache === undefined || engine !== "node" || keysForNow === undefined) return undefined
      if (Compact.isTooLarge(token, config.maxTokenBytes)) return undefined
      const hit = cachedAtHand(tokenDigest(token), Math.floor(nowMillis / 1000), keysForNow, nowMillis)
      return hit === keysNotAtHand ? undefined : hit
    }

    /**
     * The whole verification without a fiber, when the source has the keys at hand (`keysForNow`): the
     * same steps and decisions as `verify`, or `undefined` when keys must be waited for.
     */
    const verifyNow = (
      token: string,
      keys: KeySet.KeySource,
      nowMillis: number
    ): Either.Either<Verified, AuthError.InvalidToken | AuthError.ProviderUnavailable> | undefined => {
      const keysForNow = keys.keysForNow
      if (engine !== "node" || keysForNow === undefined) return undefined
      const now = Math.floor(nowMillis / 1000)
      if (Compact.isTooLarge(token, config.maxTokenBytes)) {
        return Either.left(fail("too-large", "The token is larger than allowed"))
      }
      const digest = digestOf(token)
      if (digest !== undefined) {
        const hit = cachedAtHand(digest, now, keysForNow, nowMillis)
        if (hit === keysNotAtHand) return undefined
        if (hit !== undefined) return Either.right(hit)
      }
      const prepared = prepare(token)
      if (Either.isLeft(prepared)) return Either.left(prepared.left)
      const { alg, kid } = prepared.right
      const offered = keysForNow({ alg, kid }, nowMillis)
      if (offered === undefined) return undefined
      if (Either.isLeft(offered)) return Either.left(offered.left)
      return checkCandidates(prepared.right, offered.right, now, digest)
    }

    /** The jose engine: jose checks the signature (and its own claim rules), then ours decide. */
    const verifyWithJose = (
      token: string,
      keys: KeySet.KeySource,
      nowMillis: number,
      digest: string | undefined
    ): Effect.Effect<Verified, AuthError.InvalidToken | AuthError.ProviderUnavailable> =>
      Effect.gen(function* () {
        const { alg, decoded, kid } = yield* prepare(token)
        const candidates = yield* keys.keysFor({ alg, kid })
        const { key, refused } = yield* verifySignature(
          token,
          decoded.header,
          alg,
          decoded.signature,
          candidates,
          nowMillis
        )
        const now = Math.floor(nowMillis / 1000)
        const ours = checkClaims(config, decoded.header, decoded.claims, now)
        if (ours !== undefined) return yield* Effect.fail(ours)
        if (refused !== undefined) return yield* Effect.fail(refused)
        return yield* complete(decoded, key, now, digest)
      })

    const verify = (
      token: string,
      keys: KeySet.KeySource
    ): Effect.Effect<Verified, AuthError.InvalidToken | AuthError.ProviderUnavailable> =>
      Effect.clockWith((clock) => {
        const nowMillis = clock.unsafeCurrentTimeMillis()
        const decided = verifyNow(token, keys, nowMillis)
        if (decided !== undefined) return decided
        // Whole seconds, as jose counts, so both engines agree on every boundary.
        const now = Math.floor(nowMillis / 1000)
        // Before hashing or parsing anything: a huge token costs nothing.
        if (Compact.isTooLarge(token, config.maxTokenBytes)) {
          return Effect.fail(fail("too-large", "The token is larger than allowed"))
        }
        const digest = digestOf(token)
        const fresh = () =>
          engine === "node" ? verifyWithNode(token, keys, now, digest) : verifyWithJose(token, keys, nowMillis, digest)
        if (digest === undefined) return fresh()
        return Effect.flatMap(cached(digest, now, keys), (hit) => (hit === undefined ? fresh() : Effect.succeed(hit)))
      })

    return { verify, verifyNow, cachedNow }
  })
