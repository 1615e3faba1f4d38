// Case 7: tRPC's standalone node:http adapter with @effect-auth/trpc, one protected query (`GET /me`), on the
// same authenticator as case 4 (uncached). `BENCH_AUTH=off` serves the same query without authentication:
// the framework's own cost, for reference.
import { Authenticator } from "@effect-auth/core"
import { JwtProvider } from "@effect-auth/jwt"
import { TrpcAuth, TrpcContext, TrpcError } from "@effect-auth/trpc"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { initTRPC } from "@trpc/server"
import { createHTTPServer } from "@trpc/server/adapters/standalone"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { listen, settings } from "./common.mjs"

const { audience, issuer, jwksUrl } = settings()
const auth = process.env.BENCH_AUTH !== "off"

const runtime = ManagedRuntime.make(
  Authenticator.layer([
    JwtProvider.provider([JwtProvider.issuer({ issuer, jwksUrl, audience, algorithms: ["RS256"] })])
  ]).pipe(Layer.provide(NodeHttpClient.layerUndici))
)

const t = initTRPC.context().create()
const router = t.router({
  me: auth
    ? TrpcAuth.protectedProcedure(t.procedure).query(({ ctx }) => ({ sub: ctx.principal.id }))
    : t.procedure.query(() => ({ sub: "anonymous" }))
})

listen(
  createHTTPServer({
    router,
    createContext: auth ? TrpcContext.nodeHttp(runtime) : () => ({}),
    responseMeta: TrpcError.responseMeta
  }),
  () => runtime.dispose()
)
