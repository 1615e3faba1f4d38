// Case 7: tRPC's standalone node:http adapter with @effect-auth/trpc, one protected query (`GET /me`), on the
// same authenticator as case 4 (uncached). `BENCH_AUTH=off` serves the same query without authentication:
// the framework's own cost, for reference.
import { TrpcAuth, TrpcContext, TrpcError } from "@effect-auth/trpc"
import { initTRPC } from "@trpc/server"
import { createHTTPServer } from "@trpc/server/adapters/standalone"
import { listen } from "./common.mjs"
import { authRuntime } from "./runtime.mjs"

const auth = process.env.BENCH_AUTH !== "off"

const runtime = authRuntime()

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
