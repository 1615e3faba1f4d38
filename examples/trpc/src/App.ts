/**
 * The example's tRPC app: a router with a public, an authenticated (and rate-limited) and an admin-only
 * procedure, served by tRPC's standalone node server, on one `ManagedRuntime` holding the authenticator
 * (JWTs from one OIDC issuer) and a memory rate limit.
 */
import { Authenticator, Guard, RateLimit } from "@effect-auth/core"
import { JwtProvider } from "@effect-auth/jwt"
import { TrpcAuth, TrpcContext, TrpcError } from "@effect-auth/trpc"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { initTRPC } from "@trpc/server"
import { createHTTPServer } from "@trpc/server/adapters/standalone"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import type * as Http from "node:http"

/** What procedures' Effect code may use besides `Authenticated`. */
export type Services = RateLimit.RateLimit

const t = initTRPC.context<TrpcContext.Context<Services>>().create()
const protectedProcedure = TrpcAuth.protectedProcedure(t.procedure)
const adminProcedure = t.procedure.use(TrpcAuth.requireGroups(["admin"]))

export const router = t.router({
  health: t.procedure.query(() => ({ status: "ok" })),
  whoami: protectedProcedure.query(({ ctx }) =>
    TrpcAuth.runEffect(
      ctx,
      Effect.gen(function* () {
        const caller = yield* Guard.requireUser()
        // Counted per caller: over the limit is a 429 with Retry-After.
        const rateLimit = yield* RateLimit.RateLimit
        const budget = yield* rateLimit.consume(caller.id)
        return { id: caller.id, groups: yield* caller.groups, remaining: budget.remaining }
      })
    )
  ),
  admin: t.router({
    stats: adminProcedure.query(({ ctx }) => ({ requestedBy: ctx.principal.id, users: 2 }))
  })
})

export type AppRouter = typeof router

export interface Options {
  /** The OIDC issuer whose tokens are accepted. */
  readonly issuer: string
  readonly audience: string
  /** Requests per caller per minute (default 60). */
  readonly rateLimit?: number | undefined
}

/** The app's one runtime: built once, shared by every request. */
export const runtime = (options: Options): TrpcContext.Runtime<Services> =>
  ManagedRuntime.make(
    Layer.merge(
      Authenticator.layer([
        JwtProvider.provider([JwtProvider.issuer({ issuer: options.issuer, audience: options.audience })])
      ]).pipe(Layer.provide(NodeHttpClient.layerUndici)),
      RateLimit.layerMemory({ limit: options.rateLimit ?? 60, window: "1 minute" })
    )
  )

/** The HTTP server (not listening yet). */
export const server = (appRuntime: TrpcContext.Runtime<Services>): Http.Server =>
  createHTTPServer({
    router,
    createContext: TrpcContext.nodeHttp(appRuntime),
    responseMeta: TrpcError.responseMeta
  })
