/**
 * Protected procedures for tRPC: middlewares that authenticate the caller (once per request), check a
 * policy, and narrow `ctx.principal` to a `Principal`; and `runEffect`, which runs Effect code with
 * `Authenticated` provided on the app's runtime, interrupted when the client goes away.
 *
 * @since 0.1.0
 */
import type { Principal } from "@effect-auth/core"
import { AuthError, Authenticated, Policy } from "@effect-auth/core"
import { experimental_standaloneMiddleware, TRPCError } from "@trpc/server"
import type { TRPCProcedureBuilder } from "@trpc/server"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as TrpcContext from "./TrpcContext.js"
import * as TrpcError from "./TrpcError.js"

/** Marks the procedure's own failures, to tell them from a runtime whose layer failed to build. */
class ProcedureFailure {
  constructor(readonly error: unknown) {}
}

const internal = (cause: unknown) =>
  new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "The request could not be processed", cause })

/**
 * Runs an Effect on the context's runtime with `Authenticated` provided. The request's abort signal (or
 * `options.signal`, such as a procedure's own `signal`) interrupts it. It only ever throws a `TRPCError`:
 * auth errors become the mapped error (401, 403, 429, 503); a `TRPCError` failure is thrown as is; any
 * other failure or defect is `INTERNAL_SERVER_ERROR` with a fixed message, the error kept as its `cause`
 * for `onError` (tRPC never sends a cause to the client), so a message naming a URL or host stays on the
 * server; a runtime whose layer failed to build is `SERVICE_UNAVAILABLE`; an interruption is
 * `CLIENT_CLOSED_REQUEST`. To send a client a message of your own, fail with a `TRPCError`.
 *
 * @example
 * ```ts
 * import { initTRPC } from "@trpc/server"
 * import { Guard } from "@effect-auth/core"
 * import { TrpcAuth, TrpcContext } from "@effect-auth/trpc"
 * import { Effect } from "effect"
 *
 * const t = initTRPC.context<TrpcContext.Context>().create()
 * const deleteUser = TrpcAuth.protectedProcedure(t.procedure).mutation(({ ctx }) =>
 *   TrpcAuth.runEffect(
 *     ctx,
 *     Effect.map(Guard.requireGroups(["admin"]), (admin) => `deleted by ${admin.id}`)
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 */
export const runEffect = async <A, E, R>(
  ctx: TrpcContext.Authenticated<R>,
  effect: Effect.Effect<A, E, R | Authenticated.Authenticated>,
  options?: { readonly signal?: AbortSignal | undefined }
): Promise<A> => {
  const signal = options?.signal ?? ctx.auth.signal
  const exit = await ctx.auth.runtime.runPromiseExit(
    Effect.mapError(
      Effect.provideService(effect, Authenticated.Authenticated, ctx.principal),
      (error) => new ProcedureFailure(error)
    ),
    signal === undefined ? undefined : { signal }
  )
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    if (!(failure.value instanceof ProcedureFailure)) {
      // The runtime's layer failed to build: the services are unavailable.
      throw TrpcError.fromFailure(
        new AuthError.ProviderUnavailable({ reason: "misconfigured", provider: "authenticator" })
      )
    }
    const error = failure.value.error
    if (AuthError.isAuthError(error)) throw TrpcError.fromFailure(error)
    if (error instanceof TRPCError) throw error
    throw internal(error)
  }
  if (Cause.isInterruptedOnly(exit.cause)) {
    throw new TRPCError({ code: "CLIENT_CLOSED_REQUEST", message: "The request was cancelled" })
  }
  throw internal(Cause.squash(exit.cause))
}

const checked = <E, R>(
  ctx: TrpcContext.Context<R>,
  principal: Principal.Principal,
  policy: Policy.Policy<E, R>,
  signal: AbortSignal | undefined
) => runEffect({ ...ctx, principal }, Policy.enforce(policy, principal), { signal: signal ?? ctx.auth.signal })

const middleware = <E, R>(policy: Policy.Policy<E, R> | undefined) =>
  experimental_standaloneMiddleware<{ ctx: TrpcContext.Context<R> }>().create(async ({ ctx, next, signal }) => {
    const principal = await ctx.auth.principal()
    if (policy !== undefined) await checked(ctx, principal, policy, signal)
    return next({ ctx: { principal } })
  })

/**
 * A middleware that lets only authenticated callers through and sets `ctx.principal`. Procedures
 * without it never authenticate.
 *
 * @since 0.1.0
 */
export const authenticated = middleware<never, never>(undefined)

/**
 * A middleware for callers the policy allows (authenticating them first); sets `ctx.principal`.
 *
 * @since 0.1.0
 */
export const requirePolicy = <E, R>(policy: Policy.Policy<E, R>) => middleware(policy)

/**
 * Membership of at least one of the groups (all of them with `{ all: true }`); sets `ctx.principal`.
 *
 * @example
 * ```ts
 * import { initTRPC } from "@trpc/server"
 * import { TrpcAuth, TrpcContext } from "@effect-auth/trpc"
 *
 * const t = initTRPC.context<TrpcContext.Context>().create()
 * const adminProcedure = t.procedure.use(TrpcAuth.requireGroups(["admin"]))
 * ```
 *
 * @since 0.1.0
 */
export const requireGroups = (groups: ReadonlyArray<string>, options?: Policy.MatchOptions) =>
  middleware<AuthError.AuthorizationError, never>(Policy.groups(groups, options))

/**
 * At least one of the roles (all of them with `{ all: true }`); sets `ctx.principal`.
 *
 * @since 0.1.0
 */
export const requireRoles = (roles: ReadonlyArray<string>, options?: Policy.MatchOptions) =>
  middleware<AuthError.AuthorizationError, never>(Policy.roles(roles, options))

/**
 * At least one of the permissions (all with `{ all: true }`), wildcards and denies as in `Permission`;
 * sets `ctx.principal`.
 *
 * @since 0.1.0
 */
export const requirePermissions = (permissions: ReadonlyArray<string>, options?: Policy.MatchOptions) =>
  middleware<AuthError.AuthorizationError, never>(Policy.permissions(permissions, options))

/**
 * A procedure builder for authenticated callers: `procedure.use(TrpcAuth.authenticated)`, with
 * `ctx.principal` typed as a `Principal`.
 *
 * @example
 * ```ts
 * import { initTRPC } from "@trpc/server"
 * import { TrpcAuth, TrpcContext } from "@effect-auth/trpc"
 *
 * const t = initTRPC.context<TrpcContext.Context>().create()
 * export const protectedProcedure = TrpcAuth.protectedProcedure(t.procedure)
 * export const router = t.router({ whoami: protectedProcedure.query(({ ctx }) => ctx.principal.id) })
 * ```
 *
 * @since 0.1.0
 */
export const protectedProcedure = <
  TContext extends TrpcContext.Context<never>,
  TMeta,
  TContextOverrides,
  TInputIn,
  TInputOut,
  TOutputIn,
  TOutputOut,
  TCaller extends boolean,
  TErrorShape
>(
  procedure: TRPCProcedureBuilder<
    TContext,
    TMeta,
    TContextOverrides,
    TInputIn,
    TInputOut,
    TOutputIn,
    TOutputOut,
    TCaller,
    TErrorShape
  >
): TRPCProcedureBuilder<
  TContext,
  TMeta,
  Omit<TContextOverrides, "principal"> & { readonly principal: Principal.Principal },
  TInputIn,
  TInputOut,
  TOutputIn,
  TOutputOut,
  TCaller,
  TErrorShape
> =>
  // tRPC's middleware types cannot be checked against a builder whose context is still generic; a
  // concrete `t.procedure.use(TrpcAuth.authenticated)` is checked, and the type tests pin this one.
  procedure.use(authenticated as never) as never
