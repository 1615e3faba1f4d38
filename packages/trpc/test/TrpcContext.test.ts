import type { AuthProvider } from "@effect-auth/core"
import { AuthError, Authenticator, Identity, Principal } from "@effect-auth/core"
import { TrpcAuth, TrpcContext } from "@effect-auth/trpc"
import { TRPCError } from "@trpc/server"
import type { TRPCRequestInfo } from "@trpc/server/http"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { describe, expect, it } from "vitest"
import * as Fixture from "./fixture.js"

/** Accepts the API key `k-1`, counting its calls. */
const apiKeyProvider = (counter: Fixture.Counter): AuthProvider.AuthProvider => ({
  name: "keys",
  challenge: { scheme: "ApiKey", realm: "api" },
  accepts: (credential) => credential._tag === "ApiKey",
  authenticate: (credential) =>
    Effect.suspend(() => {
      counter.calls++
      return credential._tag === "ApiKey" && Redacted.value(credential.key) === "k-1"
        ? Effect.succeed(Identity.make({ id: "service", kind: "machine", provider: "keys" }))
        : Effect.fail(new AuthError.InvalidCredentials({ reason: "rejected", scheme: "ApiKey" }))
    })
})

/** Bearer tokens whose principal carries an `exp` claim `lifetime` seconds from now. */
const expiringProvider = (counter: Fixture.Counter, lifetime: number): AuthProvider.AuthProvider => ({
  name: "expiring",
  challenge: { scheme: "Bearer", realm: "api" },
  accepts: (credential) => credential._tag === "Bearer",
  authenticate: () =>
    Effect.sync(() => {
      counter.calls++
      return Identity.make({
        id: "alice",
        kind: "user",
        provider: "expiring",
        claims: { sub: "alice", exp: Math.floor(Date.now() / 1000) + lifetime }
      })
    })
})

/** What tRPC's WebSocket adapter gives `createContext`: one context per connection, with no calls yet. */
const webSocketInfo = (connectionParams: Record<string, string> | null): TRPCRequestInfo => ({
  connectionParams,
  calls: [],
  isBatchCall: false,
  accept: null,
  type: "unknown",
  signal: new AbortController().signal,
  url: null
})

/** What tRPC's HTTP handler gives `createContext` for one query. */
const queryInfo = (connectionParams: Record<string, string> | null): TRPCRequestInfo => ({
  connectionParams,
  calls: [
    {
      path: "whoami",
      getRawInput: () => Promise.resolve(undefined),
      result: () => undefined,
      procedure: null,
      batchIndex: 0
    }
  ],
  isBatchCall: false,
  accept: null,
  type: "query",
  signal: new AbortController().signal,
  url: null
})

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error("expected a rejection")
    },
    (error: unknown) => error as TRPCError
  )

describe("TrpcContext uses the authenticator's credential settings", () => {
  it("an API key header turned off in the authenticator is not read", async () => {
    const counter = { calls: 0 }
    const runtime = ManagedRuntime.make(
      Authenticator.layer([Effect.succeed(apiKeyProvider(counter))], { credentials: { apiKeyHeader: false } })
    )
    const context = TrpcContext.make(runtime, { headers: () => ({ "x-api-key": "k-1" }) })
    const error = await rejection(context.auth.principal())
    expect(error.code).toBe("UNAUTHORIZED")
    expect(error.message).toBe("No credentials were presented")
    expect(counter.calls).toBe(0)
    await runtime.dispose()
  })

  it("the authenticator's own API key header is read", async () => {
    const counter = { calls: 0 }
    const runtime = ManagedRuntime.make(
      Authenticator.layer([Effect.succeed(apiKeyProvider(counter))], { credentials: { apiKeyHeader: "x-service-key" } })
    )
    const context = TrpcContext.make(runtime, { headers: () => ({ "x-service-key": "k-1" }) })
    expect((await context.auth.principal()).id).toBe("service")
    await runtime.dispose()
  })
})

describe("TrpcContext refusals", () => {
  it("are answers, not unhandled errors the runtime logs", async () => {
    const lines: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => lines.push(`${logLevel.label} ${String(message)}`))
    const runtime = ManagedRuntime.make(
      Layer.mergeAll(
        Authenticator.layer([Effect.succeed(apiKeyProvider({ calls: 0 }))]),
        Logger.replace(Logger.defaultLogger, logger),
        Logger.minimumLogLevel(LogLevel.All)
      )
    )
    for (const key of ["k-2", undefined]) {
      const context = TrpcContext.make(runtime, { headers: () => (key === undefined ? {} : { "x-api-key": key }) })
      expect((await rejection(context.auth.principal())).code).toBe("UNAUTHORIZED")
    }
    await runtime.runPromise(Effect.logDebug("logger check"))
    expect(lines).toContain("DEBUG logger check")
    expect(lines.filter((line) => line.includes("unhandled"))).toEqual([])
    await runtime.dispose()
  })
})

describe("TrpcContext reads connectionParams only where headers cannot be sent", () => {
  const runtime = () =>
    ManagedRuntime.make(Authenticator.layer([Effect.succeed(Fixture.countingProvider({ calls: 0 }))]))

  it("a query's connectionParams are ignored", async () => {
    const app = runtime()
    const context = TrpcContext.make(app, { headers: () => ({}), info: queryInfo({ authorization: "Bearer alice" }) })
    expect((await rejection(context.auth.principal())).code).toBe("UNAUTHORIZED")
    await app.dispose()
  })

  it("a subscription's and a WebSocket connection's connectionParams are read", async () => {
    const app = runtime()
    const subscription = TrpcContext.make(app, {
      headers: () => ({}),
      info: { ...queryInfo({ authorization: "Bearer alice" }), type: "subscription" }
    })
    expect((await subscription.auth.principal()).id).toBe("alice")
    const socket = TrpcContext.make(app, { headers: () => ({}), info: webSocketInfo({ authorization: "Bearer bob" }) })
    expect((await socket.auth.principal()).id).toBe("bob")
    await app.dispose()
  })
})

describe("TrpcContext on a WebSocket connection", () => {
  it("does not remember a failure: the next call authenticates again", async () => {
    const counter = { calls: 0 }
    const app = ManagedRuntime.make(Authenticator.layer([Effect.succeed(Fixture.countingProvider(counter))]))
    let token = "down"
    const socket = TrpcContext.make(app, {
      headers: () => ({}),
      info: {
        ...webSocketInfo(null),
        get connectionParams() {
          return { authorization: `Bearer ${token}` }
        }
      }
    })
    expect((await rejection(socket.auth.principal())).code).toBe("SERVICE_UNAVAILABLE")
    token = "alice"
    expect((await socket.auth.principal()).id).toBe("alice")
    expect(counter.calls).toBe(2)
    await app.dispose()
  })

  it("an HTTP request still remembers its failure, so a batch fails fast", async () => {
    const counter = { calls: 0 }
    const app = ManagedRuntime.make(Authenticator.layer([Effect.succeed(Fixture.countingProvider(counter))]))
    const request = TrpcContext.make(app, { headers: () => ({ authorization: "Bearer down" }), info: queryInfo(null) })
    await rejection(request.auth.principal())
    await rejection(request.auth.principal())
    expect(counter.calls).toBe(1)
    await app.dispose()
  })

  it("authenticates again once the remembered principal's token has expired", async () => {
    const counter = { calls: 0 }
    const app = ManagedRuntime.make(Authenticator.layer([Effect.succeed(expiringProvider(counter, -1))]))
    const socket = TrpcContext.make(app, { headers: () => ({}), info: webSocketInfo({ authorization: "Bearer t" }) })
    await socket.auth.principal()
    await socket.auth.principal()
    expect(counter.calls).toBe(2)
    await app.dispose()
  })

  it("keeps a principal whose token is still valid", async () => {
    const counter = { calls: 0 }
    const app = ManagedRuntime.make(Authenticator.layer([Effect.succeed(expiringProvider(counter, 3600))]))
    const socket = TrpcContext.make(app, { headers: () => ({}), info: webSocketInfo({ authorization: "Bearer t" }) })
    await socket.auth.principal()
    await socket.auth.principal()
    expect(counter.calls).toBe(1)
    await app.dispose()
  })
})

describe("TrpcAuth.runEffect", () => {
  const principal = Effect.runSync(Principal.make(Identity.make({ id: "alice", kind: "user", provider: "test" })))

  it("a runtime whose layer fails to build is 503", async () => {
    const broken = Layer.fail("no database") as Layer.Layer<Authenticator.Authenticator, string>
    const app = ManagedRuntime.make(broken)
    const context = TrpcContext.make(app, { headers: () => ({}) })
    const error = await rejection(TrpcAuth.runEffect({ ...context, principal }, Effect.succeed(1)))
    expect(error).toBeInstanceOf(TRPCError)
    expect(error.code).toBe("SERVICE_UNAVAILABLE")
    await app.dispose().catch(() => undefined)
  })

  it("throws only TRPCErrors: a plain failure is a fixed 500 with the error as cause", async () => {
    const app = ManagedRuntime.make(Authenticator.layer([Effect.succeed(Fixture.countingProvider({ calls: 0 }))]))
    const context = TrpcContext.make(app, { headers: () => ({}) })
    const leak = new Error(Fixture.leakyMessage)
    const error = await rejection(TrpcAuth.runEffect({ ...context, principal }, Effect.fail(leak)))
    expect(error).toBeInstanceOf(TRPCError)
    expect(error.code).toBe("INTERNAL_SERVER_ERROR")
    expect(error.message).toBe("The request could not be processed")
    expect(error.cause).toBe(leak)
    const own = new TRPCError({ code: "NOT_FOUND", message: "No such order" })
    expect(await rejection(TrpcAuth.runEffect({ ...context, principal }, Effect.fail(own)))).toBe(own)
    const plain = await rejection(TrpcAuth.runEffect({ ...context, principal }, Effect.fail("a string")))
    expect(plain.code).toBe("INTERNAL_SERVER_ERROR")
    await app.dispose()
  })
})
