/**
 * A provider's published keys (JWKS), fetched on first use and kept fresh: refreshed in the background after
 * an interval or a number of uses, refetched once when a token names a key it does not know (then not again
 * for a cooldown), one fetch at a time however many requests wait for it, and the last good keys served for
 * a while when the provider cannot be reached.
 *
 * @since 0.1.0
 */
import { AuthError } from "@effect-auth/core"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { fetchJson } from "./internal/fetchJson.js"
import * as KeySet from "./KeySet.js"

/**
 * Where the keys come from and the refresh policy.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * Where the JWKS is published. An Effect when the URL comes from discovery (`Oidc.jwksUri(issuer)`): it
   * runs on the first fetch, not when the cache is made, and is retried on later fetches until it succeeds;
   * its answer is then kept.
   */
  readonly url: string | Effect.Effect<string, AuthError.ProviderUnavailable, HttpClient.HttpClient>
  /** Name used in `ProviderUnavailable` and in logs (default `"jwt"`). */
  readonly provider?: string | undefined
  /** Refetch when the keys are this old (default 20 minutes, `JWKS_CACHE_INTERVAL`). */
  readonly refreshInterval?: Duration.DurationInput | undefined
  /**
   * Refetch after the keys served this many `keysFor` calls (default 1000, `JWKS_CACHE_USAGES`), but not
   * before they are `unknownKidCooldown` old: every call counts, forged tokens included, so the floor keeps
   * a flood of tokens from turning into a flood of fetches.
   */
  readonly refreshAfterUses?: number | undefined
  /**
   * After a token with an unknown `kid` caused a refetch, further unknown `kid`s are refused
   * (`unknown-key`) without fetching for this long (default 30 seconds, `JWKS_UNKNOWN_KID_COOLDOWN`). Also
   * how long a failed refresh waits before the next try while the last good keys are served, and the least
   * time between refreshes triggered by `refreshAfterUses`.
   *
   * Anyone can spend the refetch with a made-up `kid`, so a key first used within the window is refused
   * until it ends (an issuer that publishes keys before signing with them, as the large ones do, is seen by
   * the regular refresh instead). Refusing is deliberate: answering 503 instead would let anyone turn
   * made-up `kid`s into 5xx answers, which load balancers read as an unhealthy instance. A shorter
   * cooldown shortens that window for at most one fetch per cooldown under attack.
   */
  readonly unknownKidCooldown?: Duration.DurationInput | undefined
  /** How long the last good keys keep serving while refreshes fail (default 24 hours). */
  readonly maxStale?: Duration.DurationInput | undefined
  /** Bound on each fetch, discovery included (default 5 seconds). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Largest JWKS accepted (default 1 MiB). */
  readonly maxResponseBytes?: number | undefined
}

/**
 * A key source backed by a provider's JWKS endpoint.
 *
 * @since 0.1.0
 */
export interface JwksCache extends KeySet.KeySource {
  /** Fetches the JWKS now (joining a fetch already under way); fails when that fetch fails. */
  readonly refresh: Effect.Effect<void, AuthError.ProviderUnavailable>
}

/**
 * The cache as a service.
 *
 * @since 0.1.0
 */
export const JwksCache: Context.Tag<JwksCache, JwksCache> = Context.GenericTag<JwksCache>("@effect-auth/jwt/JwksCache")

/**
 * The defaults of `Options`.
 *
 * @since 0.1.0
 */
export const defaults = {
  provider: "jwt",
  refreshInterval: Duration.minutes(20),
  refreshAfterUses: 1000,
  unknownKidCooldown: Duration.seconds(30),
  maxStale: Duration.hours(24),
  timeout: Duration.seconds(5),
  maxResponseBytes: 1024 * 1024
} as const

// With no keys to fall back on, a failed fetch is answered again (without fetching) for this long, so a
// provider that is down is not hit by every request, yet recovers within a second of coming back.
const noKeysBackoff = Duration.seconds(1)

interface Snapshot {
  readonly keySet: KeySet.KeySet
  /** Clock time (ms) when the fetch that produced it completed. */
  readonly fetchedAt: number
}

/**
 * Makes a cache. Nothing is fetched until the first `keysFor` (or `refresh`); a fetch under way when the
 * scope closes is interrupted.
 *
 * A refresh that falls due (by `refreshInterval`, or by `refreshAfterUses` at most once per
 * `unknownKidCooldown`) runs in the background: requests keep being answered with the current keys
 * meanwhile. A request waits for a fetch only when there are no keys yet, or when the keys are due and older
 * than `maxStale`.
 *
 * A JWKS answered with `200` and the right shape is authoritative: the keys it holds replace the previous
 * ones, even when none of them is usable (every token is then refused `unknown-key`, and the set is logged
 * as an error), so a key the provider stops publishing stops verifying at the next refresh. Only a fetch
 * that fails (transport, status, content type, size, JSON or shape) keeps the last good keys.
 *
 * `keysFor` fails `ProviderUnavailable` when there are no keys (the first fetch failed; for one second after
 * that the same failure is answered without fetching), when a refresh failed and the last good keys are
 * older than `maxStale`, or when the refetch for an unknown `kid` failed. Failed fetches are logged as
 * warnings (provider, reason, the URL without its query).
 *
 * Dies (a defect, not a typed error) on options that are out of range: a positive `refreshInterval`,
 * `timeout`, integer `refreshAfterUses` and `maxResponseBytes`, and a non-negative `unknownKidCooldown` and
 * `maxStale` are required.
 *
 * @example
 * import { JwksCache, Oidc } from "@effect-auth/jwt"
 *
 * const cache = JwksCache.make({ url: Oidc.jwksUri("https://login.example.com"), provider: "example" })
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<JwksCache, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const settings = yield* resolveOptions(options)
    const { provider } = settings
    const client = yield* HttpClient.HttpClient
    const scope = yield* Effect.scope

    // All state lives here and is read and written only in synchronous sections, so a check and the
    // update that follows it cannot interleave with another fiber.
    let current: Snapshot | undefined
    let uses = 0
    let inflight: Deferred.Deferred<Snapshot, AuthError.ProviderUnavailable> | undefined
    let lastFailure: { readonly error: AuthError.ProviderUnavailable; readonly at: number } | undefined
    let lastUnknownKidFetch: number | undefined
    let resolvedUrl: string | undefined

    const timedOut = () =>
      new AuthError.ProviderUnavailable({
        reason: "timeout",
        provider,
        cause: new Cause.TimeoutException("The JWKS URL was not resolved in time")
      })

    const source = options.url
    const url: Effect.Effect<string, AuthError.ProviderUnavailable> =
      typeof source === "string"
        ? Effect.succeed(source)
        : Effect.suspend(() =>
            resolvedUrl !== undefined
              ? Effect.succeed(resolvedUrl)
              : source.pipe(
                  Effect.provideService(HttpClient.HttpClient, client),
                  // Discovery bounds itself; any other Effect is bounded here, so no request can hang.
                  Effect.timeoutFail({ duration: settings.timeout, onTimeout: timedOut }),
                  Effect.tap((resolved) =>
                    Effect.sync(() => {
                      resolvedUrl = resolved
                    })
                  )
                )
          )

    const fetchOnce: Effect.Effect<Snapshot, AuthError.ProviderUnavailable> = Effect.gen(function* () {
      const target = yield* url
      const document = yield* fetchJson(target, KeySet.JwksDocument, {
        provider,
        timeout: settings.timeout,
        maxResponseBytes: settings.maxResponseBytes
      }).pipe(Effect.provideService(HttpClient.HttpClient, client))
      const keySet = yield* KeySet.fromJwks(document)
      if (keySet.size === 0) {
        // The provider answered, so this is what it publishes now: an emptied set may be the revocation of
        // a compromised key, and keeping the old keys would let them verify for up to maxStale. Refusing
        // every token is the safe reading; the error log says why.
        yield* Effect.logError("The JWKS has no usable signing key; every token is refused until it has one").pipe(
          Effect.annotateLogs({ provider, url: describeUrl(target) })
        )
      }
      return { keySet, fetchedAt: yield* Clock.currentTimeMillis }
    })

    const record = (exit: Exit.Exit<Snapshot, AuthError.ProviderUnavailable>): Effect.Effect<void> =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        inflight = undefined
        if (Exit.isSuccess(exit)) {
          current = exit.value
          uses = 0
          lastFailure = undefined
          return yield* Effect.logDebug("JWKS fetched").pipe(
            Effect.annotateLogs({ provider, keys: exit.value.keySet.size })
          )
        }
        const error = Cause.failureOption(exit.cause)
        if (error._tag === "None") return
        lastFailure = { error: error.value, at: now }
        const stale = current !== undefined && now - current.fetchedAt < settings.maxStaleMillis
        yield* Effect.logWarning(
          stale ? "JWKS fetch failed; serving the last good keys" : "JWKS fetch failed; no usable keys"
        ).pipe(
          Effect.annotateLogs({
            provider,
            reason: error.value.reason,
            url: describeUrl(resolvedUrl ?? (typeof source === "string" ? source : undefined)),
            detail: describeCause(error.value.cause)
          })
        )
      })

    // Single flight: the first caller starts the fetch in a fiber of the cache's scope; everyone else (and
    // the first caller too) awaits its Deferred. A caller that is interrupted (its request timed out) stops
    // waiting without cancelling the fetch the others share.
    const startFetch: Effect.Effect<Deferred.Deferred<Snapshot, AuthError.ProviderUnavailable>> =
      Effect.uninterruptible(
        Effect.suspend(() => {
          if (inflight !== undefined) return Effect.succeed(inflight)
          const deferred = Deferred.unsafeMake<Snapshot, AuthError.ProviderUnavailable>(FiberId.none)
          inflight = deferred
          return fetchOnce.pipe(
            Effect.interruptible,
            Effect.onExit((exit) => Effect.zipRight(record(exit), Deferred.done(deferred, exit))),
            Effect.forkIn(scope),
            Effect.as(deferred)
          )
        })
      )

    const fetchShared: Effect.Effect<Snapshot, AuthError.ProviderUnavailable> = Effect.flatMap(
      startFetch,
      Deferred.await
    )

    /** Whether the keys should be refetched: by age, or by uses but not more often than the cooldown. */
    const isDue = (snapshot: Snapshot, now: number): boolean => {
      const age = now - snapshot.fetchedAt
      return (
        age >= settings.refreshIntervalMillis ||
        // Every keysFor counts, forged tokens included: without the floor, traffic alone could make us
        // fetch as often as it likes.
        (uses >= settings.refreshAfterUses && age >= settings.cooldownMillis)
      )
    }

    /** A refresh failed recently and none is under way: the next try waits for the cooldown. */
    const coolingDown = (now: number): AuthError.ProviderUnavailable | undefined =>
      lastFailure !== undefined && inflight === undefined && now - lastFailure.at < settings.cooldownMillis
        ? lastFailure.error
        : undefined

    /**
     * The keys to answer with. A due refresh runs in the background while the current keys answer (stale
     * while revalidate), so no request waits for the provider, however slow, and forged tokens cannot make
     * legitimate ones wait either. A request waits only when there is nothing it may answer with: no keys
     * yet, or keys due for a refresh and older than `maxStale`.
     */
    const keySetForUse: Effect.Effect<KeySet.KeySet, AuthError.ProviderUnavailable> = Effect.clockWith((clock) => {
      const now = clock.unsafeCurrentTimeMillis()
      const snapshot = current
      if (snapshot === undefined) {
        if (lastFailure !== undefined && now - lastFailure.at < settings.noKeysBackoffMillis) {
          return Effect.fail(lastFailure.error)
        }
        return Effect.map(fetchShared, (fetched) => countUse(fetched.keySet))
      }
      if (!isDue(snapshot, now)) return Effect.succeed(countUse(snapshot.keySet))
      const recentFailure = coolingDown(now)
      if (now - snapshot.fetchedAt < settings.maxStaleMillis) {
        // A failure is recorded and logged by the fetch itself; the keys keep serving until maxStale.
        const keySet = countUse(snapshot.keySet)
        return recentFailure === undefined ? Effect.as(startFetch, keySet) : Effect.succeed(keySet)
      }
      if (recentFailure !== undefined) return Effect.fail(recentFailure)
      return Effect.map(fetchShared, (fetched) => countUse(fetched.keySet))
    })

    const countUse = (keySet: KeySet.KeySet): KeySet.KeySet => {
      uses++
      return keySet
    }

    // Only a kid missing from the set (or no kid at all) can be a rotation; a known kid with the wrong
    // algorithm is refused without fetching.
    const mayBeRotation = (keySet: KeySet.KeySet, header: Header, error: AuthError.InvalidToken): boolean =>
      error.reason === "unknown-key" && (header.kid === undefined || !keySet.kids.has(header.kid))
    const lookup = (keySet: KeySet.KeySet, header: Header) =>
      Effect.catchTag(keySet.keysFor(header), "InvalidToken", (error) =>
        mayBeRotation(keySet, header, error) ? onUnknownKid(keySet, header, error) : Effect.fail(error)
      )

    // The token names a key we do not have: the provider may have rotated. Join a fetch under way, use keys
    // that arrived since, or refetch once; then refuse unknown kids without fetching for the cooldown, so
    // tokens with made-up kids cannot make us hammer the provider.
    const onUnknownKid = (
      tried: KeySet.KeySet,
      header: Header,
      error: AuthError.InvalidToken
    ): Effect.Effect<ReadonlyArray<KeySet.VerificationKey>, AuthError.InvalidToken | AuthError.ProviderUnavailable> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (inflight === undefined) {
          if (current !== undefined && current.keySet !== tried) return current.keySet.keysFor(header)
          if (lastUnknownKidFetch !== undefined && now - lastUnknownKidFetch < settings.cooldownMillis) {
            return Effect.fail(error)
          }
          lastUnknownKidFetch = now
        }
        return Effect.flatMap(fetchShared, (snapshot) => snapshot.keySet.keysFor(header))
      })

    /**
     * `keysFor` without a fiber for the common case: keys present and either not due for a refresh or with
     * the refresh already under way (or cooling down) and the keys not past maxStale, and an answer that
     * does not call for a refetch. Anything else (`undefined`) takes `keysFor`, which decides the same way,
     * starts what has to start and does the waiting; a use is counted only when this lane answers.
     */
    const keysForNow = (header: Header, now: number) => {
      const snapshot = current
      if (snapshot === undefined) return undefined
      // Due keys still answer while a refresh is under way or cooling down after a failure, as keysFor does,
      // unless they are past maxStale; a refresh that has yet to start is keysFor's to start.
      if (
        isDue(snapshot, now) &&
        (now - snapshot.fetchedAt >= settings.maxStaleMillis ||
          (inflight === undefined && coolingDown(now) === undefined))
      ) {
        return undefined
      }
      const found = snapshot.keySet.keysForNow(header)
      if (Either.isLeft(found) && mayBeRotation(snapshot.keySet, header, found.left)) return undefined
      countUse(snapshot.keySet)
      return found
    }

    return JwksCache.of({
      keysForNow,
      keysFor: (header) => Effect.flatMap(keySetForUse, (keySet) => lookup(keySet, header)),
      refresh: Effect.asVoid(fetchShared)
    })
  })

type Header = Parameters<KeySet.KeySource["keysFor"]>[0]

/**
 * A cache as a layer.
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<JwksCache, never, HttpClient.HttpClient> =>
  Layer.scoped(JwksCache, make(options))

/**
 * `JWKS_CACHE_INTERVAL`: minutes between refreshes (default 20, a positive number); `JWKS_CACHE_USAGES`:
 * `keysFor` calls between refreshes (default 1000, a positive integer); `JWKS_UNKNOWN_KID_COOLDOWN`:
 * seconds of `unknownKidCooldown` (default 30, a non-negative number).
 *
 * @since 0.1.0
 */
export const config: Config.Config<{
  readonly refreshInterval: Duration.Duration
  readonly refreshAfterUses: number
  readonly unknownKidCooldown: Duration.Duration
}> = Config.all({
  refreshInterval: Config.number("JWKS_CACHE_INTERVAL").pipe(
    Config.validate({
      message: "Expected a positive number of minutes",
      validation: (minutes) => Number.isFinite(minutes) && minutes > 0
    }),
    Config.withDefault(20),
    Config.map(Duration.minutes)
  ),
  refreshAfterUses: Config.integer("JWKS_CACHE_USAGES").pipe(
    Config.validate({
      message: "Expected a positive integer",
      validation: (count) => Number.isSafeInteger(count) && count > 0
    }),
    Config.withDefault(1000)
  ),
  unknownKidCooldown: Config.number("JWKS_UNKNOWN_KID_COOLDOWN").pipe(
    Config.validate({
      message: "Expected a non-negative number of seconds",
      validation: (seconds) => Number.isFinite(seconds) && seconds >= 0
    }),
    Config.withDefault(30),
    Config.map(Duration.seconds)
  )
})

/**
 * A cache as a layer, with the refresh policy read from `config`.
 *
 * @since 0.1.0
 */
export const layerConfig = (
  options: Omit<Options, "refreshInterval" | "refreshAfterUses" | "unknownKidCooldown">
): Layer.Layer<JwksCache, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.scoped(
    JwksCache,
    Effect.flatMap(config, (policy) => make({ ...options, ...policy }))
  )

const resolveOptions = (options: Options) =>
  Effect.suspend(() => {
    const millis = (input: Duration.DurationInput | undefined, fallback: Duration.Duration) =>
      Duration.toMillis(Duration.decode(input ?? fallback))
    const settings = {
      provider: options.provider ?? defaults.provider,
      refreshIntervalMillis: millis(options.refreshInterval, defaults.refreshInterval),
      refreshAfterUses: options.refreshAfterUses ?? defaults.refreshAfterUses,
      cooldownMillis: millis(options.unknownKidCooldown, defaults.unknownKidCooldown),
      maxStaleMillis: millis(options.maxStale, defaults.maxStale),
      timeout: Duration.decode(options.timeout ?? defaults.timeout),
      maxResponseBytes: options.maxResponseBytes ?? defaults.maxResponseBytes
    }
    const problems = [
      settings.refreshIntervalMillis > 0 ? undefined : "refreshInterval must be positive",
      Number.isSafeInteger(settings.refreshAfterUses) && settings.refreshAfterUses > 0
        ? undefined
        : "refreshAfterUses must be a positive integer",
      settings.cooldownMillis >= 0 ? undefined : "unknownKidCooldown must not be negative",
      settings.maxStaleMillis >= 0 ? undefined : "maxStale must not be negative",
      Duration.toMillis(settings.timeout) > 0 ? undefined : "timeout must be positive",
      Number.isSafeInteger(settings.maxResponseBytes) && settings.maxResponseBytes > 0
        ? undefined
        : "maxResponseBytes must be a positive integer"
    ].filter((problem) => problem !== undefined)
    return problems.length === 0
      ? Effect.succeed({
          ...settings,
          noKeysBackoffMillis: Math.min(Duration.toMillis(noKeysBackoff), settings.cooldownMillis)
        })
      : Effect.die(new Cause.IllegalArgumentException(`JwksCache: ${problems.join("; ")}`))
  })

// For logs: the URL without query or fragment (they may carry a key).
const describeUrl = (url: string | undefined): string => {
  if (url === undefined) return "<not resolved yet>"
  try {
    const parsed = new URL(url)
    return `${parsed.origin}${parsed.pathname}`
  } catch {
    return "<invalid URL>"
  }
}

const describeCause = (cause: unknown): string | undefined => {
  if (!(cause instanceof Error)) return undefined
  return cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message
}
