/**
 * The GraphQL Yoga plugin: authenticates each request once (in `onContextBuilding`, so graphql-ws and SSE
 * subscriptions are covered), puts the principal in the context, and before an operation runs checks every
 * field it selects against the field's marks (directives or `auth` extensions). A refused operation does
 * not run: its answer is the `UNAUTHENTICATED` / `FORBIDDEN` / `TOO_MANY_REQUESTS` / `SERVICE_UNAVAILABLE`
 * errors, with the matching HTTP status.
 *
 * @since 0.1.0
 */
import type { Credential, Principal } from "@effect-auth/core"
import { AuthError, Authenticated, Authenticator, Policy, RateLimit } from "@effect-auth/core"
import type { FetchAuth } from "@effect-auth/http"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import type { DocumentNode, ExecutionResult, GraphQLError, GraphQLSchema } from "graphql"
import type { Plugin } from "graphql-yoga"
import * as AuthDirectives from "./AuthDirectives.js"
import * as AuthGraphQLError from "./AuthGraphQLError.js"
import * as Selection from "./internal/selection.js"

/**
 * - `protect-all`: every field needs an authenticated caller unless it (or its own type) is marked public;
 *   a public field opens only itself, not the fields of the type it returns. Introspection too, unless
 *   `allowIntrospection`.
 * - `protect-granular`: only marked fields need a caller.
 * - `resolve-only`: the principal is resolved and put in the context; nothing is refused.
 *
 * @since 0.1.0
 */
export type Mode = "protect-all" | "protect-granular" | "resolve-only"

/**
 * What the plugin adds to the GraphQL context.
 *
 * @since 0.1.0
 */
export interface AuthContext {
  /** The authenticated caller, or `null`. */
  readonly principal: Principal.Principal | null
  /**
   * Why there is no principal (no credentials, a bad token, a spent rate limit, an issuer down); `null` with
   * a principal, or when authentication ended in a defect.
   */
  readonly authError: AuthError.AuthError | null
}

interface CommonOptions {
  readonly mode: Mode
  /** Lets `__schema` and `__type` through in `protect-all` (default `false`). */
  readonly allowIntrospection?: boolean | undefined
  /**
   * The credential headers of a request. Default: the fetch request's headers, plus the `connectionParams`
   * of a graphql-ws connection (an `Authorization` sent both ways is refused as ambiguous).
   */
  readonly headers?: ((context: Record<string, unknown>) => Credential.Headers) | undefined
}

/**
 * The runtime holds the `Authenticator` (one `ManagedRuntime` per app). With `rateLimit: true` it must
 * hold a `RateLimit` too, and each authenticated request is counted against its principal's budget.
 *
 * @since 0.1.0
 */
export type Options = CommonOptions &
  (
    | { readonly runtime: FetchAuth.AuthRuntime; readonly rateLimit?: false | undefined }
    | {
        readonly runtime: ManagedRuntime.ManagedRuntime<Authenticator.Authenticator | RateLimit.RateLimit, unknown>
        readonly rateLimit: true
      }
  )

// Bounds the answer: a document selecting thousands of refused fields gets this many errors.
const maxErrors = 20

// Yoga's request is a fetch `Request`, but not always the global class (on node it is a ponyfill's).
interface RequestLike {
  readonly headers: { readonly forEach: (callback: (value: string, name: string) => void) => void }
  readonly signal?: AbortSignal | undefined
}

const requestOf = (context: object): RequestLike | undefined => {
  const request = (context as { readonly request?: unknown }).request
  return typeof request === "object" &&
    request !== null &&
    "headers" in request &&
    typeof request.headers === "object" &&
    request.headers !== null &&
    "forEach" in request.headers &&
    typeof request.headers.forEach === "function"
    ? (request as RequestLike)
    : undefined
}

const headersFrom = (context: Record<string, unknown>): Credential.Headers => {
  const request = requestOf(context)
  const headers: Record<string, Array<string>> = {}
  const add = (name: string, value: unknown) => {
    if (typeof value !== "string") return
    const key = name.toLowerCase()
    ;(headers[key] ??= []).push(value)
  }
  request?.headers.forEach((value, name) => add(name, value))
  const params = context["connectionParams"]
  if (typeof params === "object" && params !== null) {
    for (const [name, value] of Object.entries(params)) add(name, value)
  }
  return headers
}

const signalOf = (context: object): AbortSignal | undefined => {
  const signal = requestOf(context)?.signal
  return signal instanceof AbortSignal ? signal : undefined
}

// Where the plugin keeps what it found, out of reach of a context built elsewhere: a `principal` in a
// context the plugin did not build is never trusted.
const authState = Symbol("@effect-auth/yoga/AuthState")

interface AuthState {
  readonly principal: Principal.Principal | null
  readonly authError: AuthError.AuthError | null
}

const stateOf = (context: object): AuthState | undefined => {
  const state = (context as { readonly [authState]?: unknown })[authState]
  return typeof state === "object" && state !== null ? (state as AuthState) : undefined
}

const withState = (state: AuthState): AuthContext => {
  const extension: AuthContext & { readonly [authState]: AuthState } = { ...state, [authState]: state }
  return extension
}

interface Authentication {
  readonly principal: Principal.Principal
  /** The rate limit's numbers, with `rateLimit: true`. */
  readonly decision: RateLimit.Decision | undefined
}

const authenticate = (options: Options, headers: Credential.Headers) =>
  Effect.flatMap(
    Authenticator.Authenticator,
    (authenticator): Effect.Effect<Authentication, AuthError.AuthError, RateLimit.RateLimit> => {
      const authenticated = authenticator.authenticate(headers)
      if (options.rateLimit !== true)
        return Effect.map(authenticated, (principal) => ({ principal, decision: undefined }))
      return Effect.flatMap(authenticated, (principal) =>
        Effect.flatMap(RateLimit.RateLimit, (limit) =>
          Effect.map(limit.consume(principal.id), (decision) => ({ principal, decision }))
        )
      )
      // `Options` only allows `rateLimit: true` with a runtime that provides `RateLimit`.
    }
  ) as Effect.Effect<Authentication, AuthError.AuthError, Authenticator.Authenticator>

/**
 * The error of a failed run: an auth error as it is; any other failure means the runtime's layer could not
 * be built, so the authenticator is unavailable (503, never a success); a defect or an interruption is
 * `"internal"` (500).
 */
const failureOf = <A>(exit: Exit.Exit<A, unknown>): AuthError.AuthError | "internal" => {
  if (Exit.isSuccess(exit)) return "internal"
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return "internal"
  return AuthError.isAuthError(failure.value)
    ? failure.value
    : new AuthError.ProviderUnavailable({ reason: "misconfigured", provider: "authenticator" })
}

/**
 * Runs a decision with its refusal as a value, then gives it back as the exit's failure: a fiber that ends in
 * failure is logged by the runtime (debug) as an unhandled error, on every refused request.
 */
const runDecision = <A, E, R>(
  runtime: ManagedRuntime.ManagedRuntime<R, unknown>,
  effect: Effect.Effect<A, E, R>,
  signal: AbortSignal | undefined
): Promise<Exit.Exit<A, unknown>> =>
  runtime
    .runPromiseExit(Effect.either(effect), signal === undefined ? undefined : { signal })
    .then((exit) =>
      Exit.flatMap(exit, (value): Exit.Exit<A, unknown> =>
        Either.isRight(value) ? Exit.succeed(value.right) : Exit.fail(value.left)
      )
    )

/**
 * The plugin.
 *
 * @example
 * ```ts
 * import { Authenticator } from "@effect-auth/core"
 * import { authDirectivesTypeDefs, useEffectAuth } from "@effect-auth/yoga"
 * import { ManagedRuntime } from "effect"
 * import { createSchema, createYoga } from "graphql-yoga"
 *
 * declare const AuthLive: import("effect").Layer.Layer<Authenticator.Authenticator>
 * const runtime = ManagedRuntime.make(AuthLive)
 * const yoga = createYoga({
 *   schema: createSchema({
 *     typeDefs: [
 *       authDirectivesTypeDefs,
 *       `type Query { hello: String @public, admins: [String] @hasGroup(groups: ["admin"]) }`
 *     ],
 *     resolvers: { Query: { hello: () => "hi", admins: () => [] } }
 *   }),
 *   plugins: [useEffectAuth({ runtime, mode: "protect-all" })]
 * })
 * ```
 *
 * @since 0.1.0
 */
export const useEffectAuth = (options: Options): Plugin<AuthContext> => {
  const runtime: FetchAuth.AuthRuntime = options.runtime
  const readHeaders = options.headers ?? headersFrom
  const walk: Selection.Walk = {
    rootDefault:
      options.mode === "protect-all" ? AuthDirectives.authenticatedRequirement : AuthDirectives.publicRequirement,
    allowIntrospection: options.allowIntrospection === true
  }
  // Read once: the 401's WWW-Authenticate says what to send. A runtime that cannot be built has none (yet).
  let challenges: Promise<Authenticator.Authenticator["challenges"]> | undefined
  const challengesOf = () =>
    (challenges ??= runtime
      .runPromise(Effect.map(Authenticator.Authenticator, (authenticator) => authenticator.challenges))
      .catch(() => {
        challenges = undefined
        return []
      }))

  const check = async (
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
    context: AuthContext
  ): Promise<ExecutionResult | undefined> => {
    if (options.mode === "resolve-only") return undefined
    // Not built by the plugin (an `execute` with a context of the app's own): the setup is wrong, nothing runs.
    const state = stateOf(context)
    if (state === undefined) return { errors: [AuthGraphQLError.fromFailure("internal")] }
    const demands = Selection.demands(schema, document, operationName, walk)
    if (demands === undefined) return { errors: [AuthGraphQLError.fromFailure("internal")] }
    if (demands.length === 0) return undefined
    const principal = state.principal
    if (principal === null) {
      const failure = state.authError ?? "internal"
      const known = await challengesOf()
      return {
        errors: demands
          .slice(0, maxErrors)
          .map((demand) => AuthGraphQLError.fromFailure(failure, { challenges: known, nodes: [demand.node] }))
      }
    }
    // Each distinct requirement is decided once; grants load once per request (the principal remembers them).
    const decided = new Map<AuthDirectives.Requirement, Promise<AuthError.AuthError | "internal" | undefined>>()
    const decide = (requirement: Selection.Demand["requirement"]) => {
      let decision = decided.get(requirement)
      if (decision === undefined) {
        const signal = signalOf(context)
        decision = runDecision(
          runtime,
          Effect.forEach(requirement.policies, (policy) => Policy.enforce(policy, principal), { discard: true }),
          signal
        ).then((exit) => (Exit.isSuccess(exit) ? undefined : failureOf(exit)))
        decided.set(requirement, decision)
      }
      return decision
    }
    const errors: Array<GraphQLError> = []
    for (const demand of demands) {
      const failure = await decide(demand.requirement)
      if (failure !== undefined && errors.length < maxErrors) {
        // The challenges let a 403 say `Bearer error="insufficient_scope"`.
        errors.push(AuthGraphQLError.fromFailure(failure, { challenges: await challengesOf(), nodes: [demand.node] }))
      }
    }
    return errors.length === 0 ? undefined : { errors }
  }

  // The X-RateLimit-* numbers of each counted request, for its response.
  const decisions = new WeakMap<object, RateLimit.Decision>()

  return {
    onResponse: ({ request, response }) => {
      const decision = decisions.get(request)
      if (decision === undefined) return
      for (const [name, value] of Object.entries(RateLimit.headers(decision))) response.headers.set(name, value)
    },
    onContextBuilding: async ({ context, extendContext }) => {
      const raw = context as unknown as Record<string, unknown>
      const signal = signalOf(raw)
      const exit = await runDecision(runtime, authenticate(options, readHeaders(raw)), signal)
      if (Exit.isSuccess(exit)) {
        const request = requestOf(raw)
        if (exit.value.decision !== undefined && request !== undefined) decisions.set(request, exit.value.decision)
        extendContext(withState({ principal: exit.value.principal, authError: null }))
        return
      }
      const failure = failureOf(exit)
      // A defect leaves no error to show: fields that need a caller are then answered 500.
      extendContext(withState({ principal: null, authError: failure === "internal" ? null : failure }))
    },
    onExecute: async ({ args, setResultAndStopExecution }) => {
      const refused = await check(args.schema, args.document, args.operationName, args.contextValue)
      if (refused !== undefined) setResultAndStopExecution(refused)
    },
    onSubscribe: async ({ args, setResultAndStopExecution }) => {
      const refused = await check(args.schema, args.document, args.operationName, args.contextValue)
      if (refused !== undefined) setResultAndStopExecution(refused)
    }
  }
}

/**
 * Runs Effect code in a resolver with `Authenticated` provided, on the app's runtime. Without a principal
 * it throws the request's auth error; auth errors the effect fails with (a guard's `Forbidden`) are thrown
 * as their `GraphQLError`s. The app's own errors and defects are rethrown as they are: keep Yoga's error
 * masking on (its default) so their messages never reach the client. The request's abort signal interrupts
 * the effect. A context the plugin did not build throws an internal error (500).
 *
 * @example
 * ```ts
 * import { Guard } from "@effect-auth/core"
 * import { YogaAuth } from "@effect-auth/yoga"
 * import { Effect } from "effect"
 *
 * declare const runtime: YogaAuth.Options["runtime"]
 * const resolvers = {
 *   Query: {
 *     adminName: (_: unknown, __: unknown, context: YogaAuth.AuthContext) =>
 *       YogaAuth.run(runtime, context, Effect.map(Guard.requireGroups(["admin"]), (admin) => admin.name ?? admin.id))
 *   }
 * }
 * ```
 *
 * @since 0.1.0
 */
export const run = async <A, E, R>(
  runtime: ManagedRuntime.ManagedRuntime<R, unknown>,
  context: AuthContext,
  effect: Effect.Effect<A, E, R | Authenticated.Authenticated>
): Promise<A> => {
  const state = stateOf(context)
  // A context the plugin did not build: the setup is wrong (500), and its `principal` is not trusted.
  if (state === undefined) throw AuthGraphQLError.fromFailure("internal")
  const principal = state.principal
  if (principal === null) throw AuthGraphQLError.fromFailure(state.authError ?? "internal")
  const signal = signalOf(context)
  const exit = await runtime.runPromiseExit(
    Effect.provideService(effect, Authenticated.Authenticated, principal),
    signal === undefined ? undefined : { signal }
  )
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && AuthError.isAuthError(failure.value)) {
    throw AuthGraphQLError.fromFailure(failure.value)
  }
  // The app's own errors and defects go to Yoga as they are: it masks them unless they are GraphQLErrors.
  throw Cause.squash(exit.cause)
}
