/**
 * Per-key rate limiting: a fixed window (one minute by default) per principal id, on
 * `@effect/experimental`'s `RateLimiter`, with a bounded memory store or a Redis store shared by several
 * instances. Over the limit is `RateLimited` (429); a store that cannot answer is `ProviderUnavailable`
 * (503), never a pass, unless a memory fallback is configured.
 *
 * @since 0.1.0
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { ProviderUnavailable, RateLimited } from "./AuthError.js"
import * as RedisStore from "./internal/rateLimitRedis.js"
import * as Store from "./internal/rateLimitStore.js"

/**
 * An accepted request: the numbers for the `X-RateLimit-*` headers.
 *
 * @since 0.1.0
 */
export interface Decision {
  readonly limit: number
  /** Requests left in the current window. */
  readonly remaining: number
  /** Milliseconds until the current window closes and the budget is whole again. */
  readonly resetAfterMillis: number
}

/**
 * A key's use of its current window, for `/metrics` (like the seed's `get_metrics`).
 *
 * @since 0.1.0
 */
export interface Usage {
  /** Requests counted in the current window (0 when no window is open). */
  readonly used: number
  readonly limit: number
  /** Milliseconds until the current window closes (0 when no window is open). */
  readonly resetAfterMillis: number
}

/**
 * Per-call options: `limit` overrides the configured limit for this key (a key's metadata). It must be a
 * positive integer; anything else means the configured limit.
 *
 * @since 0.1.0
 */
export interface ConsumeOptions {
  readonly limit?: number | undefined
}

/**
 * The rate limit service.
 *
 * @since 0.1.0
 */
export interface RateLimit {
  /** Counts one request for `keyId`, or refuses it with `RateLimited` when its window is spent. */
  readonly consume: (
    keyId: string,
    options?: ConsumeOptions
  ) => Effect.Effect<Decision, RateLimited | ProviderUnavailable>
  /** Reads `keyId`'s current window without counting a request. */
  readonly metrics: (keyId: string, options?: ConsumeOptions) => Effect.Effect<Usage, ProviderUnavailable>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 */
export const RateLimit: Context.Tag<RateLimit, RateLimit> = Context.GenericTag<RateLimit>("@effect-auth/core/RateLimit")

/**
 * The default limit: 100 requests per key per window.
 *
 * @since 0.1.0
 */
export const defaultLimit = 100

/**
 * Options shared by every store.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Requests per key per window (default 100). */
  readonly limit?: number | undefined
  /** The window length (default one minute). */
  readonly window?: Duration.DurationInput | undefined
}

/**
 * The default bound of a memory store: 100 000 keys (about 20 MB of heap when full).
 *
 * @since 0.1.0
 */
export const defaultMaxKeys = 100_000

/**
 * Options of the memory store.
 *
 * @since 0.1.0
 */
export interface MemoryOptions extends Options {
  /**
   * The most keys held at once (default 100 000). A new key arriving when the store is full (after
   * forgetting closed windows) drops the key whose window opened first. That key then starts a fresh
   * window early if it comes back, so under a flood of more than `maxKeys` distinct keys within one window
   * some keys may get more than `limit` requests; in exchange memory stays bounded.
   */
  readonly maxKeys?: number | undefined
}

/**
 * A memory rate limit, with the number of keys it holds (keys are forgotten when their window closes, and
 * never more than `maxKeys` are held).
 *
 * @since 0.1.0
 */
export interface MemoryRateLimit extends RateLimit {
  readonly size: Effect.Effect<number>
}

/**
 * Options of the Redis store.
 *
 * @since 0.1.0
 */
export interface RedisOptions extends Options {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS). */
  readonly url: string | Redacted.Redacted<string>
  /** Prefix of the Redis keys (default `effect-auth:rate-limit:`); instances sharing a budget share it. */
  readonly prefix?: string | undefined
  /** How long a Redis command may take before the request fails with `timeout` (default 1 second). */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * What to do while Redis cannot answer: `"none"` (default) fails with `ProviderUnavailable` (503);
   * `"memory"` counts in this instance's memory instead (each instance then has its own budget).
   */
  readonly fallback?: "none" | "memory" | undefined
  /** The most keys the memory fallback holds (default 100 000); see `MemoryOptions.maxKeys`. */
  readonly maxKeys?: number | undefined
}

interface Settings {
  readonly limit: number
  readonly window: Duration.Duration
}

const isLimit = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 1

const settings = (options: Options | undefined): Effect.Effect<Settings, ConfigError.ConfigError> => {
  const limit = options?.limit ?? defaultLimit
  if (!isLimit(limit)) {
    return Effect.fail(ConfigError.InvalidData(["limit"], `Expected a positive integer limit, got ${String(limit)}`))
  }
  const window = Duration.decodeUnknown(options?.window ?? "1 minute")
  if (Option.isNone(window) || !Duration.isFinite(window.value) || Duration.toMillis(window.value) < 1) {
    return Effect.fail(ConfigError.InvalidData(["window"], "Expected a finite window of at least 1 millisecond"))
  }
  return Effect.succeed({ limit, window: window.value })
}

const maxKeysOf = (maxKeys: number | undefined): Effect.Effect<number, ConfigError.ConfigError> => {
  const n = maxKeys ?? defaultMaxKeys
  return isLimit(n)
    ? Effect.succeed(n)
    : Effect.fail(ConfigError.InvalidData(["maxKeys"], `Expected a positive integer maxKeys, got ${String(n)}`))
}

// Never negative, never NaN, whole milliseconds.
const millis = (value: number, otherwise: number): number =>
  Number.isFinite(value) ? Math.max(0, Math.ceil(value)) : otherwise

const make = (store: Store.Store, provider: string, config: Settings): Effect.Effect<RateLimit> =>
  Effect.map(Effect.provideService(RateLimiter.make, RateLimiter.RateLimiterStore, store.limiter), (limiter) => {
    const windowMillis = Duration.toMillis(config.window)
    const limitFor = (options: ConsumeOptions | undefined) => (isLimit(options?.limit) ? options.limit : config.limit)
    const unavailable = (error: RateLimiter.RateLimitStoreError) =>
      new ProviderUnavailable({ reason: classify(error.cause), provider, cause: error })
    return RateLimit.of({
      consume: (keyId, options) => {
        const limit = limitFor(options)
        return limiter
          .consume({ algorithm: "fixed-window", onExceeded: "fail", window: config.window, limit, key: keyId })
          .pipe(
            Effect.map((result): Decision => ({
              limit: result.limit,
              remaining: Math.max(0, result.remaining),
              resetAfterMillis: millis(Duration.toMillis(result.resetAfter), windowMillis)
            })),
            Effect.catchTags({
              RateLimiterError: (error) =>
                error.reason === "Exceeded"
                  ? Effect.fail(
                      new RateLimited({
                        reason: "rate-limit-exceeded",
                        retryAfterMillis: millis(Duration.toMillis(error.retryAfter), windowMillis),
                        limit: error.limit
                      })
                    )
                  : Effect.fail(unavailable(error))
            })
          )
      },
      metrics: (keyId, options) =>
        store.peek(keyId).pipe(
          Effect.map((window): Usage =>
            window === undefined
              ? { used: 0, limit: limitFor(options), resetAfterMillis: 0 }
              : { used: window.count, limit: limitFor(options), resetAfterMillis: millis(window.ttlMillis, 0) }
          ),
          Effect.mapError(unavailable)
        )
    })
  })

const classify = (cause: unknown): "timeout" | "unreachable" | "bad-response" => {
  if (cause instanceof Error) {
    if (/timed? ?out/i.test(cause.message)) return "timeout"
    // A reply from Redis that is an error (a script error, a wrong type): reachable but not answering.
    if (cause.name === "ReplyError") return "bad-response"
  }
  return "unreachable"
}

/**
 * A memory rate limit: one process's budget, bounded (a key is forgotten when its window closes, and at
 * most `maxKeys` keys are held: a new key at a full store drops the one whose window opened first, which
 * may then get more than `limit` requests in that window; see `MemoryOptions.maxKeys`).
 *
 * @example
 * import { RateLimit } from "@effect-auth/core"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function* () {
 *   const limiter = yield* RateLimit.makeMemory({ limit: 100, window: "1 minute", maxKeys: 50_000 })
 *   yield* limiter.consume("key-1")
 *   return yield* limiter.size // never more than 50 000
 * })
 *
 * @since 0.1.0
 */
export const makeMemory = (options?: MemoryOptions): Effect.Effect<MemoryRateLimit, ConfigError.ConfigError> =>
  Effect.gen(function* () {
    const config = yield* settings(options)
    const store = yield* Store.makeMemory(yield* maxKeysOf(options?.maxKeys))
    const limit = yield* make(store, "memory", config)
    return { ...limit, size: store.size }
  })

/**
 * A memory rate limit layer (the default); see `makeMemory`.
 *
 * @since 0.1.0
 */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<RateLimit, ConfigError.ConfigError> =>
  Layer.effect(RateLimit, makeMemory(options))

const redisUrl = (url: string): Either.Either<string, ConfigError.ConfigError> => {
  const parsed = URL.canParse(url) ? new URL(url) : undefined
  // The URL may hold a password: never echo it.
  return parsed !== undefined && (parsed.protocol === "redis:" || parsed.protocol === "rediss:") && parsed.hostname
    ? Either.right(url)
    : Either.left(ConfigError.InvalidData(["url"], "Expected a redis:// or rediss:// URL"))
}

/**
 * A rate limit in Redis, shared by every instance using the same Redis and prefix. Each command is bounded
 * by `timeout`; while Redis is away requests fail with `ProviderUnavailable` (`unreachable` or `timeout`),
 * or, with `fallback: "memory"`, are counted in memory (logged as an error when it starts and as info when
 * Redis answers again). The client reconnects by itself, so the layer never needs rebuilding.
 *
 * @since 0.1.0
 */
export const makeRedis = (options: RedisOptions): Effect.Effect<RateLimit, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const config = yield* settings(options)
    const maxKeys = yield* maxKeysOf(options.maxKeys)
    const url = yield* redisUrl(Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url)
    const timeout = Duration.decodeUnknown(options.timeout ?? "1 second")
    if (Option.isNone(timeout) || !Duration.isFinite(timeout.value) || Duration.toMillis(timeout.value) < 1) {
      return yield* Effect.fail(ConfigError.InvalidData(["timeout"], "Expected a finite timeout"))
    }
    const timeoutMillis = Math.ceil(Duration.toMillis(timeout.value))
    const store = yield* RedisStore.make({
      url,
      prefix: options.prefix ?? "effect-auth:rate-limit:",
      timeoutMillis
    }).pipe(Effect.mapError((error) => ConfigError.InvalidData(["url"], error.message)))
    const redis = yield* make(store, "redis", config)
    // ioredis's own `commandTimeout` covers a silent server; this also covers a connect that never ends.
    const bounded = <A, E>(effect: Effect.Effect<A, E | ProviderUnavailable>) =>
      Effect.timeoutFail(effect, {
        duration: timeout.value,
        onTimeout: () => new ProviderUnavailable({ reason: "timeout", provider: "redis" })
      })
    if (options.fallback !== "memory") {
      return RateLimit.of({
        consume: (keyId, o) => bounded(redis.consume(keyId, o)),
        metrics: (keyId, o) => bounded(redis.metrics(keyId, o))
      })
    }
    const memory = yield* make(yield* Store.makeMemory(maxKeys), "memory", config)
    let degraded = false
    const fallback = <A, E>(
      effect: Effect.Effect<A, E | ProviderUnavailable>,
      onMemory: Effect.Effect<A, E>
    ): Effect.Effect<A, E> =>
      bounded(effect).pipe(
        Effect.tap(() => {
          if (!degraded) return Effect.void
          degraded = false
          return Effect.logInfo("Redis answers again: the rate limit is shared again")
        }),
        Effect.catchIf(
          (error): error is ProviderUnavailable => error instanceof ProviderUnavailable,
          (error) => {
            const log = degraded
              ? Effect.void
              : Effect.logError(
                  "Redis cannot answer: rate limits are counted in this instance's memory until it returns"
                ).pipe(Effect.annotateLogs({ reason: error.reason }))
            degraded = true
            return Effect.zipRight(log, onMemory)
          }
        )
      )
    return RateLimit.of({
      consume: (keyId, o) => fallback(redis.consume(keyId, o), memory.consume(keyId, o)),
      metrics: (keyId, o) => fallback(redis.metrics(keyId, o), memory.metrics(keyId, o))
    })
  })

/**
 * A Redis rate limit layer; see `makeRedis`.
 *
 * @since 0.1.0
 */
export const layerRedis = (options: RedisOptions): Layer.Layer<RateLimit, ConfigError.ConfigError> =>
  Layer.scoped(RateLimit, makeRedis(options))

// Set but invalid is an error, even when the other variable is valid: a typo must not change the limit.
const optionalLimit = (name: string): Config.Config<Option.Option<number>> =>
  Config.mapOrFail(Config.option(Config.string(name)), (value) => {
    if (Option.isNone(value)) return Either.right(Option.none())
    const text = value.value.trim()
    const n = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN
    return isLimit(n)
      ? Either.right(Option.some(n))
      : Either.left(ConfigError.InvalidData([name], `Expected a positive integer, got ${JSON.stringify(value.value)}`))
  })

/**
 * The limit per key per minute: `AUTH_RATE_LIMIT_PER_MINUTE`, else the seed's `MAX_REQUESTS_PER_MINUTE`,
 * else 100. A variable that is set must be a positive integer.
 *
 * @since 0.1.0
 */
export const limitConfig: Config.Config<number> = Config.map(
  Config.all([optionalLimit("AUTH_RATE_LIMIT_PER_MINUTE"), optionalLimit("MAX_REQUESTS_PER_MINUTE")]),
  ([primary, seed]) =>
    Option.getOrElse(
      Option.orElse(primary, () => seed),
      () => defaultLimit
    )
)

/**
 * The rate limit from the environment: `AUTH_RATE_LIMIT_PER_MINUTE` / `MAX_REQUESTS_PER_MINUTE`,
 * `AUTH_REDIS_URL` (Redis when set, memory otherwise), `AUTH_RATE_LIMIT_FALLBACK` (`none`, the default,
 * or `memory`) and `AUTH_RATE_LIMIT_MAX_KEYS` (the memory store's bound, default 100 000).
 *
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<RateLimit, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.gen(function* () {
    const limit = yield* limitConfig
    const maxKeys = Option.getOrElse(yield* optionalLimit("AUTH_RATE_LIMIT_MAX_KEYS"), () => defaultMaxKeys)
    const url = yield* Config.option(Config.redacted("AUTH_REDIS_URL"))
    const fallback = yield* Config.literal(
      "none",
      "memory"
    )("AUTH_RATE_LIMIT_FALLBACK").pipe(Config.withDefault("none"))
    return Option.match(url, {
      onNone: () => layerMemory({ limit, maxKeys }),
      onSome: (url) => layerRedis({ url, limit, fallback, maxKeys })
    })
  })
)

/**
 * The `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` headers (Reset in whole seconds
 * until the window closes, rounded up) for an accepted or a refused request. A refusal without a known
 * limit has no `X-RateLimit-Limit`.
 *
 * @since 0.1.0
 */
export const headers = (result: Decision | RateLimited): Readonly<Record<string, string>> => {
  if (result instanceof RateLimited) {
    const reset = { "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": seconds(result.retryAfterMillis) }
    return result.limit === undefined ? reset : { "X-RateLimit-Limit": String(result.limit), ...reset }
  }
  return {
    "X-RateLimit-Limit": String(result.limit),
    "X-RateLimit-Remaining": String(Math.max(0, result.remaining)),
    "X-RateLimit-Reset": seconds(result.resetAfterMillis)
  }
}

const seconds = (ms: number): string => String(Number.isFinite(ms) ? Math.max(0, Math.ceil(ms / 1000)) : 0)
