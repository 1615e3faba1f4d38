import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"

/**
 * Runs `load` once, on first use, in its own fiber, and answers its result (success or failure) to every
 * reader. The check and the fork are one uninterruptible step, so concurrent first readers cannot start
 * two loads; a reader that is interrupted (a timeout, a failed sibling) stops waiting without cancelling
 * the load others wait for, and an interruption is never remembered as the answer. Loads bound their own
 * time (every outbound call has a timeout), so a detached one always ends. Nothing runs or is allocated
 * beyond a closure until the first read.
 */
export const shared = <A, E>(load: Effect.Effect<A, E>): Effect.Effect<A, E> => {
  let result: Deferred.Deferred<A, E> | undefined
  return Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      if (result !== undefined) return restore(Deferred.await(result))
      const deferred = Deferred.unsafeMake<A, E>(FiberId.none)
      result = deferred
      return Effect.zipRight(
        Effect.forkDaemon(Effect.intoDeferred(Effect.interruptible(load), deferred)),
        restore(Deferred.await(deferred))
      )
    })
  )
}
