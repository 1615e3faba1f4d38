/**
 * API keys: the key grammar, hashing, the `ApiKeyStore` port with an in-memory store, and the identity
 * provider that checks keys presented in `X-API-Key` (or another configured header),
 * `Authorization: Bearer <key>` or a bare `Authorization: <key>`.
 *
 * Stores hold `sha256:<hex>` hashes, never keys, and look keys up by their hash. An unknown, expired or
 * disabled key gets the same answer (`InvalidCredentials("rejected")`), and a store without keys refuses
 * every key (fail closed).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import type { ProviderUnavailable } from "./AuthError.js"
import { InvalidCredentials } from "./AuthError.js"
import type { AuthProvider } from "./AuthProvider.js"
import * as Credential from "./Credential.js"
import * as Identity from "./Identity.js"

/**
 * Optional per-key settings (from the JSON key file or a database).
 *
 * @since 0.1.0
 */
export interface Metadata {
  /** The key is refused from this instant on. */
  readonly expiresAt?: Date | undefined
  /** A disabled key is refused, like an unknown one. */
  readonly disabled?: boolean | undefined
  /** Overrides the default per-minute rate limit for this key. */
  readonly rateLimitPerMinute?: number | undefined
  /** The principal the key was issued to (recorded in the identity's claims as `owner`). */
  readonly owner?: string | undefined
  readonly groups?: ReadonlyArray<string> | undefined
  readonly roles?: ReadonlyArray<string> | undefined
  readonly permissions?: ReadonlyArray<string> | undefined
}

/**
 * A stored key: its id, its hash (never the key) and its metadata.
 *
 * @since 0.1.0
 */
export interface Entry {
  readonly keyId: string
  /** `sha256:<64 lowercase hex>`, as made by {@link hash}. */
  readonly hash: string
  readonly metadata?: Metadata | undefined
}

const keyIdPattern = /^[A-Za-z0-9_-]+$/
const keyPattern = /^[A-Za-z0-9_-]{16,128}$/
const hashPattern = /^sha256:[0-9a-f]{64}$/

/**
 * Whether a string is a valid key id: one or more letters, digits, `-` or `_` (ASCII).
 *
 * @since 0.1.0
 */
export const isValidKeyId = (s: string): boolean => keyIdPattern.test(s)

/**
 * Whether a string is a valid API key: 16 to 128 letters, digits, `-` or `_` (ASCII). Keys never contain a
 * dot, so a JWT is never mistaken for one.
 *
 * @since 0.1.0
 */
export const isValidKey = (s: string): boolean => keyPattern.test(s)

/**
 * Whether a string is a stored hash as made by {@link hash}: `sha256:` and 64 lowercase hex digits.
 *
 * @since 0.1.0
 */
export const isValidHash = (s: string): boolean => hashPattern.test(s)

const digest = (key: string): Buffer => Crypto.createHash("sha256").update(key, "utf8").digest()

/**
 * The stored form of a key: `sha256:` followed by the lowercase hex SHA-256 of its UTF-8 bytes. A plain
 * hash is enough (no salt, no slow hash): keys are random with at least 128 bits of entropy, so there is
 * nothing to guess, unlike passwords.
 *
 * @example
 * ```ts
 * import { ApiKey } from "@effect-auth/core"
 *
 * const stored = ApiKey.hash("sk-prod-abc123def456") // "sha256:…"
 * ```
 *
 * @since 0.1.0
 */
export const hash = (key: string): string => `sha256:${digest(key).toString("hex")}`

/**
 * A new random key: the prefix (default `sk-`) and 32 random bytes in base64url (256 bits of entropy, 43
 * characters). Throws a `TypeError` when the prefix would make the key invalid.
 *
 * @example
 * ```ts
 * import { ApiKey } from "@effect-auth/core"
 *
 * const key = ApiKey.generate({ prefix: "sk-live-" })
 * ```
 *
 * @since 0.1.0
 */
export const generate = (options?: { readonly prefix?: string | undefined }): string => {
  const key = `${options?.prefix ?? "sk-"}${Crypto.randomBytes(32).toString("base64url")}`
  if (!isValidKey(key)) {
    throw new TypeError("The API key prefix may only hold letters, digits, '-' or '_' and at most 85 of them")
  }
  return key
}

/**
 * Where API keys are looked up.
 *
 * @since 0.1.0
 */
export interface ApiKeyStore {
  /** The entry whose hash is the presented key's hash, if any. A store that cannot answer fails. */
  readonly lookup: (key: Redacted.Redacted<string>) => Effect.Effect<Option.Option<Entry>, ProviderUnavailable>
  /** How many keys the store holds. */
  readonly size: Effect.Effect<number>
}

/**
 * @since 0.1.0
 */
export const ApiKeyStore: Context.Tag<ApiKeyStore, ApiKeyStore> = Context.GenericTag<ApiKeyStore>(
  "@effect-auth/core/ApiKeyStore"
)

interface Indexed {
  readonly entry: Entry
  readonly digest: Buffer
}

/**
 * A store over a fixed list of entries. When a hash appears twice the first entry wins; entries whose hash
 * is not a valid {@link hash} are ignored. With no entries every key is refused.
 *
 * @since 0.1.0
 */
export const makeMemory = (entries: ReadonlyArray<Entry>): ApiKeyStore => {
  const byHash = new Map<string, Indexed>()
  for (const entry of entries) {
    if (!isValidHash(entry.hash) || byHash.has(entry.hash)) continue
    byHash.set(entry.hash, { entry, digest: Buffer.from(entry.hash.slice("sha256:".length), "hex") })
  }
  const size = Effect.succeed(byHash.size)
  return ApiKeyStore.of({
    size,
    lookup: (key) =>
      Effect.sync(() => {
        // The map is keyed by the hash, not the key: its string comparisons run on SHA-256 output the
        // caller cannot steer, so how long a lookup takes says nothing about how much of a stored key a
        // guess got right (learning a matching hash prefix does not help find a key, SHA-256 being
        // preimage resistant).
        const presented = digest(Redacted.value(key))
        const found = byHash.get(`sha256:${presented.toString("hex")}`)
        // Belt and braces: the final comparison of the digests is constant-time.
        return found !== undefined && Crypto.timingSafeEqual(presented, found.digest)
          ? Option.some(found.entry)
          : Option.none()
      })
  })
}

/**
 * An in-memory store. Logs a warning when built without keys: every key is then refused.
 *
 * @example
 * ```ts
 * import { ApiKey } from "@effect-auth/core"
 *
 * const keys = ApiKey.layerMemory([{ keyId: "production", hash: ApiKey.hash("sk-prod-abc123def456") }])
 * ```
 *
 * @since 0.1.0
 */
export const layerMemory = (entries: ReadonlyArray<Entry>): Layer.Layer<ApiKeyStore> =>
  Layer.effect(
    ApiKeyStore,
    Effect.gen(function* () {
      const store = makeMemory(entries)
      if ((yield* store.size) === 0) yield* Effect.logWarning("No API keys are configured: every API key is refused")
      return store
    })
  )

/**
 * @since 0.1.0
 */
export interface Options {
  /** The provider name recorded on principals. Default `api-key`. */
  readonly name?: string | undefined
  /** The realm of the `WWW-Authenticate` challenge. Default `effect-auth`. */
  readonly realm?: string | undefined
}

const rejected = () => new InvalidCredentials({ reason: "rejected", scheme: "ApiKey" })

/** The presented key, when the credential is one this provider takes. */
const keyOf = (credential: Credential.Credential): Redacted.Redacted<string> | undefined => {
  switch (credential._tag) {
    case "ApiKey":
      return credential.key
    case "Bearer":
      // Only tokens of the key grammar: a JWT (which has dots) is the JWT provider's, whatever the order.
      return isValidKey(Credential.bearerToken(credential)) ? credential.token : undefined
    case "Basic":
      return undefined
  }
}

const identityOf = (entry: Entry, provider: string): Identity.Identity => {
  const metadata = entry.metadata
  const claims: Record<string, unknown> = { key_id: entry.keyId }
  if (metadata?.rateLimitPerMinute !== undefined) claims.rate_limit_per_minute = metadata.rateLimitPerMinute
  if (metadata?.owner !== undefined) claims.owner = metadata.owner
  const grants: Identity.Grants = {
    ...(metadata?.groups === undefined ? {} : { groups: metadata.groups }),
    ...(metadata?.roles === undefined ? {} : { roles: metadata.roles }),
    ...(metadata?.permissions === undefined ? {} : { permissions: metadata.permissions })
  }
  return Identity.make({
    id: entry.keyId,
    kind: "machine",
    provider,
    claims,
    ...(Object.keys(grants).length === 0 ? {} : { grants })
  })
}

/**
 * The API key provider. Takes `ApiKey` credentials (the configured header, and a bare `Authorization: <key>`
 * when `Credential.Options.bareApiKey` is on) and `Bearer` tokens that are valid keys (not JWTs). The
 * identity's id is the key id, its kind `machine`, its claims `{ key_id }` (plus `rate_limit_per_minute`
 * and `owner` when the key has them), its grants the key's groups, roles and permissions.
 *
 * @example
 * ```ts
 * import { ApiKey, ApiKeyFile, Authenticator } from "@effect-auth/core"
 * import { Layer } from "effect"
 *
 * const AuthLive = Authenticator.layer([ApiKey.provider()], { credentials: { bareApiKey: true } }).pipe(
 *   Layer.provide(ApiKeyFile.layer("api_keys.txt"))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const provider = (options: Options = {}): Effect.Effect<AuthProvider, never, ApiKeyStore> =>
  Effect.gen(function* () {
    const store = yield* ApiKeyStore
    const name = options.name ?? "api-key"

    const authenticate = (credential: Credential.Credential) =>
      Effect.gen(function* () {
        const key = keyOf(credential)
        if (key === undefined) {
          return yield* Effect.fail(new InvalidCredentials({ reason: "unsupported-scheme", scheme: credential._tag }))
        }
        // A value outside the grammar can be no stored key; refusing it first says nothing about the store.
        if (!isValidKey(Redacted.value(key))) return yield* Effect.fail(rejected())
        const found = yield* store.lookup(key)
        if (Option.isNone(found)) return yield* Effect.fail(rejected())
        const entry = found.value
        // Expired and disabled keys get the unknown key's answer (no oracle); only the log tells which.
        if (entry.metadata?.disabled === true) {
          yield* Effect.logDebug(`API key "${entry.keyId}" is disabled; refused`)
          return yield* Effect.fail(rejected())
        }
        const expiresAt = entry.metadata?.expiresAt
        // Written as "not before expiry" so an invalid date (NaN) counts as expired: fail closed.
        if (expiresAt !== undefined && !((yield* Clock.currentTimeMillis) < expiresAt.getTime())) {
          yield* Effect.logDebug(
            `API key "${entry.keyId}" expired at ${
              Number.isNaN(expiresAt.getTime()) ? "an invalid date" : expiresAt.toISOString()
            }; refused`
          )
          return yield* Effect.fail(rejected())
        }
        return identityOf(entry, name)
      })

    return {
      name,
      accepts: (credential) => keyOf(credential) !== undefined,
      authenticate,
      challenge: { scheme: "ApiKey", realm: options.realm ?? "effect-auth" }
    } satisfies AuthProvider
  })
