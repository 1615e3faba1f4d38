/**
 * A fresh, empty database per test file on each of the three SQL dialects: a new PostgreSQL schema, a new
 * MariaDB database, a new SQLite file. A suite iterates `all` and runs one body unchanged on every dialect,
 * skipping (or, with `AUTH_TEST_REQUIRE_SERVICES=1`, failing) where a server does not answer.
 *
 * The servers are the local test services: PostgreSQL on `127.0.0.1:5432` (user `postgres`, trust
 * authentication, database `test`) and MariaDB on `127.0.0.1:3306` (user `root`, no password). Databases
 * are created and dropped with the `psql` and `mariadb` command-line clients, which must be on the `PATH`.
 *
 * @since 0.1.0
 */
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Services from "./Services.js"

/**
 * How a URL of a test database is written: through another port (a `TcpProxy` in front of the server),
 * with a password (the test servers ignore it or, for MariaDB, refuse it; either way the code under test
 * must never print it).
 *
 * @since 0.1.0
 */
export interface UrlOptions {
  readonly port?: number | undefined
  readonly password?: string | undefined
}

/**
 * A fresh, empty database of one test file.
 *
 * @since 0.1.0
 */
export interface Database {
  /** A URL of the database (`postgres://`, `mysql://` or `sqlite:`), e.g. for `SqlDatabase.layer`. */
  readonly url: string
  /** The URL with another port or password; SQLite has neither, so there it is `url`. */
  readonly urlWith: (options: UrlOptions) => string
  /** Drops the database (schema, database or file) and everything in it. */
  readonly drop: () => Promise<void>
}

/**
 * One of the three dialects. `host` and `port` are the server's, absent for SQLite.
 *
 * @since 0.1.0
 */
export interface Dialect {
  /** The dialect, as `@effect/sql` names it. */
  readonly name: "pg" | "mysql" | "sqlite"
  /** The server's product name, for test titles and warnings. */
  readonly title: "PostgreSQL" | "MariaDB" | "SQLite"
  readonly host?: string | undefined
  readonly port?: number | undefined
  /**
   * Whether a suite on this dialect should run: `Services.shouldRun` on the server (probed once, then
   * remembered), always `true` for SQLite.
   */
  readonly shouldRun: () => Promise<boolean>
  /** Creates a fresh, empty database; `options.password` goes into its `url`. */
  readonly create: (options?: Pick<UrlOptions, "password">) => Promise<Database>
}

/**
 * A dialect with a server to reach, so `host` and `port` are known.
 *
 * @since 0.1.0
 */
export interface ServerDialect extends Dialect {
  readonly host: string
  readonly port: number
}

/** Letters, digits and `_` only, so it is a valid unquoted identifier on every dialect. */
const uniqueName = () => `t_${Date.now().toString(36)}_${Crypto.randomBytes(4).toString("hex")}`

/** Creating or dropping a database takes well under this, even on a loaded machine. */
const clientTimeoutMillis = 30_000
const maxStderrBytes = 8 * 1024

/** Runs `statement` through a command-line client; rejects with the client's (bounded) error output. */
const runClient = (command: string, args: ReadonlyArray<string>, statement: string) =>
  new Promise<void>((resolve, reject) => {
    const child = ChildProcess.spawn(command, args, {
      stdio: ["pipe", "ignore", "pipe"],
      timeout: clientTimeoutMillis
    })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => {
      if (stderr.length < maxStderrBytes) stderr += chunk.toString().slice(0, maxStderrBytes - stderr.length)
    })
    child.on("error", reject)
    child.on("close", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${command} failed (${signal ?? `exit ${code}`}): ${stderr}`))
    )
    child.stdin.end(statement)
  })

/** `Services.shouldRun` for one server, probed on first use only. */
const probeOnce = (title: string, service: Services.Service) => {
  let answer: Promise<boolean> | undefined
  return () => (answer ??= Services.shouldRun(title, service))
}

const credentials = (user: string, password: string | undefined) =>
  password === undefined ? user : `${user}:${encodeURIComponent(password)}`

const pgServer = { host: "127.0.0.1", port: 5432 } as const

const psql = (statement: string) =>
  runClient(
    "psql",
    ["-h", pgServer.host, "-p", String(pgServer.port), "-U", "postgres", "-d", "test", "-q", "-v", "ON_ERROR_STOP=1"],
    statement
  )

/**
 * PostgreSQL: each database is a new schema of the database `test`, made the connection's search path by
 * the URL (`?options=-c search_path=...`).
 *
 * @example
 * const database = await Databases.pg.create()
 * // database.url: postgres://postgres@127.0.0.1:5432/test?options=-c%20search_path%3Dt_...
 * await database.drop()
 *
 * @since 0.1.0
 */
export const pg: ServerDialect = {
  name: "pg",
  title: "PostgreSQL",
  ...pgServer,
  shouldRun: probeOnce("PostgreSQL", pgServer),
  create: async (options = {}) => {
    const schema = uniqueName()
    await psql(`CREATE SCHEMA ${schema};`)
    const urlWith = (change: UrlOptions) =>
      `postgres://${credentials("postgres", change.password ?? options.password)}@${pgServer.host}:${
        change.port ?? pgServer.port
      }/test?options=-c%20search_path%3D${schema}`
    return { url: urlWith({}), urlWith, drop: () => psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE;`) }
  }
}

const mysqlServer = { host: "127.0.0.1", port: 3306 } as const

const mariadb = (statement: string) =>
  runClient("mariadb", ["-h", mysqlServer.host, "-P", String(mysqlServer.port), "-u", "root"], statement)

/**
 * MariaDB: each database is a new database. The server refuses a password, so a URL with one cannot
 * connect (a test of a refused login).
 *
 * @since 0.1.0
 */
export const mysql: ServerDialect = {
  name: "mysql",
  title: "MariaDB",
  ...mysqlServer,
  shouldRun: probeOnce("MariaDB", mysqlServer),
  create: async (options = {}) => {
    const database = uniqueName()
    await mariadb(`CREATE DATABASE ${database};`)
    const urlWith = (change: UrlOptions) =>
      `mysql://${credentials("root", change.password ?? options.password)}@${mysqlServer.host}:${
        change.port ?? mysqlServer.port
      }/${database}`
    return { url: urlWith({}), urlWith, drop: () => mariadb(`DROP DATABASE IF EXISTS ${database};`) }
  }
}

/**
 * SQLite: each database is a file in a new temporary directory, removed by `drop`. Always runs.
 *
 * @since 0.1.0
 */
export const sqlite: Dialect = {
  name: "sqlite",
  title: "SQLite",
  shouldRun: () => Promise.resolve(true),
  create: async () => {
    const directory = await Fs.mkdtemp(Path.join(Os.tmpdir(), "effect-auth-test-db-"))
    const url = `sqlite:${Path.join(directory, "auth.db")}`
    return { url, urlWith: () => url, drop: () => Fs.rm(directory, { recursive: true, force: true }) }
  }
}

/**
 * The three dialects, for a suite that runs one body on each.
 *
 * @example
 * for (const dialect of Databases.all) {
 *   describe.runIf(await dialect.shouldRun())(`the store on ${dialect.name}`, () => {
 *     let database: Databases.Database
 *     beforeAll(async () => (database = await dialect.create()))
 *     afterAll(() => database.drop())
 *     // ... tests against database.url
 *   })
 * }
 *
 * @since 0.1.0
 */
export const all: ReadonlyArray<Dialect> = [pg, mysql, sqlite]
