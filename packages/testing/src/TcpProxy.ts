/**
 * A TCP proxy on 127.0.0.1 in front of a server (Redis, PostgreSQL, MariaDB, ...), so a test can take
 * that server away from the code under test, and give it back, without stopping it for every other test
 * that shares it.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"

/**
 * Where the proxy forwards to.
 *
 * @since 0.1.0
 */
export interface Target {
  readonly host: string
  readonly port: number
}

/**
 * @since 0.1.0
 */
export interface TcpProxyOptions {
  /** The port on 127.0.0.1 to listen on; default 0 (any free port). */
  readonly port?: number | undefined
}

/**
 * A running proxy. Its methods never reject: each is safe to call in any state, any number of times.
 *
 * @since 0.1.0
 */
export interface TcpProxy {
  /** The port on 127.0.0.1 the proxy listens on; it keeps it across `cut` and `restore`. */
  readonly port: number
  /** Stops accepting connections and drops the open ones, as if the server behind were gone. */
  readonly cut: () => Promise<void>
  /** Keeps connections open (and accepts new ones) but forwards nothing either way: a hung server. */
  readonly stall: () => Promise<void>
  /** Undoes `cut` (listens again on the same port) or `stall` (drops the stalled connections). */
  readonly restore: () => Promise<void>
  /** Stops listening and drops every connection. */
  readonly close: () => Promise<void>
}

/**
 * Starts a proxy on 127.0.0.1 that forwards each connection to `target`.
 *
 * @example
 * const proxy = await TcpProxy.start({ host: "127.0.0.1", port: 6379 })
 * // point the code under test at `redis://127.0.0.1:${proxy.port}`, then:
 * await proxy.cut()
 * await proxy.restore()
 * await proxy.close()
 *
 * @since 0.1.0
 */
export const start = (target: Target, options: TcpProxyOptions = {}): Promise<TcpProxy> =>
  new Promise<TcpProxy>((resolve, reject) => {
    const sockets = new Set<Net.Socket>()
    let stalled = false
    const server = Net.createServer((client) => {
      const upstream = Net.connect({ host: target.host, port: target.port })
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => {
          client.destroy()
          upstream.destroy()
        })
      }
      // Not `pipe`: a stall must hold the bytes back, not buffer them for later.
      client.on("data", (data) => void (stalled || upstream.write(data)))
      upstream.on("data", (data) => void (stalled || client.write(data)))
      client.on("close", () => upstream.destroy())
      upstream.on("close", () => client.destroy())
    })
    const dropAll = () => {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    }
    const cut = () =>
      new Promise<void>((done) => {
        dropAll()
        if (!server.listening) return done()
        server.close(() => done())
      })
    const listen = (port: number) =>
      new Promise<void>((done, failed) => {
        server.once("error", failed)
        server.listen(port, "127.0.0.1", () => {
          server.off("error", failed)
          done()
        })
      })
    listen(options.port ?? 0).then(() => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resolve({
        port,
        cut,
        stall: () => {
          stalled = true
          return Promise.resolve()
        },
        restore: () => {
          if (stalled) {
            // A stalled connection has lost bytes in both directions: clients must start over.
            stalled = false
            dropAll()
          }
          return server.listening ? Promise.resolve() : listen(port)
        },
        close: cut
      })
    }, reject)
  })

/**
 * `start` as a scoped resource: the proxy closes when the scope does.
 *
 * @example
 * it.scopedLive("survives an outage", () => Effect.gen(function* () {
 *   const proxy = yield* TcpProxy.scoped({ host: "127.0.0.1", port: 6379 })
 *   yield* Effect.promise(() => proxy.cut())
 * }))
 *
 * @since 0.1.0
 */
export const scoped = (target: Target, options?: TcpProxyOptions): Effect.Effect<TcpProxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(target, options)),
    (proxy) => Effect.promise(() => proxy.close())
  )
