// PostgreSQL and MariaDB for the CLI's suites, each test file in a database of its own: a fresh
// PostgreSQL schema, a fresh MariaDB database (the same recipe as the SQL stores' own suites).
import { Services } from "@effect-auth/testing"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"

export interface TestDatabase {
  /** A URL for `--database`, pointing at a fresh, empty database. */
  readonly url: string
  /** Drops the database. */
  readonly drop: () => Promise<void>
}

export interface Server {
  readonly name: "PostgreSQL" | "MariaDB"
  /** Whether the suite should run here (the service answers, or services are required). */
  readonly run: boolean
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

/**
 * PostgreSQL (user postgres, trust authentication). The URL carries a password the server does not ask
 * for, so the suite also shows that it is never printed.
 */
export const pg: Server = {
  name: "PostgreSQL",
  run: await Services.shouldRun("PostgreSQL (for the CLI's SQL tests)", pgService),
  create: async () => {
    const schema = uniqueName()
    await psql(`CREATE SCHEMA ${schema};`)
    return {
      url: `postgres://postgres:never-shown-pw@${pgService.host}:${pgService.port}/test?options=-c%20search_path%3D${schema}`,
      drop: () => psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE;`)
    }
  }
}

/** MariaDB (user root, no password). */
export const mysql: Server = {
  name: "MariaDB",
  run: await Services.shouldRun("MariaDB (for the CLI's SQL tests)", mysqlService),
  create: async () => {
    const database = uniqueName()
    await mariadb(`CREATE DATABASE ${database};`)
    return {
      url: `mysql://root@${mysqlService.host}:${mysqlService.port}/${database}`,
      drop: () => mariadb(`DROP DATABASE IF EXISTS ${database};`)
    }
  }
}
