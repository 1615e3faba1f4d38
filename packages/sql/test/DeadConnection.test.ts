// Connections the network silently lost (a failover, a firewall or NAT dropping their state): their
// bytes vanish both ways while new connections work. The pool must destroy them and open fresh ones
// within the socket timeout, without rebuilding the layer.
import { AuthError, type GrantStore } from "@effect-auth/core"
import { Migrations, SqlDatabase, SqlGrantStore } from "@effect-auth/sql"
import { Databases } from "@effect-auth/testing"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Net from "node:net"

interface BlackHoleProxy {
  readonly port: number
  /** Connections accepted so far. */
  readonly accepted: () => number
  /** From now on drops every byte of the connections open now, both ways, and keeps them open. */
  readonly blackHole: () => void
  /** Black-holed connections the client has closed. */
  readonly closedBlackHoled: () => number
}

/** A TCP proxy on 127.0.0.1 that can silently lose its open connections while forwarding new ones. */
const blackHoleProxy = (target: { readonly host: string; readonly port: number }) =>
  Effect.acquireRelease(
    Effect.async<{ readonly proxy: BlackHoleProxy; readonly close: () => Promise<void> }>((resume) => {
      const open = new Map<Net.Socket, { dropped: boolean }>()
      const sockets = new Set<Net.Socket>()
      let accepted = 0
      let closedBlackHoled = 0
      const server = Net.createServer((client) => {
        accepted++
        const state = { dropped: false }
        const upstream = Net.connect(target)
        open.set(client, state)
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
        }
        client.on("data", (data) => void (state.dropped || upstream.write(data)))
        upstream.on("data", (data) => void (state.dropped || client.write(data)))
        client.on("error", () => client.destroy())
        upstream.on("error", () => upstream.destroy())
        client.on("close", () => {
          open.delete(client)
          if (state.dropped) closedBlackHoled++
          upstream.destroy()
        })
        // A lost connection tells the client nothing, not even that the server closed it.
        upstream.on("close", () => void (state.dropped || client.destroy()))
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(
          Effect.succeed({
            close: () =>
              new Promise<void>((done) => {
                for (const socket of sockets) socket.destroy()
                server.close(() => done())
              }),
            proxy: {
              port,
              accepted: () => accepted,
              blackHole: () => {
                for (const state of open.values()) state.dropped = true
              },
              closedBlackHoled: () => closedBlackHoled
            }
          })
        )
      })
    }),
    ({ close }) => Effect.promise(close)
  ).pipe(Effect.map(({ proxy }) => proxy))

const since = (start: number) => Date.now() - start

const queryTimeout = Duration.millis(300)
const socketTimeout = Duration.seconds(3)
// What a 503 may take beyond the query timeout (scheduling on a busy machine).
const margin = 700
// How long the pool may take, after the connections went dead, to answer again: the socket timeout
// and the query timeout, plus a margin.
const recoveryBound = 10_000

describe("SqlDatabase socketTimeout", () => {
  const build = (options: Partial<SqlDatabase.Options>) =>
    Effect.exit(Effect.scoped(Layer.build(SqlDatabase.layer({ url: Redacted.make("sqlite::memory:"), ...options }))))

  it.effect("is at least 3 seconds and finite", () =>
    Effect.gen(function* () {
      for (const socketTimeout of ["2 seconds", "0 millis", Duration.infinity] as const) {
        const exit = yield* build({ socketTimeout })
        expect(Exit.isFailure(exit) && ConfigError.isConfigError(Cause.squash(exit.cause))).toBe(true)
      }
      expect(Exit.isSuccess(yield* build({ socketTimeout: "3 seconds" }))).toBe(true)
    })
  )

  it.effect("is read from AUTH_DATABASE_SOCKET_TIMEOUT", () =>
    Effect.gen(function* () {
      const withSocketTimeout = (value: string) =>
        Effect.withConfigProvider(
          ConfigProvider.fromMap(
            new Map([
              ["AUTH_DATABASE_URL", "sqlite::memory:"],
              ["AUTH_DATABASE_SOCKET_TIMEOUT", value]
            ])
          )
        )
      const rejected = yield* Effect.exit(Effect.scoped(Layer.build(SqlDatabase.layerConfig))).pipe(
        withSocketTimeout("1 second")
      )
      expect(Exit.isFailure(rejected)).toBe(true)
      const accepted = yield* Effect.exit(Effect.scoped(Layer.build(SqlDatabase.layerConfig))).pipe(
        withSocketTimeout("5 seconds")
      )
      expect(Exit.isSuccess(accepted)).toBe(true)
    })
  )
})

const sleepQuery = (sql: SqlClient.SqlClient) =>
  sql.onDialectOrElse({
    pg: () => sql`SELECT pg_sleep(0.2)::text AS slept`,
    orElse: () => sql`SELECT SLEEP(0.2) AS slept`
  })

const suite = (dialect: Databases.Dialect) => {
  const target = { host: dialect.host ?? "127.0.0.1", port: dialect.port ?? 0 }

  /** A fresh, migrated database, dropped when the scope closes. */
  const migratedDatabase = Effect.acquireRelease(
    Effect.promise(() => dialect.create()),
    (database) => Effect.promise(() => database.drop())
  ).pipe(
    Effect.tap((database) =>
      Migrations.run().pipe(Effect.provide(SqlDatabase.layer({ url: Redacted.make(database.url) })))
    )
  )

  /** A pool of 2 through a black-hole proxy, with both connections open, and a grant store over it. */
  const setUp = (options: { readonly socketTimeout: Duration.DurationInput }) =>
    Effect.gen(function* () {
      const database = yield* migratedDatabase
      const proxy = yield* blackHoleProxy(target)
      const url = new URL(database.url)
      url.host = `127.0.0.1:${proxy.port}`
      const scope = yield* Effect.scope
      const layerScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      const context = yield* Layer.buildWithScope(
        SqlDatabase.layer({ url: Redacted.make(url.href), poolSize: 2, socketTimeout: options.socketTimeout }),
        layerScope
      )
      const sql = Context.get(context, SqlClient.SqlClient)
      const store: GrantStore.GrantStore = yield* SqlGrantStore.make({ queryTimeout }).pipe(
        Effect.provideService(SqlClient.SqlClient, sql)
      )
      yield* Effect.all([sleepQuery(sql), sleepQuery(sql)], { concurrency: "unbounded" })
      expect(proxy.accepted()).toBe(2)
      expect(yield* store.load("alice")).toStrictEqual({ groups: [], roles: [], permissions: [] })
      return { proxy, store, layerScope }
    })

  /** Two loads at once, one per connection: both fail with ProviderUnavailable within the query timeout. */
  const bothUnavailable = (store: GrantStore.GrantStore) =>
    Effect.gen(function* () {
      const start = Date.now()
      const errors = yield* Effect.all([Effect.flip(store.load("alice")), Effect.flip(store.load("bob"))], {
        concurrency: "unbounded"
      })
      const elapsed = since(start)
      for (const error of errors) expect(error).toBeInstanceOf(AuthError.ProviderUnavailable)
      expect(elapsed).toBeLessThan(Duration.toMillis(queryTimeout) + margin)
    })

  it.scopedLive(
    "a silently lost connection is destroyed and replaced within the socket timeout",
    () =>
      Effect.gen(function* () {
        const { proxy, store } = yield* setUp({ socketTimeout })
        proxy.blackHole()
        const lost = Date.now()
        yield* bothUnavailable(store)

        // Requests keep getting 503s while the lost connections hold the pool, then succeed again on
        // fresh connections, with the same layer.
        let recovered: number | undefined
        while (recovered === undefined && since(lost) < recoveryBound + 5_000) {
          const result = yield* Effect.either(store.load("alice"))
          if (result._tag === "Right") recovered = since(lost)
          else {
            expect(result.left).toBeInstanceOf(AuthError.ProviderUnavailable)
            yield* Effect.sleep("100 millis")
          }
        }
        expect(recovered, "the pool did not recover").toBeDefined()
        expect(recovered).toBeLessThan(recoveryBound)
        expect(recovered).toBeLessThan(Duration.toMillis(socketTimeout) + Duration.toMillis(queryTimeout) + margin)
        // Both lost connections were closed by the client, and fresh ones opened.
        expect(proxy.closedBlackHoled()).toBe(2)
        expect(proxy.accepted()).toBeGreaterThan(2)
        // The recovery holds: many loads, each on a live connection.
        for (let i = 0; i < 10; i++) expect((yield* store.load("alice")).permissions).toStrictEqual([])
      }),
    30_000
  )

  it.scopedLive(
    "closing the layer with lost connections takes about a second, whatever the socket timeout",
    () =>
      Effect.gen(function* () {
        const { proxy, store, layerScope } = yield* setUp({ socketTimeout: "60 seconds" })
        proxy.blackHole()
        yield* bothUnavailable(store)
        const start = Date.now()
        yield* Scope.close(layerScope, Exit.void)
        const elapsed = since(start)
        expect(elapsed).toBeLessThan(3_000)
        // The lost connections are destroyed, not left to the kernel.
        yield* Effect.sleep("1500 millis")
        expect(proxy.closedBlackHoled()).toBe(2)
      }),
    30_000
  )
}

for (const dialect of Databases.all) {
  if (dialect.name === "sqlite") continue
  describe.runIf(await dialect.shouldRun())(`SqlDatabase on ${dialect.name}: connections lost silently`, () =>
    suite(dialect)
  )
}
