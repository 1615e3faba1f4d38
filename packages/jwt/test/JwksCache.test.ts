import type { AuthError } from "@effect-auth/core"
import { JwksCache, JwtVerifier, Oidc } from "@effect-auth/jwt"
import { Issuer, Keys } from "@effect-auth/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"

const client = NodeHttpClient.layerUndici

const cacheFor = (issuer: Issuer.Issuer, options?: Omit<JwksCache.Options, "url">) =>
  JwksCache.make({ url: issuer.jwksUrl, provider: "test-idp", ...options })

const headerOf = (key: { readonly alg: Keys.Algorithm; readonly kid: string }) => ({ alg: key.alg, kid: key.kid })

const kidsOf = (keys: ReadonlyArray<{ readonly kid: string | undefined }>) => keys.map((key) => key.kid)

/**
 * The failure, or `"succeeded"`. Not `Effect.flip`: a test failing with keys as its error (which hold
 * CryptoKeys) hangs the reporter instead of failing.
 */
const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.either(effect), (result) => (Either.isLeft(result) ? result.left : "succeeded"))

interface Line {
  readonly level: LogLevel.LogLevel
  readonly message: unknown
  readonly annotations: Record<string, unknown>
}

/** Runs `effect` with a logger that records every line, debug included. */
const capturingLogs = <A, E, R>(f: (lines: ReadonlyArray<Line>) => Effect.Effect<A, E, R>) => {
  const lines: Array<Line> = []
  const logger = Logger.make<unknown, void>(({ annotations, logLevel, message }) => {
    lines.push({ level: logLevel, message, annotations: Object.fromEntries(annotations) })
  })
  return f(lines).pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
    Logger.withMinimumLogLevel(LogLevel.Debug)
  )
}

const warnings = (lines: ReadonlyArray<Line>) => lines.filter((line) => line.level === LogLevel.Warning)
const errors = (lines: ReadonlyArray<Line>) => lines.filter((line) => line.level === LogLevel.Error)
/** Completed fetches: each successful one logs "JWKS fetched" at debug level. */
const fetched = (lines: ReadonlyArray<Line>) => lines.filter((line) => String(line.message) === "JWKS fetched").length

/**
 * Waits until `condition` holds, polling in live time: a background refresh completes on the network's
 * schedule, which the TestClock does not drive. Dies after 5 seconds.
 */
const eventually = (condition: () => boolean, what: string): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (let tries = 0; tries < 1000; tries++) {
      if (condition()) return
      yield* TestServices.provideLive(Effect.sleep("5 millis"))
    }
    return yield* Effect.die(new Error(`Still waiting for ${what}`))
  })

describe("JwksCache", () => {
  describe("refresh policy (TestClock, healthy issuer)", () => {
    it.scoped("never fetches while being made; the first use fetches", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        const cache = yield* cacheFor(issuer)
        expect(issuer.requests.jwks).toBe(0)
        const keys = yield* cache.keysFor(headerOf(issuer.currentKey))
        expect(kidsOf(keys)).toEqual([issuer.currentKey.kid])
        expect(issuer.requests.jwks).toBe(1)
        yield* cache.keysFor(headerOf(issuer.currentKey))
        expect(issuer.requests.jwks).toBe(1)
      }).pipe(Effect.provide(client))
    )

    it.scoped("refreshes once refreshInterval (default 20 minutes) has passed since the last fetch", () =>
      capturingLogs((lines) =>
        Effect.gen(function* () {
          const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
          const cache = yield* cacheFor(issuer)
          const header = headerOf(issuer.currentKey)
          yield* cache.keysFor(header)
          yield* TestClock.adjust("19 minutes")
          yield* cache.keysFor(header)
          expect(issuer.requests.jwks).toBe(1)
          yield* TestClock.adjust("1 minute")
          // Answered with the current keys while the refresh runs in the background.
          expect(kidsOf(yield* cache.keysFor(header))).toEqual([header.kid])
          yield* eventually(() => fetched(lines) === 2, "the refresh")
          yield* cache.keysFor(header)
          expect(issuer.requests.jwks).toBe(2)
          yield* TestClock.adjust("19 minutes")
          yield* cache.keysFor(header)
          expect(issuer.requests.jwks).toBe(2)
          yield* TestClock.adjust("1 minute")
          yield* cache.keysFor(header)
          yield* eventually(() => fetched(lines) === 3, "the second refresh")
          expect(issuer.requests.jwks).toBe(3)
        })
      ).pipe(Effect.provide(client))
    )

    it.scoped("keysForNow answers from memory only, and leaves anything that needs a fetch to keysFor", () =>
      capturingLogs((lines) =>
        Effect.gen(function* () {
          const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
          const cache = yield* cacheFor(issuer, { refreshAfterUses: 3 })
          const header = headerOf(issuer.currentKey)
          const nowMillis = () => TestClock.currentTimeMillis
          const keysForNow = cache.keysForNow
          if (keysForNow === undefined) return yield* Effect.die(new Error("JwksCache has no keysForNow"))
          // No keys yet: only keysFor may fetch them.
          expect(keysForNow(header, yield* nowMillis())).toBeUndefined()
          expect(issuer.requests.jwks).toBe(0)
          yield* cache.keysFor(header)
          const answered = keysForNow(header, yield* nowMillis())
          expect(answered !== undefined && Either.isRight(answered) ? kidsOf(answered.right) : answered).toEqual([
            header.kid
          ])
          // A known kid with another algorithm is refused at once, as keysFor refuses it (no fetch).
          const wrongAlg = keysForNow({ alg: "ES384", kid: header.kid }, yield* nowMillis())
          expect(wrongAlg !== undefined && Either.isLeft(wrongAlg) ? wrongAlg.left.reason : wrongAlg).toBe(
            "unknown-key"
          )
          // An unknown kid may be a rotation: keysFor decides (it may refetch).
          expect(keysForNow({ alg: "ES256", kid: "rotated" }, yield* nowMillis())).toBeUndefined()
          // Three uses counted (keysFor once, keysForNow twice): the refresh is due after the cooldown, and
          // from then on only keysFor answers, which starts it.
          yield* TestClock.adjust("31 seconds")
          expect(keysForNow(header, yield* nowMillis())).toBeUndefined()
          yield* cache.keysFor(header)
          yield* eventually(() => fetched(lines) === 2, "the refresh")
          expect(keysForNow(header, yield* nowMillis())).toBeDefined()
          // Keys older than refreshInterval are due: keysFor again.
          yield* TestClock.adjust("21 minutes")
          expect(keysForNow(header, yield* nowMillis())).toBeUndefined()
        })
      ).pipe(Effect.provide(client))
    )

    it.scoped("refreshes after refreshAfterUses (default 1000) keysFor calls, at most once per cooldown", () =>
      capturingLogs((lines) =>
        Effect.gen(function* () {
          const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
          const cache = yield* cacheFor(issuer)
          const header = headerOf(issuer.currentKey)
          yield* cache.keysFor(header)
          yield* TestClock.adjust("30 seconds")
          yield* Effect.repeatN(cache.keysFor(header), 998)
          expect(issuer.requests.jwks).toBe(1)
          yield* cache.keysFor(header)
          yield* eventually(() => fetched(lines) === 2, "the refresh")
          expect(issuer.requests.jwks).toBe(2)

          // 1000 more uses right after that refresh: due by count, but not before the cooldown has passed.
          yield* Effect.repeatN(cache.keysFor(header), 1000)
          yield* TestClock.adjust("29 seconds")
          yield* cache.keysFor(header)
          expect(issuer.requests.jwks).toBe(2)
          yield* TestClock.adjust("1 second")
          yield* cache.keysFor(header)
          yield* eventually(() => fetched(lines) === 3, "the second refresh")
          expect(issuer.requests.jwks).toBe(3)
        })
      ).pipe(Effect.provide(client))
    )

    it.scoped("use-triggered refreshes are rate limited: 5000 keysFor calls at one instant, one extra fetch", () =>
      capturingLogs((lines) =>
        Effect.gen(function* () {
          const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
          const cache = yield* cacheFor(issuer)
          const header = headerOf(issuer.currentKey)
          yield* cache.keysFor(header)
          yield* TestClock.adjust("30 seconds")
          for (let burst = 0; burst < 5; burst++) {
            yield* Effect.all(
              Array.from({ length: 1000 }, () => cache.keysFor(header)),
              { concurrency: "unbounded", discard: true }
            )
            // Time for a refresh this burst started to finish, so the next burst could start another.
            yield* TestServices.provideLive(Effect.sleep("30 millis"))
          }
          yield* eventually(() => fetched(lines) >= 2, "the refresh")
          expect(issuer.requests.jwks).toBe(2)
        })
      ).pipe(Effect.provide(client))
    )

    it.scopedLive("a due refresh does not delay requests, however slow the provider", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        const cache = yield* cacheFor(issuer, { refreshInterval: "100 millis", refreshAfterUses: 2 })
        const header = headerOf(issuer.currentKey)
        yield* cache.keysFor(header)
        issuer.setFault({ _tag: "Slow", millis: 2_000 }, "jwks")
        yield* Effect.sleep("150 millis")
        for (let i = 0; i < 5; i++) {
          const started = Date.now()
          expect(kidsOf(yield* cache.keysFor(header))).toEqual([header.kid])
          expect(Date.now() - started).toBeLessThan(200)
        }
        // The refresh did start, once, and is still waiting for the provider.
        yield* eventually(() => issuer.requests.jwks === 2, "the refresh request")
        expect(issuer.requests.jwks).toBe(2)
      }).pipe(Effect.provide(client))
    )

    it.scoped("shares one fetch among 1000 concurrent first uses", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        const cache = yield* cacheFor(issuer)
        const results = yield* Effect.all(
          Array.from({ length: 1000 }, () => cache.keysFor(headerOf(issuer.currentKey))),
          { concurrency: "unbounded" }
        )
        expect(results).toHaveLength(1000)
        expect(issuer.requests.jwks).toBe(1)
      }).pipe(Effect.provide(client))
    )

    it.scoped("refresh fetches now and shares a fetch under way", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        const cache = yield* cacheFor(issuer)
        yield* cache.refresh
        expect(issuer.requests.jwks).toBe(1)
        yield* Effect.all([cache.refresh, cache.refresh, cache.keysFor(headerOf(issuer.currentKey))], {
          concurrency: "unbounded"
        })
        expect(issuer.requests.jwks).toBe(2)
      }).pipe(Effect.provide(client))
    )
  })

  describe("unknown kids", () => {
    it.scoped("1000 concurrent requests for a new kid make exactly one JWKS request, then all succeed", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        const cache = yield* cacheFor(issuer)
        yield* cache.keysFor(headerOf(issuer.currentKey))
        const rotated = yield* Effect.promise(() => issuer.rotate())
        issuer.resetCounts()
        const results = yield* Effect.all(
          Array.from({ length: 1000 }, () => cache.keysFor(headerOf(rotated))),
          { concurrency: "unbounded" }
        )
        expect(issuer.requests.jwks).toBe(1)
        expect(results.every((keys) => keys[0]?.kid === rotated.kid)).toBe(true)
      }).pipe(Effect.provide(client))
    )

    it.scoped("1000 concurrent requests for made-up kids make exactly one JWKS request and fail unknown-key", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        const cache = yield* cacheFor(issuer)
        yield* cache.keysFor(headerOf(issuer.currentKey))
        issuer.resetCounts()
        const errors = yield* Effect.all(
          Array.from({ length: 1000 }, (_, i) => Effect.flip(cache.keysFor({ alg: "ES256", kid: `made-up-${i}` }))),
          { concurrency: "unbounded" }
        )
        expect(issuer.requests.jwks).toBe(1)
        expect(new Set(errors.map((error) => `${error._tag}:${error.reason}`))).toEqual(
          new Set(["InvalidToken:unknown-key"])
        )
      }).pipe(Effect.provide(client))
    )

    it.scoped(
      "refetches once, then refuses unknown kids without fetching for the cooldown; known kids keep working",
      () =>
        Effect.gen(function* () {
          const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
          const cache = yield* cacheFor(issuer)
          const known = issuer.currentKey
          yield* cache.keysFor(headerOf(known))

          const first = yield* Effect.flip(cache.keysFor({ alg: "ES256", kid: "unknown-1" }))
          expect(first).toMatchObject({ _tag: "InvalidToken", reason: "unknown-key" })
          expect(issuer.requests.jwks).toBe(2)

          // Within the cooldown: a published key that is new to us is refused too, without a request.
          const rotated = yield* Effect.promise(() => issuer.rotate())
          yield* TestClock.adjust("29 seconds")
          const second = yield* Effect.flip(cache.keysFor(headerOf(rotated)))
          expect(second).toMatchObject({ _tag: "InvalidToken", reason: "unknown-key" })
          expect(kidsOf(yield* cache.keysFor(headerOf(known)))).toEqual([known.kid])
          expect(issuer.requests.jwks).toBe(2)

          yield* TestClock.adjust("1 second")
          expect(kidsOf(yield* cache.keysFor(headerOf(rotated)))).toEqual([rotated.kid])
          expect(issuer.requests.jwks).toBe(3)
        }).pipe(Effect.provide(client))
    )

    it.scoped("honours a custom unknownKidCooldown", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        const cache = yield* cacheFor(issuer, { unknownKidCooldown: "5 seconds" })
        yield* cache.keysFor(headerOf(issuer.currentKey))
        yield* Effect.flip(cache.keysFor({ alg: "ES256", kid: "unknown-1" }))
        yield* Effect.flip(cache.keysFor({ alg: "ES256", kid: "unknown-2" }))
        expect(issuer.requests.jwks).toBe(2)
        yield* TestClock.adjust("5 seconds")
        yield* Effect.flip(cache.keysFor({ alg: "ES256", kid: "unknown-3" }))
        expect(issuer.requests.jwks).toBe(3)
      }).pipe(Effect.provide(client))
    )

    it.scoped("does not refetch for a known kid asked with another algorithm", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        const cache = yield* cacheFor(issuer)
        yield* cache.keysFor(headerOf(issuer.currentKey))
        const error = yield* Effect.flip(cache.keysFor({ alg: "RS256", kid: issuer.currentKey.kid }))
        expect(error).toMatchObject({ _tag: "InvalidToken", reason: "unknown-key" })
        expect(issuer.requests.jwks).toBe(1)
      }).pipe(Effect.provide(client))
    )

    it.scopedLive("picks up a rotated key: a token signed with the new kid verifies after one refetch", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        const cache = yield* cacheFor(issuer)
        const verifier = yield* JwtVerifier.make({ algorithms: ["ES256"], issuer: issuer.issuer })
        const before = yield* verifier.verify(yield* Effect.promise(() => issuer.mint()), cache)
        expect(before.key.kid).toBe(issuer.currentKey.kid)

        const rotated = yield* Effect.promise(() => issuer.rotate({ keepOld: false }))
        const token = yield* Effect.promise(() => issuer.mint({ scope: "read" }))
        const after = yield* verifier.verify(token, cache)
        expect(after.key.kid).toBe(rotated.kid)
        expect(after.claims.scope).toBe("read")
        expect(issuer.requests.jwks).toBe(2)
      }).pipe(Effect.provide(client))
    )
  })

  describe("when the provider fails", () => {
    it.scoped(
      "serves the last good keys while refreshes fail, logs a warning, backs off, then fails after maxStale",
      () =>
        capturingLogs((lines) =>
          Effect.gen(function* () {
            const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
            const cache = yield* cacheFor(issuer, { maxStale: "1 hour" })
            const header = headerOf(issuer.currentKey)
            yield* cache.keysFor(header)

            issuer.setFault({ _tag: "Down" }, "jwks")
            yield* TestClock.adjust("20 minutes")
            expect(kidsOf(yield* cache.keysFor(header))).toEqual([header.kid])
            yield* eventually(() => warnings(lines).length === 1, "the failed refresh")
            expect(issuer.requests.jwks).toBe(2)
            expect(warnings(lines)[0]?.annotations).toMatchObject({
              provider: "test-idp",
              reason: "unreachable",
              url: issuer.jwksUrl
            })

            // Not on every request: the next try waits for the cooldown.
            yield* Effect.repeatN(cache.keysFor(header), 9)
            expect(issuer.requests.jwks).toBe(2)
            yield* TestClock.adjust("30 seconds")
            expect(kidsOf(yield* cache.keysFor(header))).toEqual([header.kid])
            yield* eventually(() => warnings(lines).length === 2, "the second failed refresh")
            expect(issuer.requests.jwks).toBe(3)

            // The keys are now an hour old: the request waits for the fetch, and fails with it.
            yield* TestClock.adjust("40 minutes")
            const error = yield* Effect.flip(cache.keysFor(header))
            expect(error).toMatchObject({ _tag: "ProviderUnavailable", reason: "unreachable", provider: "test-idp" })
            expect(issuer.requests.jwks).toBe(4)

            // The provider is back: the next try after the cooldown recovers.
            issuer.setFault({ _tag: "None" })
            yield* Effect.flip(cache.keysFor(header))
            expect(issuer.requests.jwks).toBe(4)
            yield* TestClock.adjust("30 seconds")
            expect(kidsOf(yield* cache.keysFor(header))).toEqual([header.kid])
            expect(issuer.requests.jwks).toBe(5)
          })
        ).pipe(Effect.provide(client))
    )

    it.scoped("does not remember a failed first fetch for long: after a short backoff it tries again", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        const cache = yield* cacheFor(issuer)
        const header = headerOf(issuer.currentKey)
        issuer.setFault({ _tag: "Down" }, "jwks")
        expect(yield* Effect.flip(cache.keysFor(header))).toMatchObject({ reason: "unreachable" })
        issuer.setFault({ _tag: "None" })
        expect(yield* Effect.flip(cache.keysFor(header))).toMatchObject({ reason: "unreachable" })
        expect(issuer.requests.jwks).toBe(1)
        yield* TestClock.adjust("1 second")
        expect(kidsOf(yield* cache.keysFor(header))).toEqual([header.kid])
        expect(issuer.requests.jwks).toBe(2)
      }).pipe(Effect.provide(client))
    )

    const faults: ReadonlyArray<readonly [Issuer.Fault, AuthError.ProviderUnavailable["reason"]]> = [
      [{ _tag: "Down" }, "unreachable"],
      [{ _tag: "Slow", millis: 5_000 }, "timeout"],
      [{ _tag: "Garbage" }, "bad-response"],
      [{ _tag: "Html" }, "bad-response"],
      [{ _tag: "Huge", bytes: 5 * 1024 * 1024 }, "bad-response"],
      [{ _tag: "Status", status: 500 }, "bad-response"],
      [{ _tag: "Redirect", location: "/.well-known/openid-configuration" }, "bad-response"]
    ]

    it.scopedLive("fails ProviderUnavailable, never hangs, when there never were keys", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        for (const [fault, reason] of faults) {
          issuer.setFault(fault, "jwks")
          const started = Date.now()
          const error = yield* Effect.scoped(
            Effect.flatMap(cacheFor(issuer, { timeout: "300 millis" }), (cache) =>
              Effect.flip(cache.keysFor(headerOf(issuer.currentKey)))
            )
          )
          const millis = Date.now() - started
          expect({ fault: fault._tag, error }).toMatchObject({
            fault: fault._tag,
            error: { _tag: "ProviderUnavailable", reason, provider: "test-idp" }
          })
          expect(millis).toBeLessThan(1_500)
        }
      }).pipe(Effect.provide(client))
    )

    it.scopedLive("a caller that gives up does not cancel the fetch others are waiting for", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        const cache = yield* cacheFor(issuer)
        issuer.setFault({ _tag: "Slow", millis: 200 }, "jwks")
        const waiting = yield* Effect.fork(cache.keysFor(headerOf(issuer.currentKey)))
        const impatient = yield* Effect.exit(Effect.timeout(cache.keysFor(headerOf(issuer.currentKey)), "20 millis"))
        expect(Exit.isFailure(impatient)).toBe(true)
        const keys = yield* Fiber.join(waiting)
        expect(kidsOf(keys)).toEqual([issuer.currentKey.kid])
        expect(issuer.requests.jwks).toBe(1)
      }).pipe(Effect.provide(client))
    )
  })

  describe("a published set is authoritative", () => {
    it.scoped("a set without a usable key replaces the keys: a removed key stops verifying, and it is logged", () =>
      capturingLogs((lines) =>
        Effect.gen(function* () {
          const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
          const cache = yield* cacheFor(issuer)
          const key = issuer.currentKey
          yield* cache.keysFor(headerOf(key))
          // What is left is a 1024-bit RSA key, which is never used.
          issuer.addKey(yield* Effect.promise(() => Keys.generate("RS256", { kid: "weak", modulusLength: 1024 })))
          issuer.removeKey(key.kid)
          yield* cache.refresh
          expect(errors(lines)).toHaveLength(1)
          expect(errors(lines)[0]?.annotations).toEqual({ provider: "test-idp", url: issuer.jwksUrl })
          expect(warnings(lines)).toHaveLength(0)
          expect(yield* failureOf(cache.keysFor(headerOf(key)))).toMatchObject({
            _tag: "InvalidToken",
            reason: "unknown-key"
          })
          expect(yield* failureOf(cache.keysFor({ alg: "RS256", kid: "weak" }))).toMatchObject({
            reason: "unknown-key"
          })
          // The unknown kid was refetched once (the same set, logged again), then refused without fetching.
          expect(issuer.requests.jwks).toBe(3)
          expect(errors(lines)).toHaveLength(2)

          // Published again, it verifies again (after the unknown-kid cooldown).
          issuer.addKey(key)
          yield* TestClock.adjust("30 seconds")
          expect(kidsOf(yield* cache.keysFor(headerOf(key)))).toEqual([key.kid])
        })
      ).pipe(Effect.provide(client))
    )

    it.scoped("the issuer removes every key: after the refresh, a token signed by the old key is refused", () =>
      capturingLogs((lines) =>
        Effect.gen(function* () {
          // The issuer stamps tokens with the real time.
          yield* TestClock.setTime(Date.now())
          const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
          const cache = yield* cacheFor(issuer)
          const verifier = yield* JwtVerifier.make({
            algorithms: ["ES256"],
            issuer: issuer.issuer,
            cache: { maxEntries: 10 }
          })
          const key = issuer.currentKey
          const token = yield* Effect.promise(() => issuer.mint())
          expect((yield* verifier.verify(token, cache)).key.kid).toBe(key.kid)

          issuer.removeKey(key.kid)
          yield* TestClock.adjust("20 minutes")
          // This request is answered with the keys it had while the refresh runs; the next ones are not.
          yield* verifier.verify(token, cache)
          yield* eventually(() => fetched(lines) === 2, "the refresh")
          expect(yield* Effect.flip(verifier.verify(token, cache))).toMatchObject({
            _tag: "InvalidToken",
            reason: "unknown-key"
          })
          // One refetch for the unknown kid, as for any rotation, then refused without fetching.
          expect(issuer.requests.jwks).toBe(3)
          expect(yield* Effect.flip(verifier.verify(token, cache))).toMatchObject({ reason: "unknown-key" })
          expect(issuer.requests.jwks).toBe(3)
          expect(errors(lines).length).toBeGreaterThanOrEqual(1)
          expect(warnings(lines)).toHaveLength(0)
        })
      ).pipe(Effect.provide(client))
    )
  })

  describe("url from discovery", () => {
    it.scoped("resolves the URL lazily, once, and retries discovery until it succeeds", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256", jwksPath: "/keys/v1" })
        const cache = yield* JwksCache.make({ url: Oidc.jwksUri(issuer.issuer), provider: "test-idp" })
        expect(issuer.requests).toEqual({ jwks: 0, discovery: 0 })

        issuer.setFault({ _tag: "Status", status: 503 }, "discovery")
        const error = yield* Effect.flip(cache.keysFor(headerOf(issuer.currentKey)))
        expect(error).toMatchObject({ _tag: "ProviderUnavailable", reason: "bad-response" })
        expect(issuer.requests).toEqual({ jwks: 0, discovery: 1 })

        issuer.setFault({ _tag: "None" })
        yield* TestClock.adjust("1 second")
        yield* cache.keysFor(headerOf(issuer.currentKey))
        expect(issuer.requests).toEqual({ jwks: 1, discovery: 2 })

        yield* cache.refresh
        expect(issuer.requests).toEqual({ jwks: 2, discovery: 2 })
      }).pipe(Effect.provide(client))
    )

    it.scopedLive("bounds a URL Effect that never completes by the timeout", () =>
      Effect.gen(function* () {
        const cache = yield* JwksCache.make({ url: Effect.never, provider: "test-idp", timeout: "200 millis" })
        const started = Date.now()
        const error = yield* Effect.flip(cache.keysFor({ alg: "ES256", kid: "a" }))
        expect(error).toMatchObject({ _tag: "ProviderUnavailable", reason: "timeout" })
        expect(Date.now() - started).toBeLessThan(1_000)
      }).pipe(Effect.provide(client))
    )
  })

  describe("configuration", () => {
    const withEnv = (env: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromJson(env))

    it.effect(
      "reads JWKS_CACHE_INTERVAL (minutes), JWKS_CACHE_USAGES and JWKS_UNKNOWN_KID_COOLDOWN (seconds), defaults 20, 1000, 30",
      () =>
        Effect.gen(function* () {
          const defaults = yield* withEnv({})(JwksCache.config)
          expect(Duration.toMillis(defaults.refreshInterval)).toBe(20 * 60_000)
          expect(defaults.refreshAfterUses).toBe(1000)
          expect(Duration.toMillis(defaults.unknownKidCooldown)).toBe(30_000)
          const set = yield* withEnv({
            JWKS_CACHE_INTERVAL: "0.5",
            JWKS_CACHE_USAGES: "7",
            JWKS_UNKNOWN_KID_COOLDOWN: "2.5"
          })(JwksCache.config)
          expect(Duration.toMillis(set.refreshInterval)).toBe(30_000)
          expect(set.refreshAfterUses).toBe(7)
          expect(Duration.toMillis(set.unknownKidCooldown)).toBe(2_500)
          // No cooldown at all is allowed: every unknown kid may refetch.
          const none = yield* withEnv({ JWKS_UNKNOWN_KID_COOLDOWN: "0" })(JwksCache.config)
          expect(Duration.toMillis(none.unknownKidCooldown)).toBe(0)
        })
    )

    it.effect("refuses bad intervals, usages and cooldowns: out of range, not numbers, not whole where counted", () =>
      Effect.gen(function* () {
        const invalid: ReadonlyArray<Record<string, string>> = [
          { JWKS_CACHE_INTERVAL: "0" },
          { JWKS_CACHE_INTERVAL: "-5" },
          { JWKS_CACHE_INTERVAL: "soon" },
          { JWKS_CACHE_INTERVAL: "Infinity" },
          { JWKS_CACHE_USAGES: "0" },
          { JWKS_CACHE_USAGES: "-1" },
          { JWKS_CACHE_USAGES: "1.5" },
          { JWKS_CACHE_USAGES: "many" },
          { JWKS_UNKNOWN_KID_COOLDOWN: "-1" },
          { JWKS_UNKNOWN_KID_COOLDOWN: "Infinity" },
          { JWKS_UNKNOWN_KID_COOLDOWN: "soon" }
        ]
        for (const env of invalid) {
          const error = yield* Effect.flip(withEnv(env)(JwksCache.config))
          expect(ConfigError.isConfigError(error), JSON.stringify(env)).toBe(true)
          expect(error._op, JSON.stringify(env)).toBe("InvalidData")
        }
      })
    )

    it.scoped("layerConfig builds a cache with the configured policy, or fails with a ConfigError", () =>
      Effect.gen(function* () {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
        const layer = JwksCache.layerConfig({ url: issuer.jwksUrl, provider: "test-idp" }).pipe(Layer.provide(client))

        const context = yield* Layer.build(layer).pipe(withEnv({ JWKS_CACHE_USAGES: "3" }))
        const cache = Context.get(context, JwksCache.JwksCache)
        const header = headerOf(issuer.currentKey)
        yield* Effect.repeatN(cache.keysFor(header), 3)
        expect(issuer.requests.jwks).toBe(1)
        yield* TestClock.adjust("30 seconds")
        yield* cache.keysFor(header)
        yield* eventually(() => issuer.requests.jwks === 2, "the refresh")

        const error = yield* Effect.flip(Layer.build(layer).pipe(withEnv({ JWKS_CACHE_INTERVAL: "0" })))
        expect(ConfigError.isConfigError(error)).toBe(true)
        expect(error._op).toBe("InvalidData")
      })
    )

    it.scoped("make dies on options out of range", () =>
      Effect.gen(function* () {
        for (const options of [
          { refreshAfterUses: 0 },
          { refreshAfterUses: 2.5 },
          { refreshInterval: "0 millis" },
          { timeout: "0 millis" },
          { maxResponseBytes: 0 }
        ] satisfies ReadonlyArray<Omit<JwksCache.Options, "url">>) {
          const exit = yield* Effect.exit(JwksCache.make({ url: "http://127.0.0.1:1/jwks", ...options }))
          expect(Exit.isFailure(exit) && exit.cause._tag === "Die", JSON.stringify(options)).toBe(true)
        }
      }).pipe(Effect.provide(client))
    )
  })
})
