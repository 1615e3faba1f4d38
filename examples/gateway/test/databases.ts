/**
 * The three databases the SQL-store tests run the gateway against, each suite in a database of its own:
 * a fresh PostgreSQL schema, a fresh MariaDB database, a fresh SQLite file (as the `sql` package's own
 * suites do). Suites iterate `dialects` with `describe.runIf(dialect.run)`, so one body runs on all three.
 */
import { Services } from "@effect-auth/testing"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"

export interface TestDatabase {
  /** A URL for `AUTH_DATABASE_URL` and `SqlDatabase.layer`, pointing at a fresh, empty database. */
  readonly url: string
  /** Drops the database. */
  readonly drop: () => Promise<void>
}

export interface Dialect {
  readonly name: "pg" | "mysql" | "sqlite"
  /** Whether the suite should run here (the service answers, or services are required). */
  readonly run: boolean
  /** Creates a fresh database. */
  readonly create: () => Promise<TestDatabase>
}

const uniqueName = () => `gw_${Date.now().toString(36)}_${Crypto.randomBytes(4).toString("hex")}`

const sh = (command: string, args: ReadonlyArray<string>, input: string) =>
  new Promise<void>((resolve, reject) => {
    const child = ChildProcess.spawn(command, args, { stdio: ["pipe", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${command} failed: ${stderr}`))))
    child.stdin.end(input)
  })

export const pgService = { host: "127.0.0.1", port: 5432 } as const
export const mysqlService = { host: "127.0.0.1", port: 3306 } as const

const psql = (statement: string) =>
  sh(
    "psql",
    ["-h", pgService.host, "-p", String(pgService.port), "-U", "postgres", "-d", "test", "-q", "-v", "ON_ERROR_STOP=1"],
    statement
  )
const mariadb = (statement: string) =>
  sh("mariadb", ["-h", mysqlService.host, "-P", String(mysqlService.port), "-u", "root"], statement)

/**
 * A URL of the PostgreSQL test database with `schema` as its search path, optionally through another port
 * (a TCP proxy) and with a password (the server's trust authentication accepts any).
 */
export const pgUrl = (schema: string, options: { readonly port?: number; readonly password?: string } = {}) =>
  `postgres://postgres${options.password === undefined ? "" : `:${options.password}`}@${pgService.host}:${
    options.port ?? pgService.port
  }/test?options=-c%20search_path%3D${schema}`

export interface PgDatabase extends TestDatabase {
  readonly schema: string
}

export const createPg = async (): Promise<PgDatabase> => {
  const schema = uniqueName()
  await psql(`CREATE SCHEMA ${schema};`)
  return { schema, url: pgUrl(schema), drop: () => psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE;`) }
}

export const pg: Dialect = {
  name: "pg",
  run: await Services.shouldRun("PostgreSQL (for the gateway's SQL store tests)", pgService),
  create: createPg
}

export const mysql: Dialect = {
  name: "mysql",
  run: await Services.shouldRun("MariaDB (for the gateway's SQL store tests)", mysqlService),
  create: async () => {
    const database = uniqueName()
    await mariadb(`CREATE DATABASE ${database};`)
    return {
      url: `mysql://root@${mysqlService.host}:${mysqlService.port}/${database}`,
      drop: () => mariadb(`DROP DATABASE IF EXISTS ${database};`)
    }
  }
}

export const sqlite: Dialect = {
  name: "sqlite",
  run: true,
  create: async () => {
    const directory = await Fs.mkdtemp(Path.join(Os.tmpdir(), "effect-auth-gateway-sql-"))
    return {
      url: `sqlite:${Path.join(directory, "auth.db")}`,
      drop: () => Fs.rm(directory, { recursive: true, force: true })
    }
  }
}

export const dialects: ReadonlyArray<Dialect> = [pg, mysql, sqlite]
