import { authDirectivesTypeDefs, useEffectAuth } from "@effect-auth/yoga"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { createSchema, createYoga } from "graphql-yoga"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Served } from "./fixtures.js"
import { adminToken, AuthLive, codes, query, serve, staffToken } from "./fixtures.js"

const typeDefs = /* GraphQL */ `
  interface Named {
    name: String
  }
  type Team implements Named @public {
    name: String
  }
  type Admin implements Named {
    name: String @hasGroup(groups: ["admin"])
  }
  type Query {
    named: [Named] @public
    hello: String @public
  }
`

const runtime = ManagedRuntime.make(AuthLive)
let served: Served

beforeAll(async () => {
  const schema = createSchema({
    typeDefs: [authDirectivesTypeDefs, typeDefs],
    resolvers: {
      Named: { __resolveType: (value: { readonly kind: string }) => value.kind },
      Query: {
        named: () => [
          { kind: "Team", name: "platform" },
          { kind: "Admin", name: "root" }
        ],
        hello: () => "hello"
      }
    }
  })
  served = await serve(
    createYoga({ schema, plugins: [useEffectAuth({ runtime, mode: "protect-all" })], logging: false })
  )
})

afterAll(async () => {
  await served.close()
  await runtime.dispose()
})

describe("selections", () => {
  it("a field selected on an interface needs what any implementation's field needs", async () => {
    const refused = await query(served.url, "{ named { name } }", { token: staffToken })
    expect(refused.status).toBe(403)
    expect(refused.text).not.toContain("root")
    expect((await query(served.url, "{ named { name } }", { token: adminToken })).body).toEqual({
      data: { named: [{ name: "platform" }, { name: "root" }] }
    })
    // Selected on the concrete type that needs nothing, it is public.
    expect((await query(served.url, "{ named { ... on Team { name } } }")).body).toEqual({
      data: { named: [{ name: "platform" }, {}] }
    })
    expect((await query(served.url, "{ named { ... on Admin { name } } }")).status).toBe(401)
  })

  it("refuses a document too large to check instead of running it unchecked", async () => {
    const aliases = Array.from({ length: 10_001 }, (_, index) => `a${index}: hello`).join(" ")
    const answer = await query(served.url, `{ ${aliases} }`, { token: adminToken })
    expect(answer.status).toBe(500)
    expect(answer.body.data).toBeUndefined()
    expect(codes(answer)).toEqual(["INTERNAL_SERVER_ERROR"])
  })

  it("checks a fragment spread many times once, and still refuses what it selects", async () => {
    const fragments = Array.from(
      { length: 12 },
      (_, index) => `fragment F${index + 1} on Query { ...F${index} ...F${index} }`
    ).join("\n")
    const document = `query { ...F12 }\nfragment F0 on Query { named { ... on Admin { name } } }\n${fragments}`
    const refused = await query(served.url, document, { token: staffToken })
    expect(refused.status).toBe(403)
    expect(refused.body.errors).toHaveLength(1)
  })
})
