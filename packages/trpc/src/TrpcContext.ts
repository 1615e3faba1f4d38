/**
 * `createContext` for tRPC's node-http (standalone, Express, Next.js, WebSocket) and fetch adapters. The
 * context holds `auth`, which authenticates the request on first use only and remembers the answer, so
 * public procedures cost nothing and a batch authenticates once. Building the context never throws: a
 * `createContext` that throws fails every call of a batch, public ones too.
 *
 * A WebSocket connection builds its context once, so there a failure is not remembered (the next call
 * tries again), and a principal whose token has expired (`exp` claim) is authenticated again on the next
 * call: long-lived connections are re-checked per call after expiry.
 *
 * @since 0.1.0
 */
import type { Principal } from "@effect-auth/core"
import { AuthError, Authenticator, Credential } from "@effect-auth/core"
import { NodeHttpAuth } from "@effect-auth/http"
import type { TRPCRequestInfo } from "@trpc/server/http"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import type * as Http from "node:http"
import * as TrpcError from "./TrpcError.js"

/**
 * The app's one `ManagedRuntime`: it provides the `Authenticator`, plus `R` for the Effect code
 * procedures run. Build it once, at start-up, never per request.
 *
 * @since 0.1.0
 */
export type Runtime<R = never> = ManagedRuntime.ManagedRuntime<Authenticator.Authenticator | R, unknown>

/**
 * The request's authentication, resolved on first use.
 *
 * @since 0.1.0
 */
export interface RequestAuth<R = never> {
  readonly runtime: Runtime<R>
  /** Aborts when the client goes away; interrupts authentication and `TrpcAuth.runEffect`. */
  readonly signal: AbortSignal | undefined
  /**
   * The caller, authenticated once per request (on a WebSocket: again after a failure or once the token
   * has expired); rejects with the mapped `TRPCError` (401, 429, 503, …).
   */
  readonly principal: () => Promise<Principal.Principal>
  /** The caller, or `null` when the request presented no credential at all; rejects like `principal`. */
  readonly optionalPrincipal: () => Promise<Principal.Principal | null>
}

/**
 * What `createContext` returns: give it to `initTRPC.context<TrpcContext.Context<R>>()`.
 *
 * @since 0.1.0
 */
export interface Context<R = never> {
  readonly auth: RequestAuth<R>
}

/**
 * The context after `TrpcAuth.protectedProcedure` or a `TrpcAuth.require…` middleware: the principal is
 * known.
 *
 * @since 0.1.0
 */
export interface Authenticated<R = never> extends Context<R> {
  readonly principal: Principal.Principal
}

/**
 * The headers to authenticate: the request's, plus the `connectionParams` a WebSocket or SSE
 * (`httpSubscriptionLink`) client sends, since those cannot set headers. Names are lower-cased and a
 * credential sent both ways becomes two values, which the parser refuses (`multiple-headers`) rather
 * than choosing one.
 *
 * @since 0.1.0
 */
export const credentialHeaders = (
  headers: Credential.Headers,
  connectionParams: Readonly<Record<string, string | undefined>> | null | undefined
): Credential.Headers => {
  if (connectionParams === null || connectionParams === undefined) return headers
  const merged: Record<string, ReadonlyArray<string>> = {}
  const add = (name: string, value: string | ReadonlyArray<string> | undefined) => {
    if (value === undefined) return
    const key = name.toLowerCase()
    merged[key] = [...(merged[key] ?? []), ...(typeof value === "string" ? [value] : value)]
  }
  for (const [name, value] of Object.entries(headers)) add(name, value)
  for (const [name, value] of Object.entries(connectionParams)) if (typeof value === "string") add(name, value)
  return merged
}

const authenticate = (headers: Credential.Headers) =>
  Effect.flatMap(Authenticator.Authenticator, (authenticator) =>
    Effect.mapError(
      // The authenticator's own `authenticate`, so its credential settings (API key header, size limit)
      // hold here as in every other adapter.
      authenticator.authenticate(headers),
      // Mapped here, where the challenges are known, so the 401 says what to send.
      (error) => TrpcError.fromFailure(error, { challenges: authenticator.challenges })
    )
  )

const run = async <R>(
  runtime: Runtime<R>,
  headers: () => Credential.Headers,
  signal: AbortSignal | undefined
): Promise<Principal.Principal> => {
  // The refusal as a value: a fiber that ends in failure is logged by the runtime (debug) on every refusal.
  const exit = await runtime.runPromiseExit(
    Effect.either(Effect.suspend(() => authenticate(headers()))),
    signal === undefined ? undefined : { signal }
  )
  if (Exit.isSuccess(exit)) {
    if (Either.isRight(exit.value)) return exit.value.right
    throw exit.value.left
  }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    if (failure.value instanceof TrpcError.AuthTRPCError) throw failure.value
    // The runtime's layer failed to build: the authenticator is unavailable, so nobody gets in.
    throw TrpcError.fromFailure(
      new AuthError.ProviderUnavailable({ reason: "misconfigured", provider: "authenticator" })
    )
  }
  throw TrpcError.fromFailure("internal")
}

/**
 * What `createContext` is told about the request; `TRPCRequestInfo` fits.
 *
 * @since 0.1.0
 */
export type Info = Pick<TRPCRequestInfo, "connectionParams" | "signal"> &
  Partial<Pick<TRPCRequestInfo, "type" | "calls">>

/**
 * Whether the context is a WebSocket connection's: tRPC builds it once, with no calls yet.
 */
const isConnection = (info: Info | undefined): boolean => info?.calls !== undefined && info.calls.length === 0

/**
 * The `connectionParams` to read: only those of a WebSocket connection or an SSE subscription, the
 * clients that cannot send headers. tRPC parses a `?connectionParams=` query on every HTTP request, and a
 * token in a URL ends up in access logs, so plain queries and mutations ignore it.
 */
const connectionParamsOf = (info: Info | undefined) =>
  info !== undefined && (info.type === "subscription" || isConnection(info)) ? info.connectionParams : null

/** When the principal's token expires (its `exp` claim, in seconds), in milliseconds. */
const expiresAt = (principal: Principal.Principal): number | undefined => {
  const exp = principal.claims["exp"]
  return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined
}

/**
 * A context for any adapter, from a way to read the request's headers (called on first use). Pass tRPC's
 * `info` whole: its `type` and `calls` tell a subscription or WebSocket connection, whose
 * `connectionParams` are read, from a query or mutation, whose are not.
 *
 * @since 0.1.0
 */
export const make = <R>(
  runtime: Runtime<R>,
  request: {
    readonly headers: () => Credential.Headers
    readonly info?: Info | undefined
  }
): Context<R> => {
  const signal = request.info?.signal
  const connection = isConnection(request.info)
  let principal: Promise<Principal.Principal> | undefined
  let expiry: number | undefined
  const resolve = () => {
    // An expired token is checked again: on a WebSocket the context outlives it.
    if (expiry !== undefined && Date.now() >= expiry) principal = undefined
    if (principal === undefined) {
      expiry = undefined
      // Remembered: a batch or a procedure calling twice authenticates once.
      const attempt = run(
        runtime,
        () => credentialHeaders(request.headers(), connectionParamsOf(request.info)),
        signal
      ).then((resolved) => {
        expiry = expiresAt(resolved)
        return resolved
      })
      principal = attempt
      // A connection's failure is not remembered: it would refuse every later call on the socket.
      if (connection) {
        attempt.catch(() => {
          if (principal === attempt) principal = undefined
        })
      }
    }
    return principal
  }
  return {
    auth: {
      runtime,
      signal,
      principal: resolve,
      optionalPrincipal: () =>
        resolve().catch((error: unknown) => {
          if (error instanceof TrpcError.AuthTRPCError && error.authTag === "MissingCredentials") return null
          throw error
        })
    }
  }
}

/**
 * `createContext` for the node-http based adapters (`createHTTPServer`, Express, Next.js pages, the
 * WebSocket adapter, whose `connectionParams` are read too).
 *
 * @example
 * ```ts
 * import { initTRPC } from "@trpc/server"
 * import { createHTTPServer } from "@trpc/server/adapters/standalone"
 * import { TrpcContext, TrpcError } from "@effect-auth/trpc"
 *
 * declare const runtime: TrpcContext.Runtime
 * const t = initTRPC.context<TrpcContext.Context>().create()
 * const router = t.router({})
 * createHTTPServer({
 *   router,
 *   createContext: TrpcContext.nodeHttp(runtime),
 *   responseMeta: TrpcError.responseMeta
 * }).listen(3000)
 * ```
 *
 * @since 0.1.0
 */
export const nodeHttp =
  <R>(runtime: Runtime<R>) =>
  (opts: { readonly req: Http.IncomingMessage; readonly info?: TRPCRequestInfo | undefined }): Context<R> =>
    make(runtime, { headers: () => NodeHttpAuth.headersOf(opts.req), info: opts.info })

/**
 * `createContext` for `fetchRequestHandler` (Deno, Bun, edge runtimes, Next.js route handlers).
 *
 * @example
 * ```ts
 * import { fetchRequestHandler } from "@trpc/server/adapters/fetch"
 * import type { AnyTRPCRouter } from "@trpc/server"
 * import { TrpcContext, TrpcError } from "@effect-auth/trpc"
 *
 * declare const runtime: TrpcContext.Runtime
 * declare const router: AnyTRPCRouter
 * const handle = (req: Request) =>
 *   fetchRequestHandler({
 *     endpoint: "/trpc",
 *     req,
 *     router,
 *     createContext: TrpcContext.fetch(runtime),
 *     responseMeta: TrpcError.responseMeta
 *   })
 * ```
 *
 * @since 0.1.0
 */
export const fetch =
  <R>(runtime: Runtime<R>) =>
  (opts: { readonly req: Request; readonly info?: TRPCRequestInfo | undefined }): Context<R> =>
    make(runtime, { headers: () => Credential.headersFromWeb(opts.req.headers), info: opts.info })
