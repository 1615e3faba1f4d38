// Work per request of the HTTP benchmark's servers, counted by valgrind's callgrind instead of timed: the
// instructions every thread of the server executes (and, with --cache-sim, simulated cache misses and branch
// mispredictions) over a fixed number of requests after a warm-up. Counts repeat from run to run whatever
// else the machine does, so they tell apart "more work" and "the same work, slower" where req/s cannot.
//
//   node bench/http-counts.mjs [--cache-sim] [--warmup N] [--requests N] <server> [<server> ...]
//
// <server> is a file of bench/http/ without `.mjs` (crypto, effect-auth, fastify, ...). Each runs under
// callgrind (about 50 times slower than normal), gets `--warmup` requests (default 20000, so the JIT has
// settled), then the counters are zeroed and `--requests` more (default 3000) are counted, four at a time,
// with the 2000 distinct tokens of the HTTP benchmark. Prints only; nothing is written.
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { Agent, request as httpRequest } from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { issuerFixture } from "./http/fixture.mjs"

const here = Path.dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const option = (name, fallback) => {
  const at = args.indexOf(name)
  if (at === -1) return fallback
  const [, value] = args.splice(at, 2)
  return Number(value)
}
const cacheSim = args.includes("--cache-sim")
if (cacheSim) args.splice(args.indexOf("--cache-sim"), 1)
const warmup = option("--warmup", 20_000)
const requests = option("--requests", 3_000)
const servers = args
if (servers.length === 0) throw new Error("Name at least one server of bench/http/, e.g. crypto effect-auth")
try {
  execFileSync("valgrind", ["--version"], { stdio: "ignore" })
} catch {
  throw new Error("valgrind is not installed (Debian: apt-get install valgrind)")
}

const fixture = await issuerFixture({ distinctTokens: 2000 })
const workDir = mkdtempSync(Path.join(Os.tmpdir(), "effect-auth-http-counts-"))

/** Starts `server` under callgrind; resolves with its pid and port once it listens. */
const start = (server) =>
  new Promise((resolve, reject) => {
    const child = spawn(
      "valgrind",
      [
        "--tool=callgrind",
        `--cache-sim=${cacheSim ? "yes" : "no"}`,
        `--branch-sim=${cacheSim ? "yes" : "no"}`,
        `--callgrind-out-file=${Path.join(workDir, `${server}.out`)}`,
        process.execPath,
        Path.join(here, "http", `${server}.mjs`)
      ],
      { env: { ...process.env, ...fixture.serverEnv }, stdio: ["ignore", "pipe", "ignore"] }
    )
    let output = ""
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (chunk) => {
      output += chunk
      const port = /^listening (\d+)$/m.exec(output)?.[1]
      if (port !== undefined) resolve({ child, port: Number(port) })
    })
    child.once("exit", (code) => reject(new Error(`${server} exited (${code}) before it listened`)))
  })

/** `count` requests with the distinct tokens, four at a time; every one must be accepted. */
const send = async (port, count) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 })
  const one = (token) =>
    new Promise((resolve, reject) => {
      const request = httpRequest(
        { host: "127.0.0.1", port, path: "/me", agent, headers: { authorization: `Bearer ${token}` } },
        (response) => {
          response.resume()
          response.on("end", () =>
            response.statusCode === 200 ? resolve() : reject(new Error(`status ${response.statusCode}`))
          )
        }
      )
      request.on("error", reject)
      request.end()
    })
  let sent = 0
  const worker = async () => {
    while (sent < count) await one(fixture.distinct[sent++ % fixture.distinct.length])
  }
  await Promise.all([worker(), worker(), worker(), worker()])
  agent.destroy()
}

/** The event names and totals of a callgrind dump. */
const totalsOf = (file) => {
  const text = readFileSync(file, "utf8")
  const events = /^events: (.*)$/m.exec(text)[1].split(" ")
  const totals = (/^summary: (.*)$/m.exec(text) ?? /^totals: (.*)$/m.exec(text))[1].split(" ").map(Number)
  return Object.fromEntries(events.map((event, i) => [event, totals[i] ?? 0]))
}

const rows = []
for (const server of servers) {
  const { child, port } = await start(server)
  await send(port, warmup)
  execFileSync("callgrind_control", ["--zero", String(child.pid)], { stdio: "ignore" })
  await send(port, requests)
  execFileSync("callgrind_control", ["--dump", String(child.pid)], { stdio: "ignore" })
  child.kill("SIGKILL")
  const totals = totalsOf(Path.join(workDir, `${server}.out.1`))
  rows.push({ server, perRequest: Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, v / requests])) })
  console.error(`${server}: counted`)
}
fixture.close()
rmSync(workDir, { recursive: true, force: true })

// Ir instructions; I1mr / D1mr first-level instruction / data read misses; Bcm / Bim mispredicted
// conditional / indirect branches (with --cache-sim).
const shown = ["Ir", "I1mr", "D1mr", "D1mw", "Bcm", "Bim"].filter((event) => event in rows[0].perRequest)
const first = rows[0].perRequest
console.log(`Per request, ${requests} requests counted after ${warmup}; ratios against ${rows[0].server}\n`)
console.log(`| server | ${shown.join(" | ")} |`)
console.log(`| --- | ${shown.map(() => "---:").join(" | ")} |`)
for (const { perRequest, server } of rows) {
  const cells = shown.map((event) => {
    const value = Math.round(perRequest[event]).toLocaleString("en-US")
    return server === rows[0].server ? value : `${value} (${(perRequest[event] / first[event]).toFixed(2)}×)`
  })
  console.log(`| ${server} | ${cells.join(" | ")} |`)
}
