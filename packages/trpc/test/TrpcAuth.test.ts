import { Authenticated, Authenticator, AuthError, type Principal } from "@effect-auth/core"
import { TrpcAuth, TrpcContext, TrpcError } from "@effect-auth/trpc"
import { createTRPCClient, httpBatchLink, httpLink, TRPCClientError } from "@trpc/client"
import type { TRPCError } from "@trpc/server"
import { initTRPC } from "@trpc/server"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { afterAll, beforeAll, beforeEach, describe, expect, expectTypeOf, it } from "vitest"
import * as Fixture from "./fixture.js"

let server: Fixture.Server

beforeAll(async () => {
  server = await Fixture.start()
})
afterAll(() => server.close())
beforeEach(() => {
  server.counter.calls = 0
})

interface Seen {
  status: number
  headers: Headers
}

/** The real `fetch`, noting each response's status and headers. */
const recording = (seen: Array<Seen>) => async (input: RequestInfo | URL, init?: unknown) => {
  const response = await fetch(input as RequestInfo, init as RequestInit)
  seen.push({ status: response.status, headers: response.headers })
  return response
}

const client = (token?: string) => {
  const seen: Array<Seen> = []
  const trpc = createTRPCClient<Fixture.AppRouter>({
    links: [
      httpLink({
        url: server.url,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        fetch: recording(seen)
      })
    ]
  })
  return { trpc, seen }
}

const failure = async (call: Promise<unknown>) => {
  const error = await call.then(
    () => undefined,
    (error: unknown) => error
  )
  if (!(error instanceof TRPCClientError)) throw new Error(`expected a TRPCClientError, got ${String(error)}`)
  return error
}

describe("over HTTP with @trpc/client", () => {
  it("public procedures never authenticate, even with a credential", async () => {
    const { trpc, seen } = client("alice")
    expect(await trpc.health.query()).toBe("ok")
    expect(seen[0]!.status).toBe(200)
    expect(server.counter.calls).toBe(0)
  })

  it("a protected procedure answers 200 for a valid caller", async () => {
    const { trpc, seen } = client("bob")
    expect(await trpc.whoami.query()).toBe("bob")
    expect(seen[0]!.status).toBe(200)
    expect(server.counter.calls).toBe(1)
  })

  it("no credential is 401 UNAUTHORIZED with a Bearer challenge", async () => {
    const { trpc, seen } = client()
    const error = await failure(trpc.whoami.query())
    expect(error.data?.code).toBe("UNAUTHORIZED")
    expect(error.message).toBe("No credentials were presented")
    expect(seen[0]!.status).toBe(401)
    expect(seen[0]!.headers.get("www-authenticate")).toBe('Bearer realm="api"')
  })

  it("a refused token is 401 without echoing it", async () => {
    const { trpc, seen } = client("not-a-user-secret")
    const error = await failure(trpc.whoami.query())
    expect(error.data?.code).toBe("UNAUTHORIZED")
    expect(JSON.stringify(error.shape)).not.toContain("not-a-user-secret")
    expect(seen[0]!.status).toBe(401)
    expect(seen[0]!.headers.get("www-authenticate")).toContain('error="invalid_token"')
  })

  it("a group guard answers 403 FORBIDDEN to others and 200 to members", async () => {
    const bob = client("bob")
    const error = await failure(bob.trpc.admin.query())
    expect(error.data?.code).toBe("FORBIDDEN")
    expect(error.message).toBe("The caller is not allowed to perform this request")
    expect(bob.seen[0]!.status).toBe(403)
    const alice = client("alice")
    expect(await alice.trpc.admin.query()).toBe("admin alice")
    expect(alice.seen[0]!.status).toBe(200)
  })

  it("an unavailable provider is a real 503 with Retry-After and a fixed message", async () => {
    const { trpc, seen } = client("down")
    const error = await failure(trpc.whoami.query())
    expect(error.data?.code).toBe("SERVICE_UNAVAILABLE")
    expect(error.message).toBe('The authentication provider "test" is unavailable (unreachable)')
    expect(seen[0]!.status).toBe(503)
    expect(seen[0]!.headers.get("retry-after")).toBe("5")
  })

  it("a rate limit inside runEffect is 429 with Retry-After", async () => {
    const { trpc, seen } = client("alice")
    expect(await trpc.limited.query()).toBe("alice")
    const error = await failure(trpc.limited.query())
    expect(error.data?.code).toBe("TOO_MANY_REQUESTS")
    expect(seen.map((s) => s.status)).toEqual([200, 429])
    expect(Number(seen[1]!.headers.get("retry-after"))).toBeGreaterThan(0)
  })

  it("a batch authenticates once, and its public calls succeed when the protected ones fail", async () => {
    const seen: Array<Seen> = []
    const trpc = createTRPCClient<Fixture.AppRouter>({
      links: [httpBatchLink({ url: server.url, headers: { authorization: "Bearer bob" }, fetch: recording(seen) })]
    })
    const [health, whoami, admin] = await Promise.allSettled([
      trpc.health.query(),
      trpc.whoami.query(),
      trpc.admin.query()
    ])
    expect(health).toEqual({ status: "fulfilled", value: "ok" })
    expect(whoami).toEqual({ status: "fulfilled", value: "bob" })
    expect(admin.status).toBe("rejected")
    expect(seen).toHaveLength(1)
    expect(seen[0]!.status).toBe(207)
    expect(server.counter.calls).toBe(1)
  })

  it("optionalPrincipal is null without a credential and still refuses a bad one", async () => {
    expect(await client().trpc.greeting.query()).toBe("hello stranger")
    expect(await client("alice").trpc.greeting.query()).toBe("hello alice")
    const error = await failure(client("mallory").trpc.greeting.query())
    expect(error.data?.code).toBe("UNAUTHORIZED")
  })

  it("a client abort interrupts the procedure's Effect", async () => {
    server.probes.started = false
    server.probes.interrupted = false
    const { trpc } = client("alice")
    const abort = new AbortController()
    const call = trpc.slow.query(undefined, { signal: abort.signal }).catch(() => "aborted")
    await expect.poll(() => server.probes.started).toBe(true)
    abort.abort()
    expect(await call).toBe("aborted")
    await expect.poll(() => server.probes.interrupted).toBe(true)
  })

  it("a plain query ignores connectionParams, so no token is taken from a URL", async () => {
    const params = encodeURIComponent(JSON.stringify({ authorization: "Bearer alice" }))
    const response = await fetch(`${server.url}/whoami?connectionParams=${params}`)
    expect(response.status).toBe(401)
    const body = (await response.json()) as { error: { message: string } }
    expect(body.error.message).toBe("No credentials were presented")
    expect(server.counter.calls).toBe(0)
  })

  it("a failure inside runEffect reaches the client as a fixed 500; the error stays on the server", async () => {
    server.probes.errors.length = 0
    const { trpc, seen } = client("alice")
    const error = await failure(trpc.leaky.query())
    expect(error.data?.code).toBe("INTERNAL_SERVER_ERROR")
    expect(error.message).toBe("The request could not be processed")
    expect(seen[0]!.status).toBe(500)
    // The test runs tRPC in dev mode, whose error shape carries more (a stack) than production's.
    expect(JSON.stringify(error.shape)).not.toContain("10.0.0.7")
    expect(JSON.stringify(error.data)).not.toContain("10.0.0.7")
    const reported = server.probes.errors[0] as TRPCError
    expect(reported.code).toBe("INTERNAL_SERVER_ERROR")
    expect(reported.cause).toBeInstanceOf(Error)
    expect(reported.cause?.message).toBe(Fixture.leakyMessage)
  })

  it("an SSE subscription takes its token from connectionParams", async () => {
    const subscribe = async (connectionParams?: Record<string, string>) => {
      const query =
        connectionParams === undefined
          ? ""
          : `?connectionParams=${encodeURIComponent(JSON.stringify(connectionParams))}`
      const abort = new AbortController()
      const response = await fetch(`${server.url}/events${query}`, {
        headers: { accept: "text/event-stream" },
        signal: abort.signal
      })
      const reader = response.body!.getReader()
      let text = ""
      while (!text.includes("\n\n") || !/event|data/.test(text)) {
        const { value, done } = await reader.read()
        if (done) break
        text += new TextDecoder().decode(value)
      }
      abort.abort()
      return text
    }
    expect(await subscribe({ authorization: "Bearer alice" })).toContain("event for alice")
    const refused = await subscribe()
    expect(refused).toContain("UNAUTHORIZED")
    expect(refused).not.toContain("event for")
  })
})

describe("TrpcContext", () => {
  it("a credential sent both as a header and in connectionParams is refused", async () => {
    const runtime = ManagedRuntime.make(Authenticator.layer([Effect.succeed(Fixture.countingProvider({ calls: 0 }))]))
    const context = TrpcContext.make(runtime, {
      headers: () => ({ authorization: "Bearer alice" }),
      info: {
        connectionParams: { Authorization: "Bearer bob" },
        signal: new AbortController().signal,
        type: "subscription"
      }
    })
    const error = await context.auth.principal().catch((error: unknown) => error)
    expect(error).toBeInstanceOf(TrpcError.AuthTRPCError)
    expect((error as TRPCError).code).toBe("UNAUTHORIZED")
    expect((error as TRPCError).message).toBe("Several credential headers were presented")
    await runtime.dispose()
  })

  it("never throws while building; a failure to read the request is a fixed 500 on use", async () => {
    const runtime = ManagedRuntime.make(
      Layer.effect(Authenticator.Authenticator, Authenticator.make({ providers: [] }))
    )
    const context = TrpcContext.make(runtime, {
      headers: () => {
        throw new Error("secret-detail")
      }
    })
    const error = await context.auth.principal().catch((error: unknown) => error)
    expect((error as TRPCError).code).toBe("INTERNAL_SERVER_ERROR")
    expect((error as TRPCError).message).toBe("The request could not be processed")
    await runtime.dispose()
  })

  it("an authenticator that cannot be built is 503, never a success", async () => {
    const broken = Layer.fail("no database") as Layer.Layer<Authenticator.Authenticator, string>
    const runtime = ManagedRuntime.make(broken)
    const context = TrpcContext.make(runtime, { headers: () => ({ authorization: "Bearer alice" }) })
    const error = await context.auth.principal().catch((error: unknown) => error)
    expect((error as TRPCError).code).toBe("SERVICE_UNAVAILABLE")
    await runtime.dispose().catch(() => undefined)
  })

  it("maps every auth error to its tRPC code", () => {
    expect(TrpcError.fromFailure(new AuthError.MissingCredentials({ reason: "absent" })).code).toBe("UNAUTHORIZED")
    expect(TrpcError.fromFailure(new AuthError.InvalidToken({ reason: "expired" })).code).toBe("UNAUTHORIZED")
    expect(TrpcError.fromFailure(new AuthError.Forbidden({ reason: "policy" })).code).toBe("FORBIDDEN")
    expect(TrpcError.fromFailure(new AuthError.IncompleteGrants({ grant: "groups", provider: "x" })).code).toBe(
      "FORBIDDEN"
    )
    const limited = TrpcError.fromFailure(
      new AuthError.RateLimited({ reason: "rate-limit-exceeded", retryAfterMillis: 2500 })
    )
    expect(limited.code).toBe("TOO_MANY_REQUESTS")
    expect(limited.headers["retry-after"]).toBe("3")
    const down = TrpcError.fromFailure(
      new AuthError.ProviderUnavailable({ reason: "timeout", provider: "jwks", cause: new Error("postgres://u:pw@h") })
    )
    expect(down.code).toBe("SERVICE_UNAVAILABLE")
    expect(down.cause).toBeUndefined()
    expect(down.message).not.toContain("pw")
    expect(TrpcError.fromFailure("internal").code).toBe("INTERNAL_SERVER_ERROR")
  })
})

describe("types", () => {
  const t = initTRPC.context<TrpcContext.Context>().create()

  it("ctx.principal is a Principal after protectedProcedure and the guards, absent before", () => {
    TrpcAuth.protectedProcedure(t.procedure).query(({ ctx }) => {
      expectTypeOf(ctx.principal).toEqualTypeOf<Principal.Principal>()
      return null
    })
    t.procedure.use(TrpcAuth.requireRoles(["editor"])).query(({ ctx }) => {
      expectTypeOf(ctx.principal).toEqualTypeOf<Principal.Principal>()
      return null
    })
    t.procedure.query(({ ctx }) => {
      expectTypeOf(ctx).not.toHaveProperty("principal")
      return null
    })
  })

  it("runEffect provides Authenticated, and only services the runtime has", () => {
    class Unprovided extends Context.Tag("Unprovided")<Unprovided, number>() {}
    const caller = Effect.map(Authenticated.Authenticated, (principal) => principal.id)
    t.procedure.query(({ ctx }) =>
      // @ts-expect-error: no principal in a public procedure's context
      TrpcAuth.runEffect(ctx, caller)
    )
    TrpcAuth.protectedProcedure(t.procedure).query(async ({ ctx }) => {
      expectTypeOf(await TrpcAuth.runEffect(ctx, caller)).toEqualTypeOf<string>()
      // @ts-expect-error: the runtime does not provide this service
      return TrpcAuth.runEffect(ctx, Unprovided)
    })
  })
})
