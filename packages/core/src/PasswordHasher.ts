/**
 * Hashing and verifying stored passwords: scrypt in PHC string format for new hashes, and scrypt or
 * bcrypt hashes for verification. Verification fails closed: a malformed, unknown or out-of-bounds hash is
 * a wrong password (`false`), never an exception.
 *
 * @since 0.1.0
 */
import * as Bcrypt from "bcryptjs"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"

/**
 * @since 0.1.0
 */
export interface PasswordHasher {
  /**
   * Hashes a password with scrypt and a fresh random salt:
   * `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>` (base64 without padding).
   */
  readonly hash: (password: Redacted.Redacted<string>) => Effect.Effect<string>
  /** Whether the password matches a stored scrypt (PHC) or bcrypt (`$2a$`, `$2b$`, `$2y$`) hash. */
  readonly verify: (password: Redacted.Redacted<string>, hash: string) => Effect.Effect<boolean>
  /**
   * The same work as verifying a password against a hash made with this hasher's parameters, for a user
   * who does not exist: an unknown user then costs as much time as a wrong password.
   */
  readonly dummyVerify: (password: Redacted.Redacted<string>) => Effect.Effect<void>
  /** Whether a stored hash should be replaced by a new one made with this hasher's parameters. */
  readonly needsRehash: (hash: string) => boolean
}

/**
 * @since 0.1.0
 */
export const PasswordHasher: Context.Tag<PasswordHasher, PasswordHasher> = Context.GenericTag<PasswordHasher>(
  "@effect-auth/core/PasswordHasher"
)

/**
 * scrypt parameters for new hashes. Accepted ranges (also the bounds of a hash that can be verified):
 * `ln` 1–20, `r` 1–32, `p` 1–16, and at most 1 GiB of memory (`128 · 2^ln · r` bytes).
 *
 * @since 0.1.0
 */
export interface Options {
  /** log2 of the CPU/memory cost N. Default 15 (N = 32768, 32 MiB with r = 8). */
  readonly ln?: number | undefined
  /** Block size. Default 8. */
  readonly r?: number | undefined
  /** Parallelization. Default 1. */
  readonly p?: number | undefined
}

/**
 * The default scrypt parameters: `ln=15, r=8, p=1`.
 *
 * @since 0.1.0
 */
export const defaultParameters: Parameters = { ln: 15, r: 8, p: 1 }

/**
 * Resolved scrypt parameters.
 *
 * @since 0.1.0
 */
export interface Parameters {
  readonly ln: number
  readonly r: number
  readonly p: number
}

const saltBytes = 16
const keyBytes = 32
// Bounds on what a stored hash may ask for: the hash comes from a file or a database, and a tampered one
// must not make a single login allocate gigabytes or run for minutes.
const maxLn = 20
const maxR = 32
const maxP = 16
const maxMemoryBytes = 2 ** 30
const minSaltBytes = 8
const maxSaltBytes = 64
const minKeyBytes = 16
const maxKeyBytes = 64
const maxHashLength = 512
// bcryptjs runs on the main thread (in slices); each cost step doubles the time, so cap it.
const minBcryptCost = 4
const maxBcryptCost = 15

const scryptPattern = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/
const bcryptPattern = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/

type Parsed =
  | { readonly _tag: "Scrypt"; readonly parameters: Parameters; readonly salt: Buffer; readonly key: Buffer }
  | { readonly _tag: "Bcrypt"; readonly cost: number }
  | { readonly _tag: "Invalid"; readonly reason: "unsupported-format" | "malformed" | "parameters-out-of-bounds" }

const parametersInBounds = ({ ln, p, r }: Parameters): boolean =>
  Number.isInteger(ln) &&
  Number.isInteger(r) &&
  Number.isInteger(p) &&
  ln >= 1 &&
  ln <= maxLn &&
  r >= 1 &&
  r <= maxR &&
  p >= 1 &&
  p <= maxP &&
  128 * 2 ** ln * r <= maxMemoryBytes

const encode = (bytes: Buffer): string => bytes.toString("base64").replace(/=+$/, "")

/** Decodes unpadded base64, refusing anything that does not re-encode to the same text. */
const decode = (text: string): Buffer | undefined => {
  const bytes = Buffer.from(text, "base64")
  return encode(bytes) === text ? bytes : undefined
}

const parse = (hash: string): Parsed => {
  if (hash.length > maxHashLength) return { _tag: "Invalid", reason: "malformed" }
  if (hash.startsWith("$scrypt$")) {
    const match = scryptPattern.exec(hash)
    if (match === null) return { _tag: "Invalid", reason: "malformed" }
    const parameters = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) }
    if (!parametersInBounds(parameters)) return { _tag: "Invalid", reason: "parameters-out-of-bounds" }
    const salt = decode(match[4] ?? "")
    const key = decode(match[5] ?? "")
    if (salt === undefined || key === undefined) return { _tag: "Invalid", reason: "malformed" }
    if (
      salt.length < minSaltBytes ||
      salt.length > maxSaltBytes ||
      key.length < minKeyBytes ||
      key.length > maxKeyBytes
    ) {
      return { _tag: "Invalid", reason: "parameters-out-of-bounds" }
    }
    return { _tag: "Scrypt", parameters, salt, key }
  }
  if (/^\$2[aby]\$/.test(hash)) {
    const match = bcryptPattern.exec(hash)
    if (match === null) return { _tag: "Invalid", reason: "malformed" }
    const cost = Number(match[1])
    if (cost < minBcryptCost || cost > maxBcryptCost) return { _tag: "Invalid", reason: "parameters-out-of-bounds" }
    return { _tag: "Bcrypt", cost }
  }
  return { _tag: "Invalid", reason: "unsupported-format" }
}

/**
 * Whether a string is a hash this module can verify (a well-formed scrypt PHC or bcrypt hash within the
 * parameter bounds). Does no hashing.
 *
 * @since 0.1.0
 */
export const isSupported = (hash: string): boolean => parse(hash)._tag !== "Invalid"

/**
 * Whether a stored hash should be replaced: it is not scrypt, or its parameters, salt or key length differ
 * from those new hashes get (by default {@link defaultParameters}).
 *
 * @since 0.1.0
 */
export const needsRehash = (hash: string, options?: Options): boolean => {
  const target = resolve(options)
  const parsed = parse(hash)
  return (
    parsed._tag !== "Scrypt" ||
    parsed.parameters.ln !== target.ln ||
    parsed.parameters.r !== target.r ||
    parsed.parameters.p !== target.p ||
    parsed.salt.length !== saltBytes ||
    parsed.key.length !== keyBytes
  )
}

const resolve = (options: Options | undefined): Parameters => ({
  ln: options?.ln ?? defaultParameters.ln,
  r: options?.r ?? defaultParameters.r,
  p: options?.p ?? defaultParameters.p
})

/** node's async scrypt, which runs on the libuv thread pool and so does not block the event loop. */
const scrypt = (password: Redacted.Redacted<string>, salt: Buffer, keyLength: number, { ln, p, r }: Parameters) =>
  Effect.async<Buffer, unknown>((resume) => {
    const N = 2 ** ln
    // OpenSSL refuses to run when 128·r·(N + 2) + 128·r·p bytes exceed maxmem (default 32 MiB).
    const maxmem = 128 * r * (N + p + 2) + 1024 * 1024
    try {
      Crypto.scrypt(Redacted.value(password), salt, keyLength, { N, r, p, maxmem }, (error, key) =>
        resume(error === null ? Effect.succeed(key) : Effect.fail(error))
      )
    } catch (error) {
      resume(Effect.fail(error))
    }
  })

const bcryptCompare = (password: Redacted.Redacted<string>, hash: string) =>
  Effect.tryPromise({ try: () => Bcrypt.compare(Redacted.value(password), hash), catch: (error) => error })

const hashWith = (parameters: Parameters) => (password: Redacted.Redacted<string>) =>
  Effect.suspend(() => {
    const salt = Crypto.randomBytes(saltBytes)
    return Effect.map(
      scrypt(password, salt, keyBytes, parameters),
      (key) => `$scrypt$ln=${parameters.ln},r=${parameters.r},p=${parameters.p}$${encode(salt)}$${encode(key)}`
    )
  }).pipe(Effect.orDie)

const errorCode = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : "unknown"

/**
 * Builds a hasher. Hashes one throw-away password up front, so that {@link PasswordHasher.dummyVerify}
 * later costs what a real verification costs. Parameters out of bounds are a `ConfigError`.
 *
 * @since 0.1.0
 */
export const make = (options?: Options): Effect.Effect<PasswordHasher, ConfigError.ConfigError> =>
  Effect.gen(function* () {
    const parameters = resolve(options)
    if (!parametersInBounds(parameters)) {
      return yield* Effect.fail(
        ConfigError.InvalidData(
          [],
          `scrypt parameters out of bounds (ln=${parameters.ln}, r=${parameters.r}, p=${parameters.p}): ` +
            `ln must be 1-${maxLn}, r 1-${maxR}, p 1-${maxP}, and 128 * 2^ln * r at most 1 GiB`
        )
      )
    }
    const hash = hashWith(parameters)
    const dummy = parse(yield* hash(Redacted.make(Crypto.randomBytes(32).toString("base64"))))
    if (dummy._tag !== "Scrypt") return yield* Effect.dieMessage("PasswordHasher: the dummy hash does not parse")

    const verifyScrypt = (password: Redacted.Redacted<string>, stored: Extract<Parsed, { _tag: "Scrypt" }>) =>
      Effect.map(scrypt(password, stored.salt, stored.key.length, stored.parameters), (key) =>
        // Constant-time: how many leading bytes matched must not show in the response time.
        Crypto.timingSafeEqual(key, stored.key)
      )

    const dummyVerify = (password: Redacted.Redacted<string>) =>
      verifyScrypt(password, dummy).pipe(
        Effect.catchAll(() => Effect.succeed(false)),
        Effect.asVoid
      )

    const refuse = (reason: string) =>
      // The hash itself is never logged: it is as sensitive as the password for an offline attack.
      Effect.logWarning("PasswordHasher: a stored password hash is not a valid hash; the password is refused").pipe(
        Effect.annotateLogs({ reason }),
        // Still do the work of a verification, so a broken entry does not answer faster than a wrong password.
        Effect.zipRight(dummyVerify(Redacted.make(""))),
        Effect.as(false)
      )

    const verify = (password: Redacted.Redacted<string>, hash: string): Effect.Effect<boolean> =>
      Effect.suspend(() => {
        const parsed = parse(hash)
        switch (parsed._tag) {
          case "Scrypt":
            return verifyScrypt(password, parsed)
          case "Bcrypt":
            return bcryptCompare(password, hash)
          case "Invalid":
            return refuse(parsed.reason)
        }
      }).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("PasswordHasher: verifying a password failed; the password is refused").pipe(
            Effect.annotateLogs({ reason: "verification-failed", code: errorCode(error) }),
            Effect.as(false)
          )
        )
      )

    return PasswordHasher.of({
      hash,
      verify,
      dummyVerify,
      needsRehash: (stored) => needsRehash(stored, parameters)
    })
  })

/**
 * A hasher with the given scrypt parameters (by default {@link defaultParameters}).
 *
 * @example
 * ```ts
 * import { PasswordHasher } from "@effect-auth/core"
 * import { Effect, Redacted } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const hasher = yield* PasswordHasher.PasswordHasher
 *   const stored = yield* hasher.hash(Redacted.make("correct horse battery staple"))
 *   return yield* hasher.verify(Redacted.make("correct horse battery staple"), stored)
 * }).pipe(Effect.provide(PasswordHasher.layer()))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<PasswordHasher, ConfigError.ConfigError> =>
  Layer.effect(PasswordHasher, make(options))
