import type { Authenticator } from "@effect-auth/core"
import { Guard, Policy, RateLimit } from "@effect-auth/core"
import { authDirectivesTypeDefs, useEffectAuth, YogaAuth } from "@effect-auth/yoga"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { GraphQLList, GraphQLObjectType, GraphQLSchema, GraphQLString } from "graphql"
import { createSchema, createYoga } from "graphql-yoga"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Served } from "./fixtures.js"
import { adminToken, AuthLive, codes, outageToken, query, serve, staffToken, unknownToken } from "./fixtures.js"

const typeDefs = /* GraphQL */ `
  type Query {
    hello: String @public
    me: String
    open: String
    admins: [String] @hasGroup(groups: ["admin"])
    editors: String @hasRole(roles: ["editor", "owner"])
    deleteDocuments: String @hasPermission(permissions: ["documents.delete"])
    staffOrAdmin: String @hasGroup(groups: ["staff", "admin"]) @authenticated
    posts: [Post] @public
    adminName: String @public
  }
  type Post {
    title: String @public
    body: String
    draftNotes: String @authenticated
  }
`

const runtime = ManagedRuntime.make(AuthLive)

const resolvers = {
  Query: {
    hello: () => "hello",
    me: (_: unknown, __: unknown, context: YogaAuth.AuthContext) => context.principal?.id ?? null,
    open: (_: unknown, __: unknown, context: YogaAuth.AuthContext) => `principal: ${context.principal?.id ?? "none"}`,
    admins: () => ["alice"],
    editors: () => "editors",
    deleteDocuments: () => "deleted",
    staffOrAdmin: () => "staff or admin",
    posts: () => [{ title: "First", body: "post body", draftNotes: "secret notes" }],
    // Effect code with `Authenticated` provided; the guard's Forbidden comes out as a GraphQL FORBIDDEN.
    adminName: (_: unknown, __: unknown, context: YogaAuth.AuthContext) =>
      YogaAuth.run(
        runtime,
        context,
        Effect.map(Guard.requireGroups(["admin"]), (admin) => admin.id)
      )
  }
}

const sdlSchema = createSchema<YogaAuth.AuthContext>({ typeDefs: [authDirectivesTypeDefs, typeDefs], resolvers })

const yogaWith = (plugin: ReturnType<typeof useEffectAuth>, schema = sdlSchema) =>
  createYoga({ schema, plugins: [plugin], logging: false, maskedErrors: true })

const servers: Array<Served> = []
const start = async (plugin: ReturnType<typeof useEffectAuth>, schema = sdlSchema) => {
  const served = await serve(yogaWith(plugin, schema))
  servers.push(served)
  return served.url
}

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()))
  await runtime.dispose()
})

describe("refusals", () => {
  it("are answers, not unhandled errors the runtime logs", async () => {
    const lines: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => lines.push(`${logLevel.label} ${String(message)}`))
    const logged = ManagedRuntime.make(
      Layer.mergeAll(AuthLive, Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.All))
    )
    const url = await start(useEffectAuth({ runtime: logged, mode: "protect-all" }))
    expect((await query(url, "{ me }", { token: unknownToken })).status).toBe(401)
    expect((await query(url, "{ admins }", { token: staffToken })).status).toBe(403)
    await logged.runPromise(Effect.logDebug("logger check"))
    expect(lines).toContain("DEBUG logger check")
    expect(lines.filter((line) => line.includes("unhandled"))).toEqual([])
    await logged.dispose()
  })
})

describe("protect-all", () => {
  let url: string
  beforeAll(async () => {
    url = await start(useEffectAuth({ runtime, mode: "protect-all" }))
  })

  it("answers a public field without credentials", async () => {
    const answer = await query(url, "{ hello }")
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({ data: { hello: "hello" } })
  })

  it("refuses an unmarked field without credentials: 401 UNAUTHENTICATED with a challenge, nothing runs", async () => {
    const answer = await query(url, "{ hello me }")
    expect(answer.status).toBe(401)
    expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="graphql"')
    expect(answer.body.data).toBeUndefined()
    expect(codes(answer)).toEqual(["UNAUTHENTICATED"])
    expect(answer.body.errors?.[0]?.extensions?.reason).toBe("absent")
  })

  it("answers an authenticated caller's unmarked field", async () => {
    const answer = await query(url, "{ me }", { token: staffToken })
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({ data: { me: "bob" } })
  })

  it("refuses a bad token with 401 and never echoes it", async () => {
    const answer = await query(url, "{ me }", { token: unknownToken })
    expect(answer.status).toBe(401)
    expect(codes(answer)).toEqual(["UNAUTHENTICATED"])
    expect(answer.headers.get("www-authenticate")).toContain('error="invalid_token"')
    expect(answer.text).not.toContain(unknownToken)
  })

  it("answers a group-guarded field 403 FORBIDDEN to a caller outside the group, 200 to a member", async () => {
    const refused = await query(url, "{ admins }", { token: staffToken })
    expect(refused.status).toBe(403)
    expect(codes(refused)).toEqual(["FORBIDDEN"])
    expect(refused.body.errors?.[0]?.extensions?.reason).toBe("missing-groups")
    expect(refused.headers.get("www-authenticate")).toBe('Bearer realm="graphql", error="insufficient_scope"')
    const allowed = await query(url, "{ admins }", { token: adminToken })
    expect(allowed.status).toBe(200)
    expect(allowed.body).toEqual({ data: { admins: ["alice"] } })
  })

  it("checks roles and permissions (a held deny wins over the grammar)", async () => {
    expect((await query(url, "{ editors }", { token: adminToken })).status).toBe(200)
    expect((await query(url, "{ editors }", { token: staffToken })).status).toBe(403)
    expect((await query(url, "{ deleteDocuments }", { token: adminToken })).body).toEqual({
      data: { deleteDocuments: "deleted" }
    })
    const denied = await query(url, "{ deleteDocuments }", { token: staffToken })
    expect(denied.status).toBe(403)
    expect(denied.body.errors?.[0]?.extensions?.reason).toBe("missing-permissions")
  })

  it("answers 401 (not 403) for a guarded field without credentials", async () => {
    const answer = await query(url, "{ admins }")
    expect(answer.status).toBe(401)
    expect(codes(answer)).toEqual(["UNAUTHENTICATED"])
  })

  it("refuses a protected field hidden in a fragment or an inline fragment", async () => {
    const viaFragment = await query(url, "query { ...Secret } fragment Secret on Query { me }")
    expect(viaFragment.status).toBe(401)
    const viaInline = await query(url, "{ ... on Query { admins } }", { token: staffToken })
    expect(viaInline.status).toBe(403)
  })

  it("lets a public field's selection through, but not a marked field inside it", async () => {
    expect((await query(url, "{ posts { title } }")).body).toEqual({ data: { posts: [{ title: "First" }] } })
    // `posts @public` opens the field, not the unmarked fields of `Post`: they default to protected.
    const body = await query(url, "{ posts { body } }")
    expect(body.status).toBe(401)
    expect(body.text).not.toContain("post body")
    const notes = await query(url, "{ posts { title draftNotes } }")
    expect(notes.status).toBe(401)
    expect(notes.body.errors?.[0]?.message).not.toContain("secret notes")
    expect(notes.text).not.toContain("secret notes")
  })

  it("protects introspection, and adding __schema or __typename bypasses nothing", async () => {
    expect((await query(url, "{ __schema { queryType { name } } }")).status).toBe(401)
    expect((await query(url, '{ __type(name: "Post") { name } }')).status).toBe(401)
    expect((await query(url, "{ __typename }")).status).toBe(401)
    const mixed = await query(url, "{ __typename __schema { queryType { name } } me }")
    expect(mixed.status).toBe(401)
    expect(mixed.text).not.toContain("Query")
    const withPublic = await query(url, "{ __typename hello }")
    expect(withPublic.status).toBe(401)
    expect((await query(url, "{ __schema { queryType { name } } }", { token: staffToken })).status).toBe(200)
  })

  it("a resolver's Effect runs with Authenticated provided; a failing guard is FORBIDDEN, not masked", async () => {
    expect((await query(url, "{ adminName }", { token: adminToken })).body).toEqual({ data: { adminName: "alice" } })
    const refused = await query(url, "{ adminName }", { token: staffToken })
    expect(refused.status).toBe(403)
    expect(refused.body.data).toEqual({ adminName: null })
    expect(codes(refused)).toEqual(["FORBIDDEN"])
    expect(refused.body.errors?.[0]?.path).toEqual(["adminName"])
    const anonymous = await query(url, "{ adminName }")
    expect(anonymous.status).toBe(401)
  })

  it("requires every mark on a field: @authenticated beside an any-of group list", async () => {
    expect((await query(url, "{ staffOrAdmin }", { token: staffToken })).status).toBe(200)
    expect((await query(url, "{ staffOrAdmin }")).status).toBe(401)
  })

  it("answers 503 SERVICE_UNAVAILABLE with Retry-After when the provider cannot be reached", async () => {
    const answer = await query(url, "{ me }", { token: outageToken })
    expect(answer.status).toBe(503)
    expect(codes(answer)).toEqual(["SERVICE_UNAVAILABLE"])
    expect(answer.headers.get("retry-after")).toBe("5")
    // Public fields stay available during the outage.
    expect((await query(url, "{ hello }", { token: outageToken })).status).toBe(200)
  })
})

describe("protect-all with introspection allowed", () => {
  it("lets __schema through without credentials, still guards the other fields", async () => {
    const url = await start(useEffectAuth({ runtime, mode: "protect-all", allowIntrospection: true }))
    const answer = await query(url, "{ __schema { queryType { name } } }")
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({ data: { __schema: { queryType: { name: "Query" } } } })
    expect((await query(url, "{ __schema { queryType { name } } me }")).status).toBe(401)
  })
})

describe("protect-granular", () => {
  it("guards marked fields only; unmarked fields see the principal or null", async () => {
    const url = await start(useEffectAuth({ runtime, mode: "protect-granular" }))
    expect((await query(url, "{ open }")).body).toEqual({ data: { open: "principal: none" } })
    expect((await query(url, "{ open }", { token: staffToken })).body).toEqual({ data: { open: "principal: bob" } })
    expect((await query(url, "{ __schema { queryType { name } } }")).status).toBe(200)
    expect((await query(url, "{ open admins }")).status).toBe(401)
    expect((await query(url, "{ open admins }", { token: staffToken })).status).toBe(403)
  })
})

describe("resolve-only", () => {
  it("never refuses: resolvers get the principal or null", async () => {
    const url = await start(useEffectAuth({ runtime, mode: "resolve-only" }))
    expect((await query(url, "{ admins me }")).body).toEqual({ data: { admins: ["alice"], me: null } })
    expect((await query(url, "{ me }", { token: adminToken })).body).toEqual({ data: { me: "alice" } })
  })
})

describe("code-first schemas", () => {
  const Report = new GraphQLObjectType({
    name: "Report",
    extensions: { auth: { groups: ["admin"] } },
    fields: { total: { type: GraphQLString } }
  })
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({
      name: "Query",
      fields: {
        status: { type: GraphQLString, extensions: { auth: { public: true } }, resolve: () => "ok" },
        report: { type: Report, extensions: { auth: { public: true } }, resolve: () => ({ total: "42" }) },
        staffOnly: {
          type: new GraphQLList(GraphQLString),
          extensions: { auth: { policy: Policy.groups(["staff"]) } },
          resolve: () => ["bob"]
        }
      }
    })
  })

  it("reads `auth` extensions of fields and types", async () => {
    const url = await start(useEffectAuth({ runtime, mode: "protect-all" }), schema)
    expect((await query(url, "{ status }")).body).toEqual({ data: { status: "ok" } })
    // The report is reachable publicly, but its type's mark guards what it holds.
    expect((await query(url, "{ report { total } }", { token: staffToken })).status).toBe(403)
    expect((await query(url, "{ report { total } }", { token: adminToken })).body).toEqual({
      data: { report: { total: "42" } }
    })
    expect((await query(url, "{ staffOnly }", { token: staffToken })).body).toEqual({ data: { staffOnly: ["bob"] } })
    expect((await query(url, "{ staffOnly }", { token: adminToken })).status).toBe(403)
  })
})

describe("rate limits", () => {
  it("answers 429 TOO_MANY_REQUESTS with Retry-After once a caller's budget is spent", async () => {
    const limited = ManagedRuntime.make(Layer.merge(AuthLive, RateLimit.layerMemory({ limit: 2, window: "1 minute" })))
    try {
      const url = await start(useEffectAuth({ runtime: limited, mode: "protect-all", rateLimit: true }))
      const first = await query(url, "{ me }", { token: staffToken })
      expect(first.status).toBe(200)
      expect(first.headers.get("x-ratelimit-limit")).toBe("2")
      expect(first.headers.get("x-ratelimit-remaining")).toBe("1")
      expect((await query(url, "{ me }", { token: staffToken })).status).toBe(200)
      const refused = await query(url, "{ me }", { token: staffToken })
      expect(refused.status).toBe(429)
      expect(codes(refused)).toEqual(["TOO_MANY_REQUESTS"])
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
      expect(refused.headers.get("x-ratelimit-remaining")).toBe("0")
      // Another caller has its own budget.
      expect((await query(url, "{ me }", { token: adminToken })).status).toBe(200)
    } finally {
      await limited.dispose()
    }
  })
})

describe("an authenticator that cannot be built", () => {
  it("answers protected fields 503, never a success", async () => {
    const broken = ManagedRuntime.make(
      Layer.fail("no authenticator configured") as Layer.Layer<Authenticator.Authenticator, string>
    )
    try {
      const url = await start(useEffectAuth({ runtime: broken, mode: "protect-all" }))
      const answer = await query(url, "{ me }", { token: adminToken })
      expect(answer.status).toBe(503)
      expect(codes(answer)).toEqual(["SERVICE_UNAVAILABLE"])
      expect(answer.text).not.toContain("no authenticator configured")
    } finally {
      await broken.dispose()
    }
  })
})

describe("graphql-ws style contexts", () => {
  // What Yoga's graphql-ws recipe does per message: `yoga.getEnveloped({ ...ctx, connectionParams })`.
  const yoga = yogaWith(useEffectAuth({ runtime, mode: "protect-all" }))
  const execute = async (connectionParams: Record<string, unknown> | undefined, source: string) => {
    const enveloped = yoga.getEnveloped({ connectionParams })
    const document = enveloped.parse(source)
    const contextValue = await enveloped.contextFactory()
    return (await enveloped.execute({ schema: enveloped.schema, document, contextValue })) as {
      readonly data?: unknown
      readonly errors?: ReadonlyArray<{ readonly extensions: Record<string, unknown> }>
    }
  }

  it("reads the token from connectionParams", async () => {
    expect(await execute({ Authorization: `Bearer ${staffToken}` }, "{ me }")).toEqual({ data: { me: "bob" } })
    const anonymous = await execute(undefined, "{ me }")
    expect(anonymous.errors?.map((error) => error.extensions["code"])).toEqual(["UNAUTHENTICATED"])
    const forbidden = await execute({ authorization: `Bearer ${staffToken}` }, "{ admins }")
    expect(forbidden.errors?.map((error) => error.extensions["code"])).toEqual(["FORBIDDEN"])
  })

  it("refuses two credentials at once instead of picking one", async () => {
    const both = await execute(
      { Authorization: `Bearer ${staffToken}`, authorization: `Bearer ${adminToken}` },
      "{ me }"
    )
    expect(both.errors?.map((error) => error.extensions["code"])).toEqual(["UNAUTHENTICATED"])
    expect(both.errors?.[0]?.extensions["reason"]).toBe("multiple-headers")
  })
})
