import { AuthError, RateLimit } from "@effect-auth/core"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"

const minute = 60_000

const withEnv = (env: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const times = <A, E>(n: number, effect: Effect.Effect<A, E>) => Effect.forEach(Array.from({ length: n }), () => effect)

describe("RateLimit", () => {
  describe("memory", () => {
    it.effect("allows exactly the limit per window and refuses the next with the time until it frees", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimit.makeMemory({ limit: 5 })
        const decisions = yield* times(5, limiter.consume("alice"))
        expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0])
        expect(decisions.every((d) => d.limit === 5 && d.resetAfterMillis === minute)).toBe(true)

        yield* TestClock.adjust("20 seconds")
        const refused = yield* Effect.flip(limiter.consume("alice"))
        expect(refused).toBeInstanceOf(AuthError.RateLimited)
        expect(refused._tag).toBe("RateLimited")
        if (refused._tag !== "RateLimited") return
        expect(refused.reason).toBe("rate-limit-exceeded")
        expect(refused.retryAfterMillis).toBe(40_000)
        expect(refused.limit).toBe(5)

        // Refused requests are not counted and do not move the window.
        yield* TestClock.adjust("39999 millis")
        const stillRefused = yield* Effect.flip(limiter.consume("alice"))
        expect(stillRefused._tag === "RateLimited" && stillRefused.retryAfterMillis).toBe(1)

        yield* TestClock.adjust("1 millis")
        const fresh = yield* limiter.consume("alice")
        expect(fresh).toEqual({ limit: 5, remaining: 4, resetAfterMillis: minute })
      })
    )

    it.effect("is a fixed window: requests late in a window do not extend it", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimit.makeMemory({ limit: 3 })
        yield* limiter.consume("k")
        yield* TestClock.adjust("50 seconds")
        const second = yield* limiter.consume("k")
        expect(second).toEqual({ limit: 3, remaining: 1, resetAfterMillis: 10_000 })
        yield* TestClock.adjust("10 seconds")
        expect((yield* limiter.consume("k")).remaining).toBe(2)
      })
    )

    it.effect("counts each key on its own", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimit.makeMemory({ limit: 2 })
        yield* times(2, limiter.consume("a"))
        expect((yield* Effect.flip(limiter.consume("a")))._tag).toBe("RateLimited")
        expect((yield* limiter.consume("b")).remaining).toBe(1)
        expect(yield* limiter.metrics("a")).toEqual({ used: 2, limit: 2, resetAfterMillis: minute })
        expect(yield* limiter.metrics("b")).toEqual({ used: 1, limit: 2, resetAfterMillis: minute })
      })
    )

    it.effect("applies a per-call limit (a key's metadata) and ignores an invalid one", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimit.makeMemory({ limit: 2 })
        const decisions = yield* times(4, limiter.consume("big", { limit: 4 }))
        expect(decisions.map((d) => d.remaining)).toEqual([3, 2, 1, 0])
        const refused = yield* Effect.flip(limiter.consume("big", { limit: 4 }))
        expect(refused._tag === "RateLimited" && refused.limit).toBe(4)
        expect(yield* limiter.metrics("big", { limit: 4 })).toEqual({ used: 4, limit: 4, resetAfterMillis: minute })

        for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          expect((yield* limiter.consume(`odd-${limit}`, { limit })).limit).toBe(2)
        }
      })
    )

    it.effect("metrics read the window without counting a request", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimit.makeMemory({ limit: 3 })
        expect(yield* limiter.metrics("m")).toEqual({ used: 0, limit: 3, resetAfterMillis: 0 })
        yield* limiter.consume("m")
        yield* TestClock.adjust("15 seconds")
        for (let i = 0; i < 5; i++) {
          expect(yield* limiter.metrics("m")).toEqual({ used: 1, limit: 3, resetAfterMillis: 45_000 })
        }
        expect((yield* limiter.consume("m")).remaining).toBe(1)
        yield* TestClock.adjust("45 seconds")
        expect(yield* limiter.metrics("m")).toEqual({ used: 0, limit: 3, resetAfterMillis: 0 })
      })
    )

    it.effect(
      "forgets keys when their window closes, so distinct ids cannot grow memory without bound",
      () =>
        Effect.gen(function* () {
          // A bound above what the test holds, so only closing windows remove keys here.
          const limiter = yield* RateLimit.makeMemory({ limit: 10, maxKeys: 200_000 })
          for (let i = 0; i < 100_000; i++) {
            yield* limiter.consume(`id-${i}`)
          }
          expect(yield* limiter.size).toBe(100_000)
          yield* TestClock.adjust("30 seconds")
          yield* limiter.consume("late")
          expect(yield* limiter.size).toBe(100_001)
          yield* TestClock.adjust("30 seconds")
          // Only "late" is still within its window; a request alone sweeps the rest.
          yield* limiter.consume("another")
          expect(yield* limiter.size).toBe(2)
          yield* TestClock.adjust("1 minute")
          expect(yield* limiter.size).toBe(0)
          // A forgotten key starts a whole new window.
          expect((yield* limiter.consume("id-0")).remaining).toBe(9)
        }),
      60_000
    )

    it.effect("never holds more than maxKeys keys, even with many distinct keys within one window", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimit.makeMemory({ limit: 10, maxKeys: 1000 })
        for (let i = 0; i < 3000; i++) {
          yield* limiter.consume(`id-${i}`)
          if (i % 100 === 0) expect(yield* limiter.size).toBeLessThanOrEqual(1000)
        }
        expect(yield* limiter.size).toBe(1000)
        // The newest 1000 are held; the 2000 before them were dropped.
        expect(yield* limiter.metrics("id-1999")).toEqual({ used: 0, limit: 10, resetAfterMillis: 0 })
        expect(yield* limiter.metrics("id-2000")).toEqual({ used: 1, limit: 10, resetAfterMillis: minute })
        expect(yield* limiter.metrics("id-2999")).toEqual({ used: 1, limit: 10, resetAfterMillis: minute })
      })
    )

    it.effect("drops the key whose window opened first when a new key arrives at a full store", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimit.makeMemory({ limit: 3, maxKeys: 3 })
        yield* limiter.consume("a")
        yield* TestClock.adjust("1 second")
        yield* limiter.consume("b")
        yield* TestClock.adjust("1 second")
        yield* limiter.consume("c")
        // Using "a" again does not make it younger: a fixed window keeps its opening time.
        yield* limiter.consume("a")
        yield* limiter.consume("d")
        expect(yield* limiter.size).toBe(3)
        expect((yield* limiter.metrics("a")).used).toBe(0)
        expect((yield* limiter.metrics("b")).used).toBe(1)
        expect((yield* limiter.metrics("c")).used).toBe(1)
        expect((yield* limiter.metrics("d")).used).toBe(1)
        // The trade-off: the dropped key starts a fresh window early.
        expect(yield* limiter.consume("a")).toEqual({ limit: 3, remaining: 2, resetAfterMillis: minute })
        expect((yield* limiter.metrics("b")).used).toBe(0)
      })
    )

    it.effect("keeps counting a live key correctly while other keys are dropped", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimit.makeMemory({ limit: 5, maxKeys: 100 })
        yield* TestClock.adjust("1 second")
        // Many keys opened before "live", then "live" used up to its limit among newer ones.
        for (let i = 0; i < 50; i++) yield* limiter.consume(`old-${i}`)
        for (let round = 0; round < 5; round++) {
          expect((yield* limiter.consume("live")).remaining).toBe(4 - round)
          for (let i = 0; i < 10; i++) yield* limiter.consume(`new-${round}-${i}`)
        }
        expect(yield* limiter.size).toBe(100)
        const refused = yield* Effect.flip(limiter.consume("live"))
        expect(refused._tag === "RateLimited" && refused.limit).toBe(5)
        expect(yield* limiter.metrics("live")).toEqual({ used: 5, limit: 5, resetAfterMillis: minute })
        // Closing windows free space before anything live is dropped.
        yield* TestClock.adjust("1 minute")
        expect(yield* limiter.size).toBe(0)
      })
    )

    it.effect("uses a custom window", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimit.makeMemory({ limit: 1, window: "10 seconds" })
        expect((yield* limiter.consume("w")).resetAfterMillis).toBe(10_000)
        const refused = yield* Effect.flip(limiter.consume("w"))
        expect(refused._tag === "RateLimited" && refused.retryAfterMillis).toBe(10_000)
        yield* TestClock.adjust("10 seconds")
        expect((yield* limiter.consume("w")).remaining).toBe(0)
      })
    )

    it.effect("refuses invalid options as a ConfigError", () =>
      Effect.gen(function* () {
        for (const limit of [0, -5, 2.5, Number.NaN]) {
          expect((yield* Effect.flip(RateLimit.makeMemory({ limit })))._op).toBe("InvalidData")
        }
        expect((yield* Effect.flip(RateLimit.makeMemory({ window: "0 millis" })))._op).toBe("InvalidData")
        expect((yield* Effect.flip(RateLimit.makeMemory({ window: Infinity })))._op).toBe("InvalidData")
        for (const maxKeys of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          const error = yield* Effect.flip(RateLimit.makeMemory({ maxKeys }))
          expect(error._op).toBe("InvalidData")
          expect(error._op === "InvalidData" && error.path).toEqual(["maxKeys"])
        }
        // The Redis store's memory fallback has the same bound, checked before any connection is made.
        const redis = yield* Effect.flip(Effect.scoped(RateLimit.makeRedis({ url: "redis://127.0.0.1:1", maxKeys: 0 })))
        expect(redis._op === "InvalidData" && redis.path).toEqual(["maxKeys"])
      })
    )
  })

  describe("layerConfig", () => {
    const limitOf = (env: Record<string, string>) =>
      Effect.gen(function* () {
        const limiter = yield* RateLimit.RateLimit
        return (yield* limiter.consume("k")).limit
      }).pipe(Effect.provide(RateLimit.layerConfig.pipe(Layer.provide(withEnv(env)))))

    it.effect("reads AUTH_RATE_LIMIT_PER_MINUTE first, then MAX_REQUESTS_PER_MINUTE, default 100", () =>
      Effect.gen(function* () {
        expect(yield* limitOf({})).toBe(100)
        expect(yield* limitOf({ MAX_REQUESTS_PER_MINUTE: "7" })).toBe(7)
        expect(yield* limitOf({ AUTH_RATE_LIMIT_PER_MINUTE: "12" })).toBe(12)
        expect(yield* limitOf({ AUTH_RATE_LIMIT_PER_MINUTE: "12", MAX_REQUESTS_PER_MINUTE: "7" })).toBe(12)
      })
    )

    it.effect("fails with a ConfigError on invalid values", () =>
      Effect.gen(function* () {
        for (const env of [
          { AUTH_RATE_LIMIT_PER_MINUTE: "abc" },
          { AUTH_RATE_LIMIT_PER_MINUTE: "0" },
          { AUTH_RATE_LIMIT_PER_MINUTE: "-3" },
          { AUTH_RATE_LIMIT_PER_MINUTE: "1.5" },
          { MAX_REQUESTS_PER_MINUTE: "many" },
          { AUTH_RATE_LIMIT_PER_MINUTE: "abc", MAX_REQUESTS_PER_MINUTE: "7" },
          { AUTH_REDIS_URL: "http://127.0.0.1:6379" },
          { AUTH_REDIS_URL: "not a url" },
          { AUTH_RATE_LIMIT_FALLBACK: "allow" },
          { AUTH_RATE_LIMIT_MAX_KEYS: "0" },
          { AUTH_RATE_LIMIT_MAX_KEYS: "lots" },
          { AUTH_RATE_LIMIT_MAX_KEYS: "2.5" }
        ]) {
          const error = yield* Effect.flip(limitOf(env))
          expect(error._tag, JSON.stringify(env)).not.toBe("RateLimited")
          expect("_op" in error && error._op, JSON.stringify(env)).toBeTruthy()
        }
      })
    )

    it.effect("reads the memory store's bound from AUTH_RATE_LIMIT_MAX_KEYS", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimit.RateLimit
        for (const key of ["a", "b", "c"]) yield* limiter.consume(key)
        expect((yield* limiter.metrics("a")).used).toBe(0)
        expect((yield* limiter.metrics("b")).used).toBe(1)
        expect((yield* limiter.metrics("c")).used).toBe(1)
      }).pipe(Effect.provide(RateLimit.layerConfig.pipe(Layer.provide(withEnv({ AUTH_RATE_LIMIT_MAX_KEYS: "2" })))))
    )

    it.effect("never echoes a Redis password in a ConfigError", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(limitOf({ AUTH_REDIS_URL: "ftp://user:hunter2-secret@127.0.0.1/0" }))
        expect(String(error)).not.toContain("hunter2-secret")
      })
    )
  })

  describe("headers", () => {
    it("gives the three headers for a decision, Reset in whole seconds rounded up", () => {
      expect(RateLimit.headers({ limit: 100, remaining: 42, resetAfterMillis: 30_001 })).toEqual({
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "42",
        "X-RateLimit-Reset": "31"
      })
      expect(RateLimit.headers({ limit: 1, remaining: 0, resetAfterMillis: 0 })).toEqual({
        "X-RateLimit-Limit": "1",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "0"
      })
    })

    it("gives Remaining 0 and the reset for a refusal", () => {
      const refused = new AuthError.RateLimited({ reason: "rate-limit-exceeded", retryAfterMillis: 1500, limit: 10 })
      expect(RateLimit.headers(refused)).toEqual({
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "2"
      })
      const noLimit = new AuthError.RateLimited({ reason: "rate-limit-exceeded", retryAfterMillis: 0 })
      expect(RateLimit.headers(noLimit)).toEqual({ "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0" })
    })
  })
})
