/**
 * A tRPC server on a real socket, secured by a bearer provider that counts its calls: `alice` is in
 * group `admin`, `bob` in `staff`, `down` fails as an unreachable provider.
 */
import type { AuthProvider } from "@effect-auth/core"
import { AuthError, Authenticator, Guard, Identity, RateLimit } from "@effect-auth/core"
import { TrpcAuth, TrpcContext, TrpcError } from "@effect-auth/trpc"
import { initTRPC } from "@trpc/server"
import { createHTTPServer } from "@trpc/server/adapters/standalone"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import type { AddressInfo } from "node:net"

export const users: Record<string, ReadonlyArray<string>> = { alice: ["admin"], bob: ["staff"] }

export interface Counter {
  calls: number
}

export const countingProvider = (counter: Counter): AuthProvider.AuthProvider => ({
  name: "test",
  challenge: { scheme: "Bearer", realm: "api" },
  accepts: (credential) => credential._tag === "Bearer",
  authenticate: (credential) =>
    Effect.suspend((): Effect.Effect<Identity.Identity, AuthError.AuthenticationError> => {
      counter.calls++
      const token = credential._tag === "Bearer" ? Redacted.value(credential.token) : ""
      if (token === "down")
        return Effect.fail(new AuthError.ProviderUnavailable({ reason: "unreachable", provider: "test" }))
      const groups = users[token]
      return groups === undefined
        ? Effect.fail(new AuthError.InvalidCredentials({ reason: "rejected", scheme: "Bearer" }))
        : Effect.succeed(Identity.make({ id: token, kind: "user", provider: "test", grants: { groups } }))
    })
})

export type Services = RateLimit.RateLimit

const t = initTRPC.context<TrpcContext.Context<Services>>().create()
const protectedProcedure = TrpcAuth.protectedProcedure(t.procedure)

export interface Probes {
  /** Set when the long Effect of `slow` was interrupted. */
  interrupted: boolean
  started: boolean
  /** The errors tRPC reported to `onError`, as the server sees them. */
  errors: Array<unknown>
}

/** A failure whose message must stay on the server. */
export const leakyMessage = "GET http://10.0.0.7:8200/v1/secret/db failed"

export const makeRouter = (probes: Probes) =>
  t.router({
    health: t.procedure.query(() => "ok"),
    greeting: t.procedure.query(async ({ ctx }) => {
      const principal = await ctx.auth.optionalPrincipal()
      return principal === null ? "hello stranger" : `hello ${principal.id}`
    }),
    whoami: protectedProcedure.query(({ ctx }) => ctx.principal.id),
    admin: t.procedure.use(TrpcAuth.requireGroups(["admin"])).query(({ ctx }) => `admin ${ctx.principal.id}`),
    limited: protectedProcedure.query(({ ctx }) =>
      TrpcAuth.runEffect(
        ctx,
        Effect.gen(function* () {
          const rateLimit = yield* RateLimit.RateLimit
          const admin = yield* Guard.requireUser()
          yield* rateLimit.consume(admin.id)
          return admin.id
        })
      )
    ),
    slow: protectedProcedure.query(({ ctx }) =>
      TrpcAuth.runEffect(
        ctx,
        Effect.sync(() => {
          probes.started = true
        }).pipe(
          Effect.zipRight(Effect.never),
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              probes.interrupted = true
            })
          )
        )
      )
    ),
    leaky: protectedProcedure.query(({ ctx }) => TrpcAuth.runEffect(ctx, Effect.fail(new Error(leakyMessage)))),
    events: protectedProcedure.subscription(async function* ({ ctx }) {
      yield `event for ${ctx.principal.id}`
    })
  })

export type AppRouter = ReturnType<typeof makeRouter>

export interface Server {
  readonly url: string
  readonly counter: Counter
  readonly probes: Probes
  readonly runtime: TrpcContext.Runtime<Services>
  readonly close: () => Promise<void>
}

export const start = async (): Promise<Server> => {
  const counter: Counter = { calls: 0 }
  const probes: Probes = { interrupted: false, started: false, errors: [] }
  const runtime = ManagedRuntime.make(
    Layer.merge(
      Authenticator.layer([Effect.succeed(countingProvider(counter))]),
      RateLimit.layerMemory({ limit: 1, window: "1 minute" })
    )
  )
  const server = createHTTPServer({
    router: makeRouter(probes),
    createContext: TrpcContext.nodeHttp(runtime),
    responseMeta: TrpcError.responseMeta,
    onError: ({ error }) => {
      probes.errors.push(error)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    counter,
    probes,
    runtime,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await runtime.dispose()
    }
  }
}
