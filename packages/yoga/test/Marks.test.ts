/**
 * Marks reach every way a field can be selected: through interfaces (type and field marks), through the
 * return type of a field (so even `{ x { __typename } }` is checked), through `extend type`; and the plugin
 * trusts no context it did not build.
 */
import { authDirectivesTypeDefs, useEffectAuth, YogaAuth } from "@effect-auth/yoga"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import type { ExecutionArgs } from "graphql"
import { buildSchema, execute, GraphQLError, parse, specifiedRules, validate } from "graphql"
import { createSchema, createYoga, envelop } from "graphql-yoga"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Served } from "./fixtures.js"
import { adminToken, AuthLive, codes, query, serve, staffToken } from "./fixtures.js"

const typeDefs = /* GraphQL */ `
  interface Node @hasGroup(groups: ["admin"]) {
    id: ID!
  }
  type Doc implements Node {
    id: ID!
    secret: String
  }
  interface Owned {
    owner: String @hasGroup(groups: ["admin"])
  }
  type Item implements Owned {
    owner: String
    label: String
  }
  type AdminStats @hasGroup(groups: ["admin"]) {
    n: Int
  }
  type Report {
    total: Int
  }
  extend type Report @hasRole(roles: ["editor"])
  type Query {
    node: Node
    doc: Doc
    item: Item
    owned: Owned
    stats: AdminStats
    report: Report
    hello: String
  }
  type Mutation {
    wipe: AdminStats
  }
`

const runtime = ManagedRuntime.make(AuthLive)
// Which resolvers ran: a refused operation must run none.
const ran: Array<string> = []
let served: Served

beforeAll(async () => {
  const schema = createSchema({
    typeDefs: [authDirectivesTypeDefs, typeDefs],
    resolvers: {
      Node: { __resolveType: () => "Doc" },
      Owned: { __resolveType: () => "Item" },
      Query: {
        node: () => ({ id: "1", secret: "S3CRET-node" }),
        doc: () => ({ id: "1", secret: "S3CRET-doc" }),
        item: () => ({ owner: "owner-alice", label: "label" }),
        owned: () => ({ owner: "owner-alice", label: "label" }),
        stats: () => {
          ran.push("stats")
          return { n: 1 }
        },
        report: () => ({ total: 7 }),
        hello: () => "hello"
      },
      Mutation: {
        wipe: () => {
          ran.push("wipe")
          return { n: 0 }
        }
      }
    }
  })
  served = await serve(
    createYoga({ schema, plugins: [useEffectAuth({ runtime, mode: "protect-granular" })], logging: false })
  )
})

afterAll(async () => {
  await served.close()
  await runtime.dispose()
})

describe("interface marks", () => {
  it("a mark on an interface type holds on its implementations, however they are selected", async () => {
    for (const document of ["{ node { id } }", "{ node { ... on Doc { id secret } } }", "{ doc { id secret } }"]) {
      const anonymous = await query(served.url, document)
      expect(anonymous.status).toBe(401)
      const staff = await query(served.url, document, { token: staffToken })
      expect(staff.status).toBe(403)
      expect(staff.text).not.toContain("S3CRET")
    }
    expect((await query(served.url, "{ doc { secret } }", { token: adminToken })).body).toEqual({
      data: { doc: { secret: "S3CRET-doc" } }
    })
  })

  it("a mark on an interface field holds on the implementation's field", async () => {
    for (const document of ["{ item { owner } }", "{ owned { ... on Item { owner } } }", "{ owned { owner } }"]) {
      const staff = await query(served.url, document, { token: staffToken })
      expect(staff.status).toBe(403)
      expect(staff.text).not.toContain("owner-alice")
    }
    // The implementation's other fields stay as open as they are marked.
    expect((await query(served.url, "{ item { label } }")).body).toEqual({ data: { item: { label: "label" } } })
    expect((await query(served.url, "{ item { owner } }", { token: adminToken })).body).toEqual({
      data: { item: { owner: "owner-alice" } }
    })
  })
})

describe("return type marks", () => {
  it("selecting only __typename of a marked type still checks the field: its resolver never runs", async () => {
    ran.length = 0
    const stats = await query(served.url, "{ stats { __typename } }")
    expect(stats.status).toBe(401)
    expect(codes(stats)).toEqual(["UNAUTHENTICATED"])
    const wipe = await query(served.url, "mutation { wipe { __typename } }", { token: staffToken })
    expect(wipe.status).toBe(403)
    expect(ran).toEqual([])
    expect((await query(served.url, "mutation { wipe { __typename } }", { token: adminToken })).body).toEqual({
      data: { wipe: { __typename: "AdminStats" } }
    })
    expect(ran).toEqual(["wipe"])
  })
})

describe("extend type", () => {
  it("reads a type's marks from its extensions", async () => {
    expect((await query(served.url, "{ report { total } }")).status).toBe(401)
    expect((await query(served.url, "{ report { total } }", { token: staffToken })).status).toBe(403)
    expect((await query(served.url, "{ report { total } }", { token: adminToken })).body).toEqual({
      data: { report: { total: 7 } }
    })
  })

  it("also in a schema built by graphql-js", async () => {
    const schema = buildSchema(
      `${authDirectivesTypeDefs} type Query { stats: Stats } type Stats { n: Int } extend type Stats @authenticated`
    )
    const local = await serve(
      createYoga({
        schema,
        plugins: [useEffectAuth({ runtime, mode: "protect-granular" })],
        logging: false
      })
    )
    try {
      expect((await query(local.url, "{ stats { n } }")).status).toBe(401)
    } finally {
      await local.close()
    }
  })
})

describe("contexts the plugin did not build", () => {
  const schema = createSchema({
    typeDefs: [authDirectivesTypeDefs, "type Query { me: String @authenticated, hello: String @public }"],
    resolvers: { Query: { me: () => "SECRET-me", hello: () => "hello" } }
  })

  // The envelop orchestrator with graphql-js as its engine and an app's own context (not the plugin's).
  const enveloped = envelop({
    plugins: [
      {
        onParse: ({ setParseFn }) => setParseFn(parse),
        onValidate: ({ setValidationFn }) => setValidationFn((s, d) => validate(s, d, specifiedRules)),
        onExecute: ({ setExecuteFn }) => setExecuteFn((args: ExecutionArgs) => execute(args))
      },
      useEffectAuth({ runtime, mode: "protect-all" })
    ]
  })

  it("answers an internal error instead of running the operation", async () => {
    const { execute: run } = enveloped({})
    const forged = { principal: { id: "mallory" }, authError: null }
    for (const contextValue of [{}, forged]) {
      const result = await run({ schema, document: parse("{ me }"), contextValue })
      expect(JSON.stringify(result)).not.toContain("SECRET-me")
      expect(result).toMatchObject({
        errors: [{ extensions: { code: "INTERNAL_SERVER_ERROR", http: { status: 500 } } }]
      })
    }
  })

  it("YogaAuth.run refuses a context with a principal the plugin did not put there", async () => {
    const forged = { principal: { id: "mallory" }, authError: null } as unknown as YogaAuth.AuthContext
    const error = await YogaAuth.run(runtime, forged, Effect.succeed("ran")).catch((error: unknown) => error)
    expect(error).toBeInstanceOf(GraphQLError)
    expect((error as GraphQLError).extensions["code"]).toBe("INTERNAL_SERVER_ERROR")
  })
})
