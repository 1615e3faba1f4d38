// Case 8: GraphQL Yoga with the @effect-auth/yoga plugin in protect-all mode, `{ me }` over GET, on the same
// authenticator as case 4 (uncached). `BENCH_AUTH=off` serves the same query without the plugin: the
// framework's own cost, for reference.
import { useEffectAuth } from "@effect-auth/yoga"
import { createSchema, createYoga } from "graphql-yoga"
import { createServer } from "node:http"
import { listen } from "./common.mjs"
import { authRuntime } from "./runtime.mjs"

const auth = process.env.BENCH_AUTH !== "off"

const runtime = authRuntime()

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
