import { Services, TcpProxy } from "@effect-auth/testing"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Net from "node:net"

const servers = new Set<Net.Server>()
const proxies = new Set<TcpProxy.TcpProxy>()

afterEach(async () => {
  await Promise.all([...proxies].map((proxy) => proxy.close()))
  proxies.clear()
  await Promise.all([...servers].map((server) => new Promise((resolve) => server.close(resolve))))
  servers.clear()
})

const portOf = (server: Net.Server) => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : 0
}

/** An echo server on 127.0.0.1; a `PING` line is answered `+PONG` like Redis would. */
const echoServer = () =>
  new Promise<number>((resolve) => {
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      socket.on("error", () => socket.destroy())
      socket.on("data", (data) => socket.write(data.toString() === "PING\r\n" ? "+PONG\r\n" : data))
    })
    server.on("close", () => sockets.forEach((socket) => socket.destroy()))
    servers.add(server)
    server.listen(0, "127.0.0.1", () => resolve(portOf(server)))
  })

const start = async (target: TcpProxy.Target, options?: TcpProxy.TcpProxyOptions) => {
  const proxy = await TcpProxy.start(target, options)
  proxies.add(proxy)
  return proxy
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = portOf(server)
      server.close(() => resolve(port))
    })
  })

/** Connects, sends `text` and answers what came back, or `{ error }` once the connection fails or closes. */
const exchange = (port: number, text: string, timeoutMillis = 2000) =>
  new Promise<{ readonly reply: string } | { readonly error: string }>((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    const done = (result: { readonly reply: string } | { readonly error: string }) => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(timeoutMillis, () => done({ error: "timeout" }))
    socket.once("error", (error: NodeJS.ErrnoException) => done({ error: error.code ?? error.message }))
    socket.once("close", () => done({ error: "closed" }))
    socket.once("connect", () => socket.write(text))
    socket.once("data", (data) => done({ reply: data.toString() }))
  })

/** An open connection through the proxy, to watch what happens to it. */
const connect = (port: number) =>
  new Promise<Net.Socket>((resolve, reject) => {
    const socket = Net.connect({ host: "127.0.0.1", port }, () => resolve(socket))
    socket.once("error", reject)
  })

describe("TcpProxy", () => {
  it("forwards bytes both ways", async () => {
    const proxy = await start({ host: "127.0.0.1", port: await echoServer() })
    expect(proxy.port).toBeGreaterThan(0)
    expect(await exchange(proxy.port, "hello")).toEqual({ reply: "hello" })
  })

  it("cut refuses new connections and drops open ones; restore listens again on the same port", async () => {
    const proxy = await start({ host: "127.0.0.1", port: await echoServer() })
    const open = await connect(proxy.port)
    const dropped = new Promise<void>((resolve) => open.once("close", () => resolve()))
    open.on("error", () => undefined)

    await proxy.cut()
    await dropped
    expect(open.destroyed).toBe(true)
    expect(await exchange(proxy.port, "hello")).toEqual({ error: "ECONNREFUSED" })
    await proxy.cut()

    const port = proxy.port
    await proxy.restore()
    expect(proxy.port).toBe(port)
    expect(await exchange(port, "again")).toEqual({ reply: "again" })
    await proxy.restore()
    expect(await exchange(port, "twice")).toEqual({ reply: "twice" })
  })

  it("stall accepts but forwards nothing; restore drops the stalled connections and forwards again", async () => {
    const proxy = await start({ host: "127.0.0.1", port: await echoServer() })
    await proxy.stall()
    expect(await exchange(proxy.port, "hello", 300)).toEqual({ error: "timeout" })
    const stalled = await connect(proxy.port)
    const dropped = new Promise<void>((resolve) => stalled.once("close", () => resolve()))
    stalled.on("error", () => undefined)
    await proxy.restore()
    await dropped
    expect(await exchange(proxy.port, "hello")).toEqual({ reply: "hello" })
  })

  it("listens on the port it is given", async () => {
    const port = await closedPort()
    const proxy = await start({ host: "127.0.0.1", port: await echoServer() }, { port })
    expect(proxy.port).toBe(port)
    expect(await exchange(port, "fixed")).toEqual({ reply: "fixed" })
  })

  it("rejects when the port is taken", async () => {
    const taken = await echoServer()
    await expect(TcpProxy.start({ host: "127.0.0.1", port: taken }, { port: taken })).rejects.toThrow(/EADDRINUSE/)
  })

  it("drops the client when the target is down", async () => {
    const proxy = await start({ host: "127.0.0.1", port: await closedPort() })
    expect(await exchange(proxy.port, "hello")).toEqual({ error: "closed" })
  })

  it.scopedLive("scoped closes the proxy with its scope", () =>
    Effect.gen(function* () {
      const target = { host: "127.0.0.1", port: yield* Effect.promise(echoServer) }
      const port = yield* Effect.scoped(
        Effect.gen(function* () {
          const proxy = yield* TcpProxy.scoped(target)
          expect(yield* Effect.promise(() => exchange(proxy.port, "scoped"))).toEqual({ reply: "scoped" })
          return proxy.port
        })
      )
      expect(yield* Effect.promise(() => exchange(port, "after"))).toEqual({ error: "ECONNREFUSED" })
    })
  )
})

describe("Services", () => {
  it("isReachable: tcp is true for a listening port and false for a closed one", async () => {
    expect(await Services.isReachable({ host: "127.0.0.1", port: await echoServer() })).toBe(true)
    expect(await Services.isReachable({ host: "127.0.0.1", port: await closedPort(), probe: "tcp" })).toBe(false)
  })

  it("isReachable: redis wants +PONG to a PING", async () => {
    const pong = await echoServer()
    expect(await Services.isReachable({ host: "127.0.0.1", port: pong, probe: "redis" })).toBe(true)
    const silent = Net.createServer((socket) => socket.on("error", () => socket.destroy()))
    servers.add(silent)
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
    const started = Date.now()
    const answer = await Services.isReachable({
      host: "127.0.0.1",
      port: portOf(silent),
      probe: "redis",
      timeoutMillis: 200
    })
    expect(answer).toBe(false)
    expect(Date.now() - started).toBeLessThan(1000)
    silent.close()
    servers.delete(silent)
  })

  it("shouldRun: runs when reachable; skips with a warning, or runs when required", async () => {
    const previous = process.env["AUTH_TEST_REQUIRE_SERVICES"]
    const warn = console.warn
    const warnings: Array<string> = []
    console.warn = (message: string) => void warnings.push(message)
    try {
      const up = { host: "127.0.0.1", port: await echoServer() }
      const down = { host: "127.0.0.1", port: await closedPort() }
      process.env["AUTH_TEST_REQUIRE_SERVICES"] = "0"
      expect(Services.required()).toBe(false)
      expect(await Services.shouldRun("Echo", up)).toBe(true)
      expect(warnings).toEqual([])
      expect(await Services.shouldRun("Echo", down)).toBe(false)
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain(`Echo is not reachable on 127.0.0.1:${down.port}`)
      expect(warnings[0]).toContain("AUTH_TEST_REQUIRE_SERVICES=1")
      process.env["AUTH_TEST_REQUIRE_SERVICES"] = "1"
      expect(Services.required()).toBe(true)
      expect(await Services.shouldRun("Echo", down)).toBe(true)
      expect(warnings).toHaveLength(1)
    } finally {
      console.warn = warn
      if (previous === undefined) delete process.env["AUTH_TEST_REQUIRE_SERVICES"]
      else process.env["AUTH_TEST_REQUIRE_SERVICES"] = previous
    }
  })
})
