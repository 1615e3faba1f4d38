// Case 8: GraphQL Yoga with the @effect-auth/yoga plugin in protect-all mode, `{ me }` over GET, on the same
// authenticator as case 4 (uncached). `BENCH_AUTH=off` serves the same query without the plugin: the
// framework's own cost, for reference.
import { Authenticator } from "@effect-auth/core"
import { JwtProvider } from "@effect-auth/jwt"
import { useEffectAuth } from "@effect-auth/yoga"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { createSchema, createYoga } from "graphql-yoga"
import { createServer } from "node:http"
import { listen, settings } from "./common.mjs"

const { audience, issuer, jwksUrl } = settings()
const auth = process.env.BENCH_AUTH !== "off"

const runtime = ManagedRuntime.make(
  Authenticator.layer([
    JwtProvider.provider([JwtProvider.issuer({ issuer, jwksUrl, audience, algorithms: ["RS256"] })])
  ]).pipe(Layer.provide(NodeHttpClient.layerUndici))
)

const yoga = createYoga({
  schema: createSchema({
    typeDefs: "type Query { me: String! }",
    resolvers: { Query: { me: (_parent, _args, context) => (auth ? context.principal.id : "anonymous") } }
  }),
  plugins: auth ? [useEffectAuth({ runtime, mode: "protect-all" })] : [],
  graphiql: false,
  logging: false
})

listen(createServer(yoga), () => runtime.dispose())
