import { AuthError } from "@effect-auth/core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** How long a store query may take before the request gets a 503. */
export const defaultQueryTimeout: Duration.DurationInput = "2 seconds"

const unreachable = (cause: unknown) =>
  new AuthError.ProviderUnavailable({ reason: "unreachable", provider: "sql", cause })

/**
 * Bounds a store query in time and turns every way it can fail (a driver error, a lost connection, the
 * timeout) into `ProviderUnavailable`: a database that cannot answer defers the request (503), never
 * refuses or accepts it. The driver's error stays as the cause for logs; it never names a password.
 */
export const guarded =
  (timeout: Duration.DurationInput = defaultQueryTimeout) =>
  <A, E, R>(query: Effect.Effect<A, E, R>): Effect.Effect<A, AuthError.ProviderUnavailable, R> =>
    // Disconnected, so a timed-out query answers at once: the driver's cancellation of a stalled query
    // (pg waits for a new connection to send it) finishes in the background instead of delaying the 503.
    // A connection that never answers is destroyed by SqlDatabase's socket timeout, which frees its slot.
    Effect.disconnect(query).pipe(
      Effect.catchAll((error) => Effect.fail(unreachable(error))),
      Effect.catchAllDefect((defect) => Effect.fail(unreachable(defect))),
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new AuthError.ProviderUnavailable({ reason: "timeout", provider: "sql" })
      })
    )
