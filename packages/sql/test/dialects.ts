// The three databases every SQL suite runs against, each test file in a database of its own: a fresh
// PostgreSQL schema, a fresh MariaDB database, a fresh SQLite file. Suites iterate `dialects` with
// `describe.runIf(dialect.run)` so one body runs unchanged on all three.
import { Services } from "@effect-auth/testing"
import * as Crypto from "node:crypto"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export interface TestDatabase {
  /** A URL for `SqlDatabase.layer`, pointing at a fresh, empty database. */
  readonly url: string
  /** Drops the database. */
  readonly drop: () => Promise<void>
}

export interface Dialect {
  readonly name: "pg" | "mysql" | "sqlite"
  /** Whether the suite should run here (the service answers, or services are required). */
  readonly run: boolean
  readonly host?: string
  readonly port?: number
  /** Creates a fresh database for one test file. */
  readonly create: () => Promise<TestDatabase>
}

const uniqueName = () => `t_${Date.now().toString(36)}_${Crypto.randomBytes(4).toString("hex")}`

const sh = (command: string, args: ReadonlyArray<string>, input: string) =>
  new Promise<void>((resolve, reject) => {
    const child = ChildProcess.spawn(command, args, { stdio: ["pipe", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${command} failed: ${stderr}`))))
    child.stdin.end(input)
  })

const pgService = { host: "127.0.0.1", port: 5432 } as const
const mysqlService = { host: "127.0.0.1", port: 3306 } as const

const psql = (statement: string) =>
  sh(
    "psql",
    ["-h", pgService.host, "-p", String(pgService.port), "-U", "postgres", "-d", "test", "-q", "-v", "ON_ERROR_STOP=1"],
    statement
  )
const mariadb = (statement: string) =>
  sh("mariadb", ["-h", mysqlService.host, "-P", String(mysqlService.port), "-u", "root"], statement)

export const pg: Dialect = {
  name: "pg",
  run: await Services.shouldRun("PostgreSQL (for the SQL store tests)", pgService),
  ...pgService,
  create: async () => {
    const schema = uniqueName()
    await psql(`CREATE SCHEMA ${schema};`)
    return {
      url: `postgres://postgres@${pgService.host}:${pgService.port}/test?options=-c%20search_path%3D${schema}`,
      drop: () => psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE;`)
    }
  }
}

export const mysql: Dialect = {
  name: "mysql",
  run: await Services.shouldRun("MariaDB (for the SQL store tests)", mysqlService),
  ...mysqlService,
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
    const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-auth-sql-"))
    return {
      url: `sqlite:${Path.join(directory, "auth.db")}`,
      drop: async () => Fs.rmSync(directory, { recursive: true, force: true })
    }
  }
}

export const dialects: ReadonlyArray<Dialect> = [pg, mysql, sqlite]
