import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Redis, RedisOptions } from "ioredis"
import { missingLimit, noTokenBucket, type Store, windowMillis } from "./rateLimitStore.js"

/**
 * A true fixed window, atomically: the first request opens the key with a `PX` of one window, later ones
 * `INCRBY` it (keeping its expiry) only while under the limit. Experimental's Redis script instead grows
 * the expiry by `window / limit` per request and sends that fraction to `PX`, which Redis refuses unless
 * the limit divides the window (60000 ms / 7 fails every request).
 */
const fixedWindowScript = `
local key = KEYS[1]
local tokens = tonumber(ARGV[1])
local windowms = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local current = tonumber(redis.call("GET", key))
if not current then
  redis.call("SET", key, tokens, "PX", windowms)
  return { tokens, windowms }
end
local pttl = tonumber(redis.call("PTTL", key))
if pttl < 0 then
  -- a counter without expiry (written by someone else) would lock the key out for good
  redis.call("PEXPIRE", key, windowms)
  pttl = windowms
end
local next = current + tokens
if next <= limit then
  redis.call("INCRBY", key, tokens)
end
return { next, pttl }
`

const peekScript = `
local count = tonumber(redis.call("GET", KEYS[1]))
if not count then
  return false
end
return { count, tonumber(redis.call("PTTL", KEYS[1])) }
`

interface ScriptedRedis extends Redis {
  authFixedWindow(key: string, tokens: number, windowMillis: number, limit: number): Promise<[number, number]>
  authPeekWindow(key: string): Promise<[number, number] | null>
}

/** Options of the Redis store. */
export interface Options {
  readonly url: string
  readonly prefix: string
  readonly timeoutMillis: number
}

const storeError = (message: string) => (cause: unknown) => new RateLimiter.RateLimitStoreError({ message, cause })

/**
 * The Redis store. `ioredis` is loaded here, on first use, so users of the memory limiter need not
 * install it (it is an optional peer dependency).
 *
 * The client never queues or retries a command: while Redis is away every command fails at once (or after
 * `timeoutMillis`), so a request is answered promptly, and the client keeps reconnecting in the background,
 * so the limiter recovers by itself when Redis returns.
 */
export const make = (options: Options): Effect.Effect<Store, RateLimiter.RateLimitStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const module = yield* Effect.tryPromise({
      try: () => import("ioredis"),
      catch: storeError("The ioredis package is needed for a Redis rate limit store; install it")
    })
    const clientOptions: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: options.timeoutMillis,
      commandTimeout: options.timeoutMillis,
      // Reconnect quickly so an outage lasts no longer than Redis's.
      retryStrategy: (times) => Math.min(50 * times, 1000),
      // `ready` only after the script commands can run.
      enableReadyCheck: true
    }
    const redis = yield* Effect.acquireRelease(
      Effect.sync(() => new module.Redis(options.url, clientOptions) as ScriptedRedis),
      (redis) =>
        Effect.tryPromise(() => redis.quit()).pipe(
          Effect.timeout(options.timeoutMillis),
          Effect.ignore,
          // `quit` cannot run while disconnected; `disconnect` also stops the reconnection loop.
          Effect.ensuring(Effect.sync(() => redis.disconnect()))
        )
    )
    // Without a listener ioredis prints every connection error to the console; failures are reported
    // per request instead, as `ProviderUnavailable`.
    redis.on("error", () => {})
    redis.defineCommand("authFixedWindow", { lua: fixedWindowScript, numberOfKeys: 1 })
    redis.defineCommand("authPeekWindow", { lua: peekScript, numberOfKeys: 1, readOnly: true })

    // Commands are not queued, so give the first connection a moment; a Redis that is down at start-up
    // means failed requests (503 or the fallback), not a failed start.
    yield* Effect.async<void>((resume) => {
      if (redis.status === "ready") return resume(Effect.void)
      const onReady = () => resume(Effect.void)
      redis.once("ready", onReady)
      return Effect.sync(() => redis.off("ready", onReady))
    }).pipe(Effect.timeout(options.timeoutMillis), Effect.ignore)

    const limiter: RateLimiter.RateLimiterStore["Type"] = {
      fixedWindow: (o) => {
        const limit = o.limit
        if (limit === undefined) return Effect.fail(missingLimit)
        return Effect.tryPromise({
          try: () =>
            redis.authFixedWindow(`${options.prefix}${o.key}`, o.tokens, windowMillis(o.refillRate, limit), limit),
          catch: storeError("The Redis fixed-window command failed")
        })
      },
      tokenBucket: () => noTokenBucket
    }
    return {
      limiter,
      peek: (key) =>
        Effect.tryPromise({
          try: () => redis.authPeekWindow(`${options.prefix}${key}`),
          catch: storeError("The Redis window lookup failed")
        }).pipe(Effect.map((reply) => (reply === null ? undefined : { count: reply[0], ttlMillis: reply[1] })))
    }
  })
