import { SqlDatabase } from "@effect-auth/sql"
import { Databases, TcpProxy } from "@effect-auth/testing"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const password = "Wr0ng-S3cret"

const captureLogs = () => {
  const lines: Array<string> = []
  return {
    lines,
    layer: Logger.replace(
      Logger.defaultLogger,
      Logger.make((options) => void lines.push(Logger.logfmtLogger.log(options)))
    )
  }
}

/** Builds a layer and answers its failure with everything a log or a client could show of it. */
const buildFailure = <E>(layer: Layer.Layer<SqlClient.SqlClient, E>) =>
  Effect.gen(function* () {
    const logs = captureLogs()
    const exit = yield* Effect.exit(Effect.scoped(Layer.build(layer))).pipe(Effect.provide(logs.layer))
    if (!Exit.isFailure(exit)) return yield* Effect.dieMessage("the layer was built")
    const error = Cause.squash(exit.cause)
    return {
      error,
      shown: [String(error), JSON.stringify(error), Cause.pretty(exit.cause), ...logs.lines].join("\n")
    }
  })

const withConfig = (values: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values))))

describe("SqlDatabase.dialectOf", () => {
  it("names the dialect by the URL scheme", () => {
    expect(SqlDatabase.dialectOf("postgres://u:p@db:5432/auth")).toBe("pg")
    expect(SqlDatabase.dialectOf("postgresql://db/auth")).toBe("pg")
    expect(SqlDatabase.dialectOf("POSTGRES://db/auth")).toBe("pg")
    expect(SqlDatabase.dialectOf("mysql://root@db/auth")).toBe("mysql")
    expect(SqlDatabase.dialectOf("mariadb://root@db/auth")).toBe("mysql")
    expect(SqlDatabase.dialectOf("sqlite:./auth.db")).toBe("sqlite")
    expect(SqlDatabase.dialectOf("sqlite::memory:")).toBe("sqlite")
  })

  it("answers undefined for any other URL", () => {
    expect(SqlDatabase.dialectOf("mongodb://db/auth")).toBeUndefined()
    expect(SqlDatabase.dialectOf("postgres:db")).toBeUndefined()
    expect(SqlDatabase.dialectOf("./auth.db")).toBeUndefined()
    expect(SqlDatabase.dialectOf("")).toBeUndefined()
  })
})

describe("SqlDatabase.redactUrl", () => {
  it("replaces the password and keeps the rest", () => {
    expect(SqlDatabase.redactUrl(`postgres://auth:${password}@db:5432/auth`)).toBe("postgres://auth:***@db:5432/auth")
    expect(SqlDatabase.redactUrl(`mysql://root:${password}@db/auth?ssl=true`)).toBe("mysql://root:***@db/auth?ssl=true")
    expect(SqlDatabase.redactUrl("mysql://root:p%40ss%3Aword@db/auth")).toBe("mysql://root:***@db/auth")
  })

  it("replaces secrets given as query parameters", () => {
    const redacted = SqlDatabase.redactUrl(
      `postgres://auth@db/auth?password=${password}&sslkey=/k.pem&application_name=x`
    )
    expect(redacted).not.toContain(password)
    expect(redacted).toBe("postgres://auth@db/auth?password=***&sslkey=***&application_name=x")
  })

  it("leaves URLs without secrets as they are", () => {
    expect(SqlDatabase.redactUrl("postgres://auth@db:5432/auth")).toBe("postgres://auth@db:5432/auth")
    expect(SqlDatabase.redactUrl("sqlite:/var/lib/auth.db")).toBe("sqlite:/var/lib/auth.db")
    expect(SqlDatabase.redactUrl("sqlite::memory:")).toBe("sqlite::memory:")
  })

  it("keeps only the scheme of a URL it cannot parse", () => {
    expect(SqlDatabase.redactUrl(`postgres://auth:${password}@db:port/auth`)).toBe("postgres:***")
    expect(SqlDatabase.redactUrl(password)).toBe("***")
  })
})

describe("SqlDatabase.layer options", () => {
  it.effect("an unsupported URL is a ConfigError naming it without its password", () =>
    Effect.gen(function* () {
      const { error, shown } = yield* buildFailure(
        SqlDatabase.layer({ url: Redacted.make(`mongodb://auth:${password}@db/auth`) })
      )
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(shown).toContain("mongodb://auth:***@db/auth")
      expect(shown).not.toContain(password)
    })
  )

  it.effect("a malformed URL is a ConfigError without its password", () =>
    Effect.gen(function* () {
      for (const url of [`postgres://auth:${password}@db:port/auth`, `mysql://auth:${password}@`, "sqlite:"]) {
        const { error, shown } = yield* buildFailure(SqlDatabase.layer({ url: Redacted.make(url) }))
        expect(ConfigError.isConfigError(error), url).toBe(true)
        expect(shown).toContain("Malformed database URL")
        expect(shown).not.toContain(password)
      }
    })
  )

  it.effect("a pool size outside 1..100 or a non-positive connect timeout is a ConfigError", () =>
    Effect.gen(function* () {
      const url = Redacted.make("sqlite::memory:")
      for (const options of [{ poolSize: 0 }, { poolSize: 101 }, { poolSize: 2.5 }, { connectTimeout: 0 }]) {
        const { error } = yield* buildFailure(SqlDatabase.layer({ url, ...options }))
        expect(ConfigError.isConfigError(error), JSON.stringify(options)).toBe(true)
      }
    })
  )

  it.effect("layerConfig rejects a missing URL and a pool size outside 1..100", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<Record<string, string>> = [
        {},
        { AUTH_DATABASE_URL: "sqlite::memory:", AUTH_DATABASE_POOL_SIZE: "0" },
        { AUTH_DATABASE_URL: "sqlite::memory:", AUTH_DATABASE_POOL_SIZE: "101" },
        { AUTH_DATABASE_URL: "sqlite::memory:", AUTH_DATABASE_POOL_SIZE: "ten" },
        { AUTH_DATABASE_URL: "sqlite::memory:", AUTH_DATABASE_CONNECT_TIMEOUT: "soon" }
      ]
      for (const values of cases) {
        const { error } = yield* buildFailure(SqlDatabase.layerConfig).pipe(withConfig(values))
        expect(ConfigError.isConfigError(error), JSON.stringify(values)).toBe(true)
      }
    })
  )

  it.scoped("layerConfig opens the database of AUTH_DATABASE_URL", () =>
    Effect.gen(function* () {
      const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-auth-sql-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true })))
      const file = Path.join(directory, "auth.db")
      const context = yield* Layer.build(SqlDatabase.layerConfig).pipe(
        withConfig({ AUTH_DATABASE_URL: `sqlite:${file}` })
      )
      const sql = Context.get(context, SqlClient.SqlClient)
      yield* sql`CREATE TABLE probe (id INTEGER)`
      expect(Fs.existsSync(file)).toBe(true)
    })
  )
})

for (const dialect of Databases.all) {
  describe.runIf(await dialect.shouldRun())(`SqlDatabase on ${dialect.name}`, () => {
    let database: Databases.Database | undefined
    const url = () => {
      if (database === undefined) throw new Error("the database was not created")
      return database.url
    }
    /** The test database's URL with a password and another host:port. */
    const variant = (change: { readonly password?: string; readonly host?: string }) => {
      const changed = new URL(url())
      if (change.password !== undefined) changed.password = change.password
      if (change.host !== undefined) changed.host = change.host
      return changed.href
    }

    beforeAll(async () => {
      database = await dialect.create()
    })
    afterAll(async () => {
      await database?.drop()
    })

    it.scoped("connects, and logs the dialect and the URL once", () =>
      Effect.gen(function* () {
        const logs = captureLogs()
        const context = yield* Layer.build(SqlDatabase.layer({ url: Redacted.make(url()) })).pipe(
          Effect.provide(logs.layer)
        )
        const sql = Context.get(context, SqlClient.SqlClient)
        const rows = yield* sql<{ readonly answer: number }>`SELECT 1 + 1 AS answer`
        expect(Number(rows[0]?.answer)).toBe(2)
        expect(
          sql.onDialectOrElse({ pg: () => "pg", mysql: () => "mysql", sqlite: () => "sqlite", orElse: () => "?" })
        ).toBe(dialect.name)
        expect(logs.lines.filter((line) => line.includes("SQL database"))).toStrictEqual([
          expect.stringContaining(`${dialect.name} at ${SqlDatabase.redactUrl(url())}`)
        ])
      })
    )

    if (dialect.name === "sqlite") return

    it.scoped("opens at most AUTH_DATABASE_POOL_SIZE connections", () =>
      Effect.gen(function* () {
        const context = yield* Layer.build(SqlDatabase.layerConfig).pipe(
          withConfig({ AUTH_DATABASE_URL: url(), AUTH_DATABASE_POOL_SIZE: "3" })
        )
        const sql = Context.get(context, SqlClient.SqlClient)
        const connectionOf = sql.onDialectOrElse({
          pg: () => sql<{ readonly id: number }>`SELECT pg_backend_pid() AS id, pg_sleep(0.3)::text AS slept`,
          orElse: () => sql<{ readonly id: number }>`SELECT CONNECTION_ID() AS id, SLEEP(0.3) AS slept`
        })
        const ids = yield* Effect.all(
          Array.from({ length: 8 }, () => connectionOf),
          { concurrency: "unbounded" }
        )
        expect(new Set(ids.map(([row]) => row?.id)).size).toBe(3)
      })
    )

    // The local PostgreSQL trusts every local connection: only MariaDB checks the password here.
    if (dialect.name === "mysql") {
      it.effect("a wrong password fails the layer without showing the password", () =>
        Effect.gen(function* () {
          const { error, shown } = yield* buildFailure(SqlDatabase.layer({ url: Redacted.make(variant({ password })) }))
          expect(error).toMatchObject({ _tag: "SqlError" })
          expect(shown).toContain("Access denied")
          expect(shown).toContain("root:***@")
          expect(shown).not.toContain(password)
        })
      )
    }

    it.effect("an unknown host fails the layer without showing the password", () =>
      Effect.gen(function* () {
        const unknown = variant({ password, host: `no-such-host.invalid:${dialect.port ?? 0}` })
        const { error, shown } = yield* buildFailure(
          SqlDatabase.layer({ url: Redacted.make(unknown), connectTimeout: "3 seconds" })
        )
        expect(error).toMatchObject({ _tag: "SqlError" })
        expect(shown).toContain(`${dialect.name} database at ${SqlDatabase.redactUrl(unknown)}`)
        expect(shown).not.toContain(password)
      })
    )

    it.scopedLive("a server that never answers fails the layer within AUTH_DATABASE_CONNECT_TIMEOUT", () =>
      Effect.gen(function* () {
        const proxy = yield* TcpProxy.scoped({ host: dialect.host ?? "127.0.0.1", port: dialect.port ?? 0 })
        yield* Effect.promise(() => proxy.stall())
        const hung = variant({ password, host: `127.0.0.1:${proxy.port}` })
        const start = Date.now()
        const { error, shown } = yield* buildFailure(SqlDatabase.layerConfig).pipe(
          withConfig({ AUTH_DATABASE_URL: hung, AUTH_DATABASE_CONNECT_TIMEOUT: "300 millis" })
        )
        const elapsed = Date.now() - start
        expect(error).toMatchObject({ _tag: "SqlError" })
        expect(elapsed).toBeGreaterThanOrEqual(250)
        expect(elapsed).toBeLessThan(1300)
        expect(shown).not.toContain(password)
        expect(shown).toContain(SqlDatabase.redactUrl(hung))
      })
    )
  })
}
