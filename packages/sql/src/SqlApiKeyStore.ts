/**
 * API keys in the `api_keys` table: core's `ApiKey.ApiKeyStore` on PostgreSQL, MySQL/MariaDB or SQLite.
 * The table holds `sha256:<hex>` hashes, never keys; create keys with `SqlAdmin.createApiKey` or
 * `effect-auth keys create --sql`, which shows the key once.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { ApiKey } from "@effect-auth/core"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import { guarded } from "./internal/query.js"
import { tables } from "./internal/tables.js"
import type { StoreOptions } from "./SqlDatabase.js"

interface KeyRow {
  readonly key_id: string
  readonly key_hash: string
  readonly owner: string | null
  readonly expires_at: number | string | bigint | null
  readonly disabled: number | string | bigint | boolean
  readonly rate_limit_per_minute: number | string | bigint | null
}

const hashPrefix = "sha256:"

/**
 * An integer column as a number. PostgreSQL answers BIGINT as a string and MySQL as a number: only a
 * plain decimal integer within the safe range is taken, anything else is `undefined`.
 */
const integerOf = (value: number | string | bigint | null): number | undefined => {
  const parsed =
    typeof value === "number"
      ? value
      : typeof value === "bigint" || /^-?\d{1,16}$/.test(value ?? "")
        ? Number(value)
        : NaN
  return Number.isSafeInteger(parsed) ? parsed : undefined
}

/** The entry of a row, or `undefined` (logged without the hash) when the row cannot be a valid key. */
const entryOf = (row: KeyRow): Effect.Effect<ApiKey.Entry | undefined> => {
  const rateLimit = row.rate_limit_per_minute === null ? undefined : integerOf(row.rate_limit_per_minute)
  const rateLimitValid = row.rate_limit_per_minute === null || (rateLimit !== undefined && rateLimit >= 1)
  if (!ApiKey.isValidHash(row.key_hash) || !rateLimitValid) {
    return Effect.as(Effect.logWarning(`SQL API key "${row.key_id}" has an invalid row; the key is refused`), undefined)
  }
  return Effect.succeed({
    keyId: row.key_id,
    hash: row.key_hash,
    metadata: {
      // An expiry that does not parse is an invalid date, which the provider treats as expired: fail closed.
      expiresAt: row.expires_at === null ? undefined : new Date(integerOf(row.expires_at) ?? NaN),
      // Anything but a plain 0 counts as disabled.
      disabled: !(row.disabled === 0 || row.disabled === "0" || row.disabled === 0n || row.disabled === false),
      rateLimitPerMinute: rateLimit,
      owner: row.owner === null ? undefined : row.owner
    }
  })
}

/**
 * Builds a store over the `api_keys` table. The table prefix is checked here: an invalid one is a
 * `ConfigError`.
 *
 * A key is looked up by its hash (`ApiKey.hash`), then the digests are compared in constant time. The
 * entry carries the row's expiry, `disabled` flag, rate limit and owner; `ApiKey.provider` refuses
 * disabled and expired keys with the unknown key's answer. A row with an invalid hash or rate limit is
 * treated as no key (and logged by key id). Every query is bounded by `queryTimeout` (default 2
 * seconds), and a database that cannot answer fails the request with `ProviderUnavailable` (503).
 * `size` counts the keys that are not disabled, and answers 0 (with a warning) when the database cannot.
 *
 * @since 0.1.0
 */
export const make = (
  options: StoreOptions = {}
): Effect.Effect<ApiKey.ApiKeyStore, ConfigError.ConfigError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const t = yield* tables(options.tablePrefix)
    const bounded = guarded(options.queryTimeout)

    const lookup = (key: Redacted.Redacted<string>) =>
      Effect.gen(function* () {
        const presented = Crypto.createHash("sha256").update(Redacted.value(key), "utf8").digest()
        const hash = `${hashPrefix}${presented.toString("hex")}`
        const rows = yield* bounded(
          sql<KeyRow>`SELECT key_id, key_hash, owner, expires_at, disabled, rate_limit_per_minute
            FROM ${sql(t.apiKeys)}
            WHERE key_hash = ${hash}`
        )
        const row = rows[0]
        if (row === undefined) return Option.none()
        const entry = yield* entryOf(row)
        if (entry === undefined) return Option.none()
        // Belt and braces, as the memory store: the final comparison of the digests is constant-time.
        const stored = Buffer.from(entry.hash.slice(hashPrefix.length), "hex")
        return Crypto.timingSafeEqual(presented, stored) ? Option.some(entry) : Option.none()
      })

    const size = bounded(
      sql<{ readonly count: number | string | bigint }>`SELECT COUNT(*) AS count FROM ${sql(t.apiKeys)}
        WHERE disabled = 0`
    ).pipe(
      Effect.map(([row]) => (row === undefined ? 0 : (integerOf(row.count) ?? 0))),
      Effect.catchAll((error) =>
        Effect.as(Effect.logWarning(`Cannot count the SQL API keys (${error.reason}); answering 0`), 0)
      )
    )

    return ApiKey.ApiKeyStore.of({ lookup, size })
  })

/**
 * The store as a layer, for `ApiKey.provider`.
 *
 * @example
 * ```ts
 * import { ApiKey, Authenticator } from "@effect-auth/core"
 * import { SqlApiKeyStore, SqlDatabase } from "@effect-auth/sql"
 * import { Layer } from "effect"
 *
 * const AuthLive = Authenticator.layer([ApiKey.provider()]).pipe(
 *   Layer.provide(SqlApiKeyStore.layer()),
 *   Layer.provide(SqlDatabase.layerConfig)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (
  options: StoreOptions = {}
): Layer.Layer<ApiKey.ApiKeyStore, ConfigError.ConfigError, SqlClient.SqlClient> =>
  Layer.effect(ApiKey.ApiKeyStore, make(options))
