import { AuthError, RateLimit } from "@effect-auth/core"
import { Services, TcpProxy } from "@effect-auth/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"

const redis = { host: "127.0.0.1", port: 6379, probe: "redis" } as const
const redisHost = redis.host
const redisPort = redis.port

const runRedisTests = await Services.shouldRun("Redis (for the Redis rate limit tests)", redis)

/**
 * A TCP proxy in front of the shared Redis, so a test can take "Redis" away without stopping the server
 * other tests use.
 */
const proxy = Effect.map(TcpProxy.scoped(redis), (p) => ({
  url: `redis://127.0.0.1:${p.port}`,
  cut: Effect.promise(() => p.cut()),
  stall: Effect.promise(() => p.stall()),
  restore: Effect.promise(() => p.restore())
}))

const build = (options: Omit<RateLimit.RedisOptions, "url"> & { readonly url?: string }) =>
  Effect.map(
    Layer.build(RateLimit.layerRedis({ url: `redis://${redisHost}:${redisPort}`, timeout: "500 millis", ...options })),
    Context.get(RateLimit.RateLimit)
  )

const uniquePrefix = () => `effect-auth-test:${randomUUID()}:`

const untilOk = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 100; i++) {
      const result = yield* Effect.either(effect)
      if (result._tag === "Right") return result.right
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.dieMessage("Redis did not come back within 10 seconds")
  })

const captureLogs = () => {
  const lines: Array<string> = []
  return {
    lines,
    layer: Logger.replace(
      Logger.defaultLogger,
      Logger.make((options) => void lines.push(Logger.logfmtLogger.log(options)))
    )
  }
}

describe.runIf(runRedisTests)("RateLimit on Redis", () => {
  it("has a Redis to test against", async () => {
    expect(await Services.isReachable(redis), `no Redis on ${redisHost}:${redisPort}`).toBe(true)
  })

  it.scopedLive("two instances with their own connections share exactly one budget", () =>
    Effect.gen(function* () {
      const prefix = uniquePrefix()
      const a = yield* build({ prefix, limit: 10 })
      const b = yield* build({ prefix, limit: 10 })
      const results = yield* Effect.forEach(
        Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b)),
        (limiter) => Effect.either(limiter.consume("shared")),
        { concurrency: "unbounded" }
      )
      const accepted = results.filter((r) => r._tag === "Right")
      expect(accepted).toHaveLength(10)
      expect(accepted.map((r) => r.right.remaining).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      for (const r of results) {
        if (r._tag === "Left") {
          expect(r.left._tag).toBe("RateLimited")
          if (r.left._tag !== "RateLimited") continue
          expect(r.left.limit).toBe(10)
          expect(r.left.retryAfterMillis).toBeGreaterThan(55_000)
          expect(r.left.retryAfterMillis).toBeLessThanOrEqual(60_000)
        }
      }
      const usage = yield* b.metrics("shared")
      expect(usage.used).toBe(10)
      expect(usage.limit).toBe(10)
      expect(usage.resetAfterMillis).toBeGreaterThan(55_000)
      expect((yield* a.metrics("shared")).used).toBe(10)
      // Another key has its own budget.
      expect((yield* a.consume("other")).remaining).toBe(9)
    })
  )

  it.scopedLive("opens a new window when the old one closes, and takes per-call limits", () =>
    Effect.gen(function* () {
      const limiter = yield* build({ prefix: uniquePrefix(), limit: 2, window: "400 millis" })
      yield* limiter.consume("w")
      yield* limiter.consume("w")
      expect((yield* Effect.flip(limiter.consume("w")))._tag).toBe("RateLimited")
      yield* Effect.sleep("450 millis")
      expect((yield* limiter.consume("w")).remaining).toBe(1)
      expect((yield* limiter.consume("big", { limit: 3 })).remaining).toBe(2)
    })
  )

  it.scopedLive("works for limits that do not divide the window (experimental's script fails on them)", () =>
    Effect.gen(function* () {
      const limiter = yield* build({ prefix: uniquePrefix(), limit: 7 })
      const decisions = yield* Effect.forEach(Array.from({ length: 7 }), () => limiter.consume("seven"))
      expect(decisions.map((d) => d.remaining)).toEqual([6, 5, 4, 3, 2, 1, 0])
      const refused = yield* Effect.flip(limiter.consume("seven"))
      expect(refused._tag === "RateLimited" && refused.limit).toBe(7)
    })
  )

  it.scopedLive("answers ProviderUnavailable within the timeout while Redis is away, and recovers by itself", () =>
    Effect.gen(function* () {
      const p = yield* proxy
      const limiter = yield* build({ url: p.url, prefix: uniquePrefix(), limit: 5 })
      yield* limiter.consume("k")

      yield* p.cut
      const started = Date.now()
      const error = yield* Effect.flip(limiter.consume("k"))
      expect(Date.now() - started).toBeLessThan(1000)
      expect(error).toBeInstanceOf(AuthError.ProviderUnavailable)
      if (error._tag !== "ProviderUnavailable") return
      expect(error.provider).toBe("redis")
      expect(["unreachable", "timeout"]).toContain(error.reason)
      const metricsError = yield* Effect.flip(limiter.metrics("k"))
      expect(metricsError._tag).toBe("ProviderUnavailable")

      yield* p.restore
      const back = yield* untilOk(limiter.consume("k"))
      // The count kept in Redis survived the outage: one before, this one now.
      expect(back.remaining).toBe(3)
    })
  )

  it.scopedLive("times out against a Redis that accepts but never answers", () =>
    Effect.gen(function* () {
      const p = yield* proxy
      const limiter = yield* build({ url: p.url, prefix: uniquePrefix(), limit: 5 })
      yield* limiter.consume("k")
      yield* p.stall
      const started = Date.now()
      const error = yield* Effect.flip(limiter.consume("k"))
      const elapsed = Date.now() - started
      expect(elapsed).toBeGreaterThanOrEqual(400)
      expect(elapsed).toBeLessThan(1500)
      expect(error._tag === "ProviderUnavailable" && error.reason).toBe("timeout")
      yield* p.restore
      expect((yield* untilOk(limiter.consume("k"))).remaining).toBeLessThanOrEqual(3)
    })
  )

  it.scopedLive("with fallback memory, counts in memory while Redis is away, then uses Redis again", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const prefix = uniquePrefix()
      const p = yield* proxy
      const limiter = yield* build({ url: p.url, prefix, limit: 3, fallback: "memory" }).pipe(
        Effect.provide(logs.layer)
      )
      // A second instance straight on Redis sees only what reaches Redis.
      const observer = yield* build({ prefix, limit: 3 })
      const consume = limiter.consume("k").pipe(Effect.provide(logs.layer))

      expect((yield* consume).remaining).toBe(2)
      expect((yield* observer.metrics("k")).used).toBe(1)

      yield* p.cut
      // The memory limiter answers, with its own budget of 3, and still refuses the 4th.
      const fallback = yield* Effect.forEach(Array.from({ length: 3 }), () => consume)
      expect(fallback.map((d) => d.remaining)).toEqual([2, 1, 0])
      expect((yield* Effect.flip(consume))._tag).toBe("RateLimited")
      expect((yield* observer.metrics("k")).used).toBe(1)
      expect(logs.lines.filter((line) => line.includes("level=ERROR") && line.includes("Redis"))).toHaveLength(1)

      yield* p.restore
      // Back on Redis (no rebuild): the shared count continues from 1.
      const back = yield* untilOk(
        Effect.flatMap(observer.metrics("k"), () => consume).pipe(
          Effect.filterOrFail(
            (d) => d.remaining === 1,
            () => "still on memory"
          )
        )
      )
      expect(back.remaining).toBe(1)
      expect((yield* observer.metrics("k")).used).toBe(2)
      expect(logs.lines.some((line) => line.includes("level=INFO") && line.includes("Redis answers again"))).toBe(true)
    })
  )

  it.scopedLive("answers at once when Redis is down at start-up, without failing the layer", () =>
    Effect.gen(function* () {
      const p = yield* proxy
      yield* p.cut
      const started = Date.now()
      const limiter = yield* build({ url: p.url, prefix: uniquePrefix(), limit: 5 })
      const error = yield* Effect.flip(limiter.consume("k"))
      expect(Date.now() - started).toBeLessThan(1500)
      expect(error._tag === "ProviderUnavailable" && error.provider).toBe("redis")
      yield* p.restore
      expect((yield* untilOk(limiter.consume("k"))).remaining).toBe(4)
    })
  )

  it.scopedLive("releases its connection promptly while Redis is away", () =>
    Effect.gen(function* () {
      const p = yield* proxy
      const scope = yield* Scope.make()
      const limiter = yield* build({ url: p.url, prefix: uniquePrefix() }).pipe(Scope.extend(scope))
      yield* limiter.consume("k")
      yield* p.cut
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      expect(Date.now() - started).toBeLessThan(1000)
    })
  )

  it.scopedLive("accepts the URL as Redacted and refuses a bad one as a ConfigError", () =>
    Effect.gen(function* () {
      const redacted = yield* Effect.map(
        Layer.build(
          RateLimit.layerRedis({ url: Redacted.make(`redis://${redisHost}:${redisPort}/0`), prefix: uniquePrefix() })
        ),
        Context.get(RateLimit.RateLimit)
      )
      expect((yield* redacted.consume("r")).limit).toBe(100)
      const error = yield* Effect.flip(Layer.build(RateLimit.layerRedis({ url: "http://127.0.0.1:6379" })))
      expect(error._op).toBe("InvalidData")
    })
  )
})
