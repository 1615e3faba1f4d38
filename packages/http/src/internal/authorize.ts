import type { AuthProvider, Principal, Credential } from "@effect-auth/core"
import { AuthError, Authenticator, Policy } from "@effect-auth/core"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as ErrorResponse from "../ErrorResponse.js"

/** What node:http and fetch adapters run per request: a shared runtime holding the `Authenticator`. */
export type AuthRuntime = ManagedRuntime.ManagedRuntime<Authenticator.Authenticator, unknown>

export type Outcome =
  | { readonly _tag: "Allowed"; readonly principal: Principal.Principal }
  | {
      readonly _tag: "Refused"
      readonly response: ErrorResponse.ErrorResponse
      /** Who was refused, when authentication succeeded and the policy said no (for audit and accounting). */
      readonly principal?: Principal.Principal | undefined
    }

class Refusal {
  constructor(
    readonly error: AuthError.AuthError,
    readonly challenges: ReadonlyArray<AuthProvider.Challenge>,
    readonly principal?: Principal.Principal | undefined
  ) {}
}

/** The options every adapter takes. */
export interface Options {
  /** A policy every request must satisfy (default: any authenticated caller). */
  readonly policy?: Policy.Policy | undefined
  readonly errorStyle?: ErrorResponse.ErrorStyle | undefined
}

export interface AuthorizeOptions extends Options {
  readonly signal?: AbortSignal | undefined
}

/** Authenticates the headers, then checks the policy when there is one. */
export const authenticateAndCheck = (
  authenticator: Authenticator.Authenticator,
  headers: Credential.Headers,
  policy: Policy.Policy | undefined
): Effect.Effect<Principal.Principal, AuthError.AuthError> => {
  const authenticated = authenticator.authenticate(headers)
  return policy === undefined
    ? authenticated
    : Effect.flatMap(authenticated, (principal) => Effect.as(Policy.enforce(policy, principal), principal))
}

/**
 * The Effect path's decision. A refusal is a value (`Left`), not a failure of the fiber: a refused request is
 * an answer, and the runtime would otherwise log every one as an unhandled error (with the principal).
 */
const authorizeEffect = (headers: Credential.Headers, policy: Policy.Policy | undefined) =>
  Effect.either(decideEffect(headers, policy))

const decideEffect = (headers: Credential.Headers, policy: Policy.Policy | undefined) =>
  Effect.flatMap(Authenticator.Authenticator, (authenticator) =>
    // Errors keep the challenges with them so the 401 can say what to send, and a policy refusal keeps
    // the principal it refused.
    Effect.flatMap(
      Effect.mapError(authenticator.authenticate(headers), (error) => new Refusal(error, authenticator.challenges)),
      (principal) =>
        policy === undefined
          ? Effect.succeed(principal)
          : Effect.mapBoth(Policy.enforce(policy, principal), {
              onFailure: (error) => new Refusal(error, authenticator.challenges, principal),
              onSuccess: () => principal
            })
    )
  )

/** Where an authentication that could not finish synchronously gets its interruption from. */
export type Interrupter = (interrupt: () => void) => () => void

/**
 * Runs the authentication synchronously when it can finish so (a verified JWT with its keys cached, an API
 * key from memory: no promise, no abort wiring, one fiber); otherwise the same fiber goes on in the
 * background and the answer comes as a promise, interrupted when `onAbort` fires. Never rejects.
 */
export const authorizeNow = (
  runtime: AuthRuntime,
  headers: Credential.Headers,
  options: Options & { readonly onAbort?: Interrupter | undefined }
): Outcome | Promise<Outcome> => {
  const lane = options.policy === undefined ? laneOf(runtime) : undefined
  if (lane !== undefined) {
    const decided = decideNow(lane, headers)
    if (decided !== undefined) {
      return Either.isRight(decided)
        ? { _tag: "Allowed", principal: decided.right }
        : refused(new Refusal(decided.left, lane.authenticator.challenges), options)
    }
  }
  const exit = runtime.runSyncExit(authorizeEffect(headers, options.policy))
  const pending = asyncFiber(exit)
  if (pending === undefined) return outcomeOf(exit, options)
  return new Promise<Outcome>((resolve) => {
    const stop = options.onAbort?.(() => pending.unsafeInterruptAsFork(FiberId.none))
    pending.addObserver((done) => {
      stop?.()
      resolve(outcomeOf(done, options))
    })
  })
}

interface Lane {
  readonly authenticator: Authenticator.Authenticator
  readonly clock: Clock.Clock
}

/** Each runtime's authenticator and clock, read once it is built: the fiber-less lane needs both. */
const lanes = new WeakMap<AuthRuntime, Lane>()

const laneOf = (runtime: AuthRuntime): Lane | undefined => {
  const known = lanes.get(runtime)
  if (known !== undefined) return known
  const exit = runtime.runSyncExit(
    Effect.all({ authenticator: Authenticator.Authenticator, clock: Effect.clock }, { concurrency: 1 })
  )
  // Not built yet (or failing to build): the Effect path builds it and answers for now.
  if (Exit.isFailure(exit)) return undefined
  lanes.set(runtime, exit.value)
  return exit.value
}

/**
 * The lane's decision, or `undefined`. A lane that throws (a bug, or input that defeats a parser) is not an
 * answer: the Effect path decides instead, where a defect becomes a 500, never an accepted request.
 */
const decideNow = (
  lane: Lane,
  headers: Credential.Headers
): Either.Either<Principal.Principal, AuthError.AuthenticationError> | undefined => {
  try {
    return lane.authenticator.authenticateNow?.(headers, lane.clock.unsafeCurrentTimeMillis())
  } catch {
    return undefined
  }
}

/** The fiber still running when a synchronous run had to stop at an asynchronous step. */
const asyncFiber = <A, E>(exit: Exit.Exit<A, E>): Fiber.RuntimeFiber<A, E> | undefined => {
  if (Exit.isSuccess(exit) || exit.cause._tag !== "Die") return undefined
  const defect = exit.cause.defect
  return Runtime.isAsyncFiberException(defect) ? (defect.fiber as Fiber.RuntimeFiber<A, E>) : undefined
}

/**
 * Authenticates headers (and checks a policy) on the runtime; never rejects. A failure to build the
 * runtime (bad configuration, unreachable store) is answered 503, a defect 500: never a success.
 */
export const authorize = (
  runtime: AuthRuntime,
  headers: Credential.Headers,
  options: AuthorizeOptions
): Promise<Outcome> => {
  const signal = options.signal
  return Promise.resolve(
    authorizeNow(runtime, headers, {
      ...options,
      onAbort:
        signal === undefined
          ? undefined
          : (interrupt) => {
              if (signal.aborted) {
                interrupt()
                return () => {}
              }
              signal.addEventListener("abort", interrupt, { once: true })
              return () => signal.removeEventListener("abort", interrupt)
            }
    })
  )
}

const refused = (refusal: Refusal, options: Options): Outcome => ({
  _tag: "Refused",
  response: ErrorResponse.fromFailure(refusal.error, { style: options.errorStyle, challenges: refusal.challenges }),
  principal: refusal.principal
})

const outcomeOf = (
  exit: Exit.Exit<Either.Either<Principal.Principal, Refusal>, unknown>,
  options: Options
): Outcome => {
  if (Exit.isSuccess(exit)) {
    const decided = exit.value
    return Either.isRight(decided) ? { _tag: "Allowed", principal: decided.right } : refused(decided.left, options)
  }
  const style = { style: options.errorStyle }
  if (Option.isSome(Cause.failureOption(exit.cause))) {
    // The runtime's layer failed to build: the authenticator is unavailable, so nobody gets in.
    const unavailable = new AuthError.ProviderUnavailable({ reason: "misconfigured", provider: "authenticator" })
    return { _tag: "Refused", response: ErrorResponse.fromFailure(unavailable, style) }
  }
  return { _tag: "Refused", response: ErrorResponse.fromFailure("internal", style) }
}
