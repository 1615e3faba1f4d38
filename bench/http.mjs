// End-to-end HTTP throughput of servers that verify a bearer JWT (RS256, 2048-bit key) on every request,
// effect-auth beside the peers, all in one run. Every server runs in its own child process
// (`node bench/http/<server>.mjs`), so that it has a thread of its own and the load generator (autocannon,
// in this process) another. Imports the BUILT packages (what users run): build first (`npm run build`).
// Writes its section of bench/RESULTS.md unless `--no-write` is given.
//
// Harness: after a short warm-up run per server, the runs are interleaved (every case and token set once,
// then again, backwards every other round) for BENCH_ROUNDS rounds, so that drift of the machine hits them
// all alike; the tables show the median over the rounds.
import autocannon from "autocannon"
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, readdirSync } from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { clearTimeout, setTimeout } from "node:timers"
import { URL, fileURLToPath } from "node:url"
import { commit, cpuModel, dependencyVersion, packageVersion } from "./machine.mjs"
import { issuerFixture } from "./http/fixture.mjs"
import { writeSection } from "./results.mjs"

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const DURATION = Number(process.env.BENCH_DURATION ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2)
const TOKENS = Number(process.env.BENCH_TOKENS ?? 2000)
const CACHE_ENTRIES = 10_000
const profileAt = process.argv.indexOf("--profile")
const profiled = profileAt === -1 ? undefined : process.argv[profileAt + 1]
// A profiled server runs slower: its numbers are not results.
const write = !process.argv.includes("--no-write") && profiled === undefined
const here = fileURLToPath(new URL(".", import.meta.url))
const root = Path.resolve(here, "..")

// --- Cases --------------------------------------------------------------------------------------------------

const graphqlMe = `/graphql?query=${encodeURIComponent("{ me }")}`

/**
 * Each case is a server module of bench/http/ (with its environment) and the path it is asked. A case that
 * does not verify (the ceiling, the references) runs with one token set only and is checked for 200s only.
 */
const allCases = [
  { name: "bare", label: "1. node:http, no verification (ceiling)", file: "bare.mjs", path: "/me", verifies: false },
  { name: "crypto", label: "2. node:http + node:crypto by hand (baseline)", file: "crypto.mjs", path: "/me" },
  { name: "jose", label: "3. node:http + jose `jwtVerify`", file: "jose.mjs", path: "/me" },
  { name: "effect-auth", label: "4. node:http + effect-auth `NodeHttpAuth`", file: "effect-auth.mjs", path: "/me" },
  {
    name: "effect-auth-cached",
    label: `4. node:http + effect-auth, token cache (${CACHE_ENTRIES.toLocaleString("en-US")})`,
    file: "effect-auth.mjs",
    path: "/me",
    env: { BENCH_TOKEN_CACHE: String(CACHE_ENTRIES) }
  },
  { name: "fastify", label: "5. fastify + @fastify/jwt", file: "fastify.mjs", path: "/me" },
  { name: "express", label: "6. express + express-jwt + jwks-rsa", file: "express.mjs", path: "/me" },
  { name: "trpc", label: "7. tRPC standalone + @effect-auth/trpc", file: "trpc.mjs", path: "/me" },
  {
    name: "trpc-open",
    label: "7. tRPC standalone, same query without auth (reference)",
    file: "trpc.mjs",
    path: "/me",
    env: { BENCH_AUTH: "off" },
    verifies: false
  },
  { name: "yoga", label: "8. GraphQL Yoga + @effect-auth/yoga", file: "yoga.mjs", path: graphqlMe },
  {
    name: "yoga-open",
    label: "8. GraphQL Yoga, same query without auth (reference)",
    file: "yoga.mjs",
    path: graphqlMe,
    env: { BENCH_AUTH: "off" },
    verifies: false
  }
]
const only = process.env.BENCH_CASES?.split(",").map((name) => name.trim())
const unknown = only?.filter((name) => !allCases.some((c) => c.name === name)) ?? []
if (unknown.length > 0) {
  throw new Error(`Unknown BENCH_CASES ${unknown.join(", ")}; known: ${allCases.map((c) => c.name).join(", ")}`)
}
const cases = only === undefined ? allCases : allCases.filter((c) => only.includes(c.name))
if (profileAt !== -1 && !cases.some((c) => c.name === profiled)) {
  throw new Error(`--profile needs one of the cases run: ${cases.map((c) => c.name).join(", ")}`)
}

// --- Keys, JWKS endpoint, tokens ----------------------------------------------------------------------------

const started = Date.now()
const fixture = await issuerFixture({ distinctTokens: TOKENS })
const { repeated, distinct, sign } = fixture
const tokenSets = { repeated: [repeated], distinct }

// Tokens every verifying server must refuse. The tampered one changes a character in the middle of the
// signature (the last one may only change padding bits).
const signatureAt = repeated.lastIndexOf(".") + 20
const refused = {
  "no token": undefined,
  tampered: `${repeated.slice(0, signatureAt)}${repeated[signatureAt] === "A" ? "B" : "A"}${repeated.slice(signatureAt + 1)}`,
  expired: await sign({ sub: "user-expired" }, { exp: Math.floor(Date.now() / 1000) - 3600 }),
  "wrong issuer": await sign({ sub: "user-other-issuer" }, { iss: "https://issuer.invalid/" }),
  "wrong audience": await sign({ sub: "user-other-audience" }, { aud: "another-api" })
}

// --- Server processes ---------------------------------------------------------------------------------------

const children = new Set()
const profileDir = profiled === undefined ? undefined : mkdtempSync(Path.join(Os.tmpdir(), "effect-auth-http-prof-"))

const startServer = (c) =>
  new Promise((resolve, reject) => {
    const execArgv = c.name === profiled ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : []
    const child = spawn(process.execPath, [...execArgv, Path.join(here, "http", c.file)], {
      cwd: root,
      env: {
        ...process.env,
        ...c.env,
        ...fixture.serverEnv
      },
      stdio: ["ignore", "pipe", "inherit"]
    })
    children.add(child)
    const timer = setTimeout(() => reject(new Error(`${c.name}: no port printed within 30 s`)), 30_000)
    let output = ""
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (chunk) => {
      if (output === undefined) return
      output += chunk
      const port = /^listening (\d+)$/m.exec(output)?.[1]
      if (port === undefined) return
      output = undefined
      clearTimeout(timer)
      resolve({ child, origin: `http://127.0.0.1:${port}` })
    })
    child.once("exit", (code, signal) => {
      children.delete(child)
      clearTimeout(timer)
      reject(new Error(`${c.name}: server exited (${signal ?? code}) before it listened`))
    })
  })

const stopChild = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    // SIGKILL if it does not go: a stuck child must not keep the run alive.
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGTERM")
  })
const stopAll = () => Promise.all([...children].map(stopChild))
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL")
})
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => stopAll().finally(() => process.exit(130)))
}

// --- Checks: a server that lets a bad token through would be measuring the wrong thing ----------------------

const get = async (origin, path, token) => {
  const response = await globalThis.fetch(`${origin}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` }
  })
  return { status: response.status, text: await response.text() }
}

const check = async (c, origin) => {
  for (const [token, sub] of [
    [repeated, "user-repeated"],
    [distinct[distinct.length - 1], `user-${distinct.length - 1}`]
  ]) {
    const { status, text } = await get(origin, c.path, token)
    if (status !== 200 || (c.verifies !== false && !text.includes(`"${sub}"`))) {
      throw new Error(`${c.name}: a valid token got ${status} ${text.slice(0, 200)}`)
    }
  }
  if (c.verifies === false) return
  for (const [what, token] of Object.entries(refused)) {
    const { status, text } = await get(origin, c.path, token)
    if (status !== 401) throw new Error(`${c.name}: ${what} got ${status} (expected 401) ${text.slice(0, 200)}`)
  }
}

// --- Load -----------------------------------------------------------------------------------------------------

// Seconds of CPU a process has used (user + system, all its threads), from /proc: what a server spends per
// request, which the machine's other load disturbs far less than req/s. Undefined where there is no /proc.
const ticksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()
const cpuSeconds = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond
  } catch {
    return undefined
  }
}

/** One autocannon run; the Authorization header rotates over the set, one token per request. */
const load = async (server, path, tokens, seconds) => {
  const headers = tokens.map((token) => ({ authorization: `Bearer ${token}` }))
  let next = 0
  const cpuBefore = cpuSeconds(server.child.pid)
  const result = await autocannon({
    url: server.origin,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    requests: [
      {
        method: "GET",
        path,
        setupRequest: (request) => {
          request.headers = headers[next]
          next = next + 1 === headers.length ? 0 : next + 1
          return request
        }
      }
    ]
  })
  const cpuAfter = cpuSeconds(server.child.pid)
  const total = result.requests.total
  return {
    rps: total / (result.duration || seconds),
    p99: result.latency.p99,
    cpu:
      cpuBefore === undefined || cpuAfter === undefined || total === 0
        ? undefined
        : ((cpuAfter - cpuBefore) * 1e6) / total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    total
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Every case is run with both token sets, except the ceiling, which reads none. */
const runs = cases.flatMap((c) =>
  (c.verifies === false ? ["repeated"] : ["repeated", "distinct"]).map((set) => ({
    case: c,
    set,
    samples: [],
    non2xx: 0,
    errors: 0,
    failed: undefined
  }))
)

let profile = ""
try {
  const servers = new Map()
  for (const c of cases) {
    const server = await startServer(c)
    servers.set(c.name, server)
    await check(c, server.origin)
  }
  console.log(
    `${cases.length} servers up and checked (JWKS fetched ${fixture.jwksFetches()} times); ` +
      `${WARMUP} s warm-up each, then ${ROUNDS} rounds of ${DURATION} s per run, ${CONNECTIONS} connections`
  )
  for (const c of cases) await load(servers.get(c.name), c.path, distinct, WARMUP)
  for (let round = 1; round <= ROUNDS; round++) {
    // Every other round runs backwards, so that no case always follows the same one.
    for (const run of round % 2 === 1 ? runs : [...runs].reverse()) {
      if (run.failed !== undefined) continue
      const result = await load(servers.get(run.case.name), run.case.path, tokenSets[run.set], DURATION)
      run.non2xx += result.non2xx
      run.errors += result.errors
      // A valid token refused (or a socket error) means the number is not a measure of the server.
      if (result.non2xx > 0 || result.errors > 0) {
        run.failed = `round ${round}: ${result.non2xx} non-2xx, ${result.errors} errors of ${result.total}`
      } else run.samples.push(result)
      console.log(
        `round ${round} ${run.case.name} ${run.set}: ${Math.round(result.rps)} req/s, p99 ${result.p99} ms, ` +
          `server CPU ${result.cpu === undefined ? "?" : `${result.cpu.toFixed(0)} µs`} per request` +
          (run.failed === undefined ? "" : ` FAILED (${run.failed})`)
      )
    }
  }
  await stopAll()
  if (profiled !== undefined) profile = topSelfTime(profileDir)
} finally {
  await stopAll()
  fixture.close()
}
const seconds = ((Date.now() - started) / 1000).toFixed(0)

// --- CPU profile (--profile <case>) ---------------------------------------------------------------------------

/**
 * The functions with the most self time in the newest profile of `dir`, and the same time by area, as
 * shares of the time the server was not idle (idle time, between runs and while other cases ran, is left out).
 */
function topSelfTime(dir) {
  const file = readdirSync(dir)
    .filter((name) => name.endsWith(".cpuprofile"))
    .sort()
    .at(-1)
  if (file === undefined) return `No profile was written to ${dir}`
  const { nodes, samples, timeDeltas } = JSON.parse(readFileSync(Path.join(dir, file), "utf8"))
  const byId = new Map(nodes.map((node) => [node.id, node]))
  const rootUrl = new URL(`file://${root}/`).href
  const self = new Map()
  const areas = new Map()
  let busy = 0
  const add = (map, key, micros) => map.set(key, (map.get(key) ?? 0) + micros)
  for (let i = 0; i < samples.length; i++) {
    const { functionName, lineNumber, url } = byId.get(samples[i]).callFrame
    if (functionName === "(idle)") continue
    const where = url.replace(/^.*\/node_modules\//, "").replace(rootUrl, "")
    add(self, `${functionName || "(anonymous)"}${where === "" ? "" : ` ${where}:${lineNumber + 1}`}`, timeDeltas[i])
    const area =
      url === ""
        ? "native (syscalls, GC, …)"
        : url.startsWith("node:")
          ? "node internals"
          : where.startsWith("packages/")
            ? `@effect-auth/${where.split("/")[1]}`
            : /^(@effect\/|effect\/)/.test(where)
              ? "effect, @effect/*"
              : where.startsWith("bench/")
                ? "bench server"
                : where
                    .split("/")
                    .slice(0, where.startsWith("@") ? 2 : 1)
                    .join("/")
    add(areas, area, timeDeltas[i])
    busy += timeDeltas[i]
  }
  const share = (micros) => `${((100 * micros) / busy).toFixed(1).padStart(5)}%`
  const sorted = (map, n) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n)
  return [
    // The profiler's time is wall-clock time on the server's thread: a function the OS preempted meanwhile
    // (for the load generator, on a small machine) is charged for the wait.
    `CPU profile of the ${profiled} server: ${(busy / 1e6).toFixed(1)} s sampled while not idle ` +
      `(wall-clock, so it includes time the process was preempted) in ${Path.join(dir, file)}`,
    "Top self time:",
    ...sorted(self, 25).map(([key, micros]) => `${share(micros)}  ${key}`),
    "By area:",
    ...sorted(areas, 12).map(([key, micros]) => `${share(micros)}  ${key}`)
  ].join("\n")
}

// --- Report ---------------------------------------------------------------------------------------------------

const results = runs.map((run) => ({
  ...run,
  rps: run.samples.length === 0 ? undefined : median(run.samples.map((s) => s.rps)),
  slowest: run.samples.length === 0 ? undefined : Math.min(...run.samples.map((s) => s.rps)),
  p99: run.samples.length === 0 ? undefined : median(run.samples.map((s) => s.p99)),
  cpu: run.samples.some((s) => s.cpu === undefined) ? undefined : median(run.samples.map((s) => s.cpu))
}))
const find = (name, set) => results.find((r) => r.case.name === name && r.set === set && r.failed === undefined)
const fmt = (n) => (n === undefined ? "—" : Math.round(n).toLocaleString("en-US"))
const ratioOf = (r) => {
  const baseline = find("crypto", r.set)?.rps
  return baseline === undefined || r.rps === undefined ? undefined : r.rps / baseline
}

const micros = (n) => (n === undefined ? "—" : `${Math.round(n)} µs`)
const table = [
  "| Case | tokens | req/s (median) | slowest round | p99 latency (median) | server CPU per request | non-2xx | vs node:crypto |",
  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...results.map((r) => {
    const ratio = ratioOf(r)
    const status = r.failed === undefined ? "" : ` (failed, ${r.failed})`
    return (
      `| ${r.case.label}${status} | ${r.case.verifies === false ? "any" : r.set} | ${fmt(r.rps)} | ${fmt(r.slowest)} | ` +
      `${r.p99 === undefined ? "—" : `${r.p99} ms`} | ${micros(r.cpu)} | ${r.non2xx} | ` +
      `${ratio === undefined ? "—" : `${ratio.toFixed(2)}×`} |`
    )
  })
].join("\n")

// What the work is judged by: effect-auth against the hand-written baseline and against the peers.
const verdicts = []
for (const set of ["distinct", "repeated"]) {
  const effectAuth = find("effect-auth", set)
  if (effectAuth === undefined) continue
  const ratio = ratioOf(effectAuth)
  if (ratio !== undefined) {
    verdicts.push(
      `- effect-auth (uncached), ${set} tokens: ${ratio.toFixed(2)}× raw node:crypto's req/s ` +
        `(target ≥ 0.9: ${ratio >= 0.9 ? "met" : "not met"}); server CPU per request ${micros(effectAuth.cpu)} ` +
        `against ${micros(find("crypto", set).cpu)}`
    )
  }
  for (const peer of ["fastify", "express"]) {
    const other = find(peer, set)
    if (other === undefined) continue
    verdicts.push(
      `- effect-auth (uncached), ${set} tokens, vs ${other.case.label.slice(3)}: ` +
        `${(effectAuth.rps / other.rps).toFixed(2)}× its req/s (${effectAuth.rps > other.rps ? "ahead" : "behind"}); ` +
        `server CPU per request ${micros(effectAuth.cpu)} against ${micros(other.cpu)}`
    )
  }
}

const facts = [
  `- Date: ${new Date().toISOString()}`,
  `- CPU: ${cpuModel()}, ${Os.cpus().length} logical cores, load average ${Os.loadavg()
    .map((n) => n.toFixed(2))
    .join(" ")} at the end (each server is a process of its own, the load generator another)`,
  `- Node ${process.version} (V8 ${process.versions.v8}), ${process.platform} ${process.arch}`,
  `- @effect-auth/core ${packageVersion("core")}, jwt ${packageVersion("jwt")}, http ${packageVersion("http")}, ` +
    `trpc ${packageVersion("trpc")}, yoga ${packageVersion("yoga")} (built dist, commit ${commit()}), ` +
    `effect ${dependencyVersion("effect")}, @effect/platform-node ${dependencyVersion("@effect/platform-node")}, ` +
    `jose ${dependencyVersion("jose")}`,
  `- fastify ${dependencyVersion("fastify")}, @fastify/jwt ${dependencyVersion("@fastify/jwt")} ` +
    `(fast-jwt ${dependencyVersion("fast-jwt")}), express ${dependencyVersion("express")}, ` +
    `express-jwt ${dependencyVersion("express-jwt")} (jsonwebtoken ${dependencyVersion("jsonwebtoken")}), ` +
    `jwks-rsa ${dependencyVersion("jwks-rsa")}, @trpc/server ${dependencyVersion("@trpc/server")}, ` +
    `graphql-yoga ${dependencyVersion("graphql-yoga")}, autocannon ${dependencyVersion("autocannon")}`,
  `- RS256 with a 2048-bit RSA key; "distinct" cycles ${TOKENS} tokens (one subject each), "repeated" sends one`,
  `- autocannon: ${CONNECTIONS} connections, pipelining 1, ${DURATION} s per run, ${ROUNDS} rounds interleaved ` +
    `after a ${WARMUP} s warm-up per server; whole run ${seconds} s`
].join("\n")

console.log(`\n${facts}\n\n${table}\n\n${verdicts.join("\n")}`)
if (profile !== "") console.log(`\n${profile}`)
const failures = results.filter((r) => r.failed !== undefined)
if (failures.length > 0) process.exitCode = 1

if (write) {
  const out = await writeSection(
    "http",
    `## HTTP end to end (\`http.mjs\`)

Reproduce from the repository root:

\`\`\`sh
npm run build && node bench/http.mjs
\`\`\`

### Machine

${facts}

### Results

${table}

${verdicts.join("\n")}
`
  )
  console.log(`\nWrote the http section of ${out}`)
}
