import { Issuer } from "@effect-auth/testing"
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client"
import type { AddressInfo } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import * as App from "../src/App.js"

const audience = "effect-auth-demo"
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** The example app on a free port, trusting a fresh dev issuer. */
const start = async (rateLimit?: number) => {
  const issuer = await Issuer.start()
  cleanups.push(() => issuer.close())
  const runtime = App.runtime({ issuer: issuer.issuer, audience, rateLimit })
  const server = App.server(runtime)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  cleanups.push(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await runtime.dispose()
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const mint = (subject: string, groups: ReadonlyArray<string>) =>
    issuer.mint({ groups }, { subject, audience, expiresIn: 600 })
  return { issuer, url, alice: await mint("alice", ["admin"]), bob: await mint("bob", ["staff"]) }
}

/** A real @trpc/client over real fetch, noting each HTTP status and headers it receives. */
const client = (url: string, token?: string) => {
  const seen: Array<{ status: number; headers: Headers }> = []
  const trpc = createTRPCClient<App.AppRouter>({
    links: [
      httpLink({
        url,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        fetch: async (input: RequestInfo | URL, init?: unknown) => {
          const response = await fetch(input, init as RequestInit)
          seen.push({ status: response.status, headers: response.headers })
          return response
        }
      })
    ]
  })
  return { trpc, seen }
}

const failure = (call: Promise<unknown>) =>
  call.then(
    () => {
      throw new Error("expected the call to fail")
    },
    (error: unknown) => {
      if (!(error instanceof TRPCClientError)) throw error
      return error
    }
  )

describe("examples/trpc", () => {
  it("answers public, authenticated and admin procedures: 200 / 401 / 403", async () => {
    const app = await start()
    const anonymous = client(app.url)
    expect(await anonymous.trpc.health.query()).toEqual({ status: "ok" })
    const unauthorized = await failure(anonymous.trpc.whoami.query())
    expect(unauthorized.data?.code).toBe("UNAUTHORIZED")
    expect(anonymous.seen.map((s) => s.status)).toEqual([200, 401])
    expect(anonymous.seen[1]!.headers.get("www-authenticate")).toMatch(/^Bearer/)

    const alice = client(app.url, app.alice)
    expect(await alice.trpc.whoami.query()).toMatchObject({ id: "alice", groups: ["admin"] })
    expect(await alice.trpc.admin.stats.query()).toEqual({ requestedBy: "alice", users: 2 })
    expect(alice.seen.map((s) => s.status)).toEqual([200, 200])

    const bob = client(app.url, app.bob)
    const forbidden = await failure(bob.trpc.admin.stats.query())
    expect(forbidden.data?.code).toBe("FORBIDDEN")
    expect(bob.seen[0]!.status).toBe(403)

    const tampered = client(app.url, `${app.bob}x`)
    const invalid = await failure(tampered.trpc.whoami.query())
    expect(invalid.data?.code).toBe("UNAUTHORIZED")
    expect(JSON.stringify(invalid.shape)).not.toContain(app.bob)
    expect(tampered.seen[0]!.status).toBe(401)
  })

  it("rate-limits each caller: 429 with Retry-After", async () => {
    const app = await start(2)
    const alice = client(app.url, app.alice)
    await alice.trpc.whoami.query()
    await alice.trpc.whoami.query()
    const limited = await failure(alice.trpc.whoami.query())
    expect(limited.data?.code).toBe("TOO_MANY_REQUESTS")
    expect(alice.seen.map((s) => s.status)).toEqual([200, 200, 429])
    expect(Number(alice.seen[2]!.headers.get("retry-after"))).toBeGreaterThan(0)
    // Another caller has its own budget.
    expect(await client(app.url, app.bob).trpc.whoami.query()).toMatchObject({ id: "bob" })
  })

  it("answers 503 while the issuer's keys cannot be fetched, and public procedures keep working", async () => {
    const app = await start()
    app.issuer.setFault({ _tag: "Down" })
    const alice = client(app.url, app.alice)
    expect(await alice.trpc.health.query()).toEqual({ status: "ok" })
    const unavailable = await failure(alice.trpc.whoami.query())
    expect(unavailable.data?.code).toBe("SERVICE_UNAVAILABLE")
    expect(unavailable.message).not.toContain("127.0.0.1")
    expect(alice.seen.map((s) => s.status)).toEqual([200, 503])
    expect(alice.seen[1]!.headers.get("retry-after")).toBe("5")
    expect(app.issuer.requests.jwks + app.issuer.requests.discovery).toBeGreaterThan(0)
  })
})
