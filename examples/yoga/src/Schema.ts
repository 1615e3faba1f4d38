/**
 * The example's schema: a public field, fields for any signed-in caller, a group-guarded and a
 * role-guarded field, a slow report to `@defer`, and a subscription delivered over SSE.
 */
import { Guard } from "@effect-auth/core"
import { authDirectivesTypeDefs, YogaAuth } from "@effect-auth/yoga"
import * as Effect from "effect/Effect"
import { createSchema } from "graphql-yoga"

const typeDefs = /* GraphQL */ `
  type Query {
    "Anyone may ask."
    hello: String! @public
    "The caller, as the token says."
    me: Me!
    "Only members of the admin group."
    adminReport: String! @hasGroup(groups: ["admin"])
    "Only callers with the editor role."
    drafts: [String!]! @hasRole(roles: ["editor"])
    "Slow on purpose: ask for it with @defer."
    slowStats: String!
    "Checked in the resolver, with an Effect guard."
    auditTrail: [String!]! @public
  }

  type Me {
    id: String!
    groups: [String!]!
  }

  type Subscription {
    "Counts down from \`from\` (at most 10), one number every 50 ms."
    countdown(from: Int!): Int!
  }
`

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/**
 * Builds the schema. `runtime` runs the Effect resolvers (the app's one runtime).
 */
export const make = (runtime: YogaAuth.Options["runtime"]) =>
  createSchema<YogaAuth.AuthContext>({
    typeDefs: [authDirectivesTypeDefs, typeDefs],
    resolvers: {
      Query: {
        hello: () => "Hello from GraphQL Yoga",
        me: (_: unknown, __: unknown, context: YogaAuth.AuthContext) =>
          YogaAuth.run(
            runtime,
            context,
            Effect.gen(function* () {
              const principal = yield* Guard.requireUser()
              return { id: principal.id, groups: yield* principal.groups }
            })
          ),
        adminReport: () => "42 users, 3 admins",
        drafts: () => ["Q3 plan"],
        slowStats: async () => {
          await sleep(100)
          return "p99 12 ms"
        },
        // The field is public; the guard inside decides, and its refusal is a FORBIDDEN for this field only.
        auditTrail: (_: unknown, __: unknown, context: YogaAuth.AuthContext) =>
          YogaAuth.run(runtime, context, Effect.as(Guard.requireGroups(["admin"]), ["alice signed in"]))
      },
      Subscription: {
        countdown: {
          subscribe: async function* (_: unknown, args: { readonly from: number }) {
            for (let n = Math.min(args.from, 10); n >= 0; n--) {
              yield { countdown: n }
              await sleep(50)
            }
          }
        }
      }
    }
  })
