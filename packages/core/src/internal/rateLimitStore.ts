import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** A key's current window: requests counted so far and the milliseconds until it closes. */
export interface Window {
  readonly count: number
  readonly ttlMillis: number
}

/**
 * A `RateLimiter.RateLimiterStore` (the experimental port) plus a read-only look at a key, which the
 * port lacks and `RateLimit.metrics` needs (consuming to measure would spend the caller's budget).
 */
export interface Store {
  readonly limiter: RateLimiter.RateLimiterStore["Type"]
  readonly peek: (key: string) => Effect.Effect<Window | undefined, RateLimiter.RateLimitStoreError>
}

/**
 * The port describes a window as `refillRate × limit`; every store of ours derives it the same way, in
 * whole milliseconds (Redis only takes whole milliseconds for `PX`).
 */
export const windowMillis = (refillRate: Duration.Duration, limit: number): number =>
  Math.max(1, Math.round(Duration.toMillis(refillRate) * limit))

const unsupported = (operation: string) =>
  new RateLimiter.RateLimitStoreError({ message: `The ${operation} algorithm is not supported by this store` })

/**
 * Only the fail-on-exceed fixed window is used by `RateLimit`; a store call without a limit (the port's
 * "delay" mode) is refused rather than guessed.
 */
export const missingLimit = unsupported("delayed fixed-window")

/** `tokenBucket` is part of the port but not used by `RateLimit`. */
export const noTokenBucket = Effect.fail(unsupported("token-bucket"))

/** The memory store and its size, for tests and `/metrics`. */
export interface MemoryStore extends Store {
  readonly size: Effect.Effect<number>
}

interface Counter {
  readonly key: string
  count: number
  readonly expiresAt: number
}

/**
 * A true fixed window per key that forgets a key when its window closes. Experimental's
 * `layerStoreMemory` never deletes a counter (an expired one is only replaced when the same key comes
 * back), so every key ever seen would stay in memory: the seed's unbounded growth again.
 *
 * Counters are looked up in a `Map` and queued in window-opening order (an expired counter is replaced,
 * never reset in place). With one window length per store and a monotonic clock, that is also expiry
 * order, so the sweep stops at the first live counter: the cost is proportional to what it removes.
 *
 * At most `maxKeys` counters are held: more distinct keys than that within one window would otherwise
 * grow the map until the window closes. A new key arriving at a full store drops the counter whose window
 * opened first (the queue's head), which then starts a fresh window early if it comes back.
 */
export const makeMemory = (maxKeys: number): Effect.Effect<MemoryStore> =>
  Effect.sync(() => {
    const counters = new Map<string, Counter>()
    // Not the Map's own order: V8 leaves deleted slots in place until it rehashes, so finding a Map's first
    // entry after many deletions at its front walks over all of them (an eviction per request cost
    // O(maxKeys)). An array with a moving head, compacted now and then, keeps both O(1) amortised.
    let queue: Array<Counter | undefined> = []
    let head = 0
    /** The counter whose window opened first, skipping queue entries already dropped or replaced. */
    const oldest = (): Counter | undefined => {
      for (let first = queue[head]; first !== undefined && counters.get(first.key) !== first; first = queue[head]) {
        // Let a dropped counter and its key be collected now, not at the next compaction.
        queue[head] = undefined
        head++
      }
      if (head >= 1024 && head * 2 >= queue.length) {
        queue = queue.slice(head)
        head = 0
      }
      return queue[head]
    }
    const sweep = (now: number) => {
      for (let counter = oldest(); counter !== undefined && counter.expiresAt <= now; counter = oldest()) {
        counters.delete(counter.key)
      }
    }
    const live = (key: string, now: number): Counter | undefined => {
      const counter = counters.get(key)
      return counter !== undefined && counter.expiresAt > now ? counter : undefined
    }
    const limiter: RateLimiter.RateLimiterStore["Type"] = {
      fixedWindow: (options) =>
        Effect.clockWith((clock) => {
          const limit = options.limit
          if (limit === undefined) return Effect.fail(missingLimit)
          return Effect.sync(() => {
            const now = clock.unsafeCurrentTimeMillis()
            sweep(now)
            const counter = live(options.key, now)
            if (counter === undefined) {
              const ttl = windowMillis(options.refillRate, limit)
              counters.delete(options.key)
              // The sweep ran first, so only live counters are dropped here, oldest window first.
              while (counters.size >= maxKeys) {
                const first = oldest()
                if (first === undefined) break
                counters.delete(first.key)
              }
              const fresh: Counter = { key: options.key, count: options.tokens, expiresAt: now + ttl }
              counters.set(options.key, fresh)
              queue.push(fresh)
              return [options.tokens, ttl] as const
            }
            const next = counter.count + options.tokens
            // A refused request is not counted, so a client that keeps retrying does not push its own
            // reset further away (the window is fixed, it never slides).
            if (next <= limit) counter.count = next
            return [next, counter.expiresAt - now] as const
          })
        }),
      tokenBucket: () => noTokenBucket
    }
    return {
      limiter,
      peek: (key) =>
        Effect.clockWith((clock) =>
          Effect.sync(() => {
            const now = clock.unsafeCurrentTimeMillis()
            const counter = live(key, now)
            return counter === undefined ? undefined : { count: counter.count, ttlMillis: counter.expiresAt - now }
          })
        ),
      size: Effect.clockWith((clock) =>
        Effect.sync(() => {
          sweep(clock.unsafeCurrentTimeMillis())
          return counters.size
        })
      )
    }
  })
