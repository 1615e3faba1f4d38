/**
 * Shared helpers of the gateway's black-box tests: start the built `dist/main.js` as a child process with
 * its own environment in a fresh temporary directory, wait for its "listening on" line, talk HTTP to it,
 * and stop it afterwards (`afterEach(cleanup)`).
 */
import { SqlDatabase } from "@effect-auth/sql"
import { TcpProxy } from "@effect-auth/testing"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const mainJs = fileURLToPath(new URL("../dist/main.js", import.meta.url))
export const startTimeoutMillis = 20_000

// ---------------------------------------------------------------------------------------------------
// Processes

export interface Running {
  readonly child: ChildProcess
  /** stdout and stderr as received so far. */
  readonly output: () => string
  readonly exited: Promise<number | null>
}

export interface Gateway extends Running {
  readonly url: string
  readonly cwd: string
}

const children = new Set<ChildProcess>()
const directories = new Set<string>()

const proxies = new Set<TcpProxy.TcpProxy>()

/** Stops every gateway and TCP proxy a test started and removes its directories: `afterEach(cleanup)`. */
export const cleanup = async () => {
  await Promise.all([...proxies].map((proxy) => proxy.close()))
  proxies.clear()
  await Promise.all(
    [...children].map(async (child) => {
      children.delete(child)
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once("exit", resolve))
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000)
      await exited
      clearTimeout(timer)
    })
  )
  await Promise.all([...directories].map((dir) => Fs.rm(dir, { recursive: true, force: true })))
  directories.clear()
}

export const tempDir = async () => {
  const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "effect-auth-gateway-"))
  directories.add(dir)
  return dir
}

/** Starts `node dist/main.js` with exactly this environment (plus PATH), in `cwd`. */
export const spawnGateway = (env: Record<string, string>, cwd: string): Running => {
  const child = spawn(process.execPath, [mainJs], {
    cwd,
    env: { PATH: process.env.PATH ?? "", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.add(child)
  let output = ""
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return { child, output: () => output, exited }
}

/** Resolves once the output satisfies `ready`; fails when the process exits first or time runs out. */
export const waitForOutput = (running: Running, ready: (output: string) => boolean, what: string) =>
  new Promise<void>((resolve, reject) => {
    const check = () => {
      if (!ready(running.output())) return
      cleanup()
      resolve()
    }
    const onExit = (code: number | null) => {
      cleanup()
      reject(new Error(`the gateway exited (${code}) before ${what}:\n${running.output()}`))
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`timed out waiting for ${what}:\n${running.output()}`))
    }, startTimeoutMillis)
    const cleanup = () => {
      clearTimeout(timer)
      running.child.stdout?.off("data", check)
      running.child.stderr?.off("data", check)
      running.child.off("exit", onExit)
    }
    running.child.stdout?.on("data", check)
    running.child.stderr?.on("data", check)
    running.child.once("exit", onExit)
    check()
  })

export const listeningLine = /listening on (http:\/\/127\.0\.0\.1:\d+)/

/** Starts the gateway on a free port and waits for its "listening on http://127.0.0.1:NNNN" line. */
export const startGateway = async (env: Record<string, string> = {}, cwd?: string): Promise<Gateway> => {
  const dir = cwd ?? (await tempDir())
  const running = spawnGateway(env, dir)
  await waitForOutput(running, (output) => listeningLine.test(output), "it listened")
  const url = listeningLine.exec(running.output())![1]!
  return { ...running, url, cwd: dir }
}

/** Runs the gateway expecting it to stop by itself; its exit code and output. */
export const runToExit = async (env: Record<string, string>) => {
  const running = spawnGateway(env, await tempDir())
  const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), startTimeoutMillis))
  const code = await Promise.race([running.exited, timeout])
  return { code, output: running.output() }
}

// ---------------------------------------------------------------------------------------------------
// HTTP

export const basic = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`

export interface RawResponse {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/**
 * A request through `node:http`, which sends the path exactly as given (fetch would normalise `..`)
 * and can repeat a header (pass an array).
 */
export const raw = (
  base: string,
  path: string,
  options: {
    readonly method?: string
    /** An array value sends the header once per element. */
    readonly headers?: Readonly<Record<string, string | ReadonlyArray<string>>>
    readonly body?: Buffer
  } = {}
) =>
  new Promise<RawResponse>((resolve, reject) => {
    const url = new URL(base)
    const request = Http.request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: options.method ?? "GET",
        agent: false
      },
      (response) => {
        let body = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => (body += chunk))
        response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
        response.on("error", reject)
      }
    )
    for (const [name, value] of Object.entries(options.headers ?? {})) request.setHeader(name, value)
    request.on("error", reject)
    request.end(options.body)
  })

export const get = (url: string, credentials?: readonly [string, string], headers: Record<string, string> = {}) =>
  fetch(url, {
    headers: credentials === undefined ? headers : { ...headers, authorization: basic(...credentials) }
  })

// ---------------------------------------------------------------------------------------------------
// TCP proxy

/**
 * A TCP proxy on 127.0.0.1 in front of `host:port`, so a test can take a shared server (Redis) away from
 * the processes it started without stopping it for everyone else. Closed by `cleanup`.
 */
export const tcpProxy = async (host: string, port: number): Promise<TcpProxy.TcpProxy> => {
  const proxy = await TcpProxy.start({ host, port })
  proxies.add(proxy)
  return proxy
}

/** Retries `check` until it passes or `millis` run out. */
export const eventually = async (check: () => Promise<void>, millis = 10_000) => {
  const deadline = Date.now() + millis
  for (;;) {
    try {
      return await check()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// SQL

/** Runs `effect` against the database at `url` (its own connection, closed afterwards), quietly. */
export const onDatabase = <A, E>(url: string, effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.runPromise(
    Effect.provide(effect, SqlDatabase.layer({ url: Redacted.make(url) })).pipe(
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
  )
