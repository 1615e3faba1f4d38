// Soak: the built gateway under a steady mixed load for a while, to show that it answers every request
// (no errors, no timeouts, only 200/401/403/429, each kind of request only what it should get) and that its
// memory stays flat once warm. `SOAK_SECONDS` sets the duration (default 60), `SOAK_CONNECTIONS` the
// concurrency (default 32). Builds nothing: run `npm run build` first. Prints a markdown report and exits
// non-zero on failure. The steps are exported so the gateway's CI test runs a short soak through them.
import { ApiKey } from "@effect-auth/core"
import { Issuer, Keys } from "@effect-auth/testing"
import autocannon from "autocannon"
import { execFileSync, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { clearInterval, clearTimeout, setInterval, setTimeout } from "node:timers"
import { URL, fileURLToPath } from "node:url"

const mainJs = fileURLToPath(new URL("../examples/gateway/dist/main.js", import.meta.url))
const audience = "soak-api"
const megabyte = 1024 * 1024

/** Flat memory for a full soak: the last third's median RSS at most 10% or 15 MB above the second third's. */
export const defaultRssBound = { fraction: 0.1, megabytes: 15 }

// ---------------------------------------------------------------------------------------------------
// The workload

/**
 * Prepares the issuer, the credentials and the gateway's files in `dir`: the request kinds (each with the
 * statuses it may get) and the gateway's environment. The limited key's budget is tiny so that 429s are
 * part of every run; every other budget is too large to be spent.
 */
export const prepare = async (dir) => {
  const issuer = await Issuer.start()
  const tokenFor = (subject, groups) => issuer.mint({ groups }, { subject, audience })
  // Same kid as the issuer's key, but another private key: only the signature gives it away.
  const impostor = await Keys.generate(issuer.currentKey.alg, { kid: issuer.currentKey.kid })
  const openKey = ApiKey.generate()
  const limitedKey = ApiKey.generate()
  await Fs.writeFile(
    Path.join(dir, "api_keys.json"),
    JSON.stringify([
      { keyId: "soak-open", hash: ApiKey.hash(openKey) },
      { keyId: "soak-limited", hash: ApiKey.hash(limitedKey), rateLimitPerMinute: 50 }
    ])
  )
  await Fs.writeFile(
    Path.join(dir, "routes.json"),
    JSON.stringify([{ path: "/admin/*", require: { groups: ["admin"] } }])
  )
  const bearer = (token) => ({ authorization: `Bearer ${token}` })
  const kinds = [
    { name: "valid token", path: "/whoami", headers: bearer(await tokenFor("soak-admin", ["admin"])), expect: [200] },
    {
      name: "valid token, forbidden route",
      path: "/admin/reports",
      headers: bearer(await tokenFor("soak-staff", ["staff"])),
      expect: [403]
    },
    {
      name: "expired token",
      path: "/whoami",
      headers: bearer(await issuer.mint({}, { subject: "soak-admin", audience, expiresIn: -3600 })),
      expect: [401]
    },
    {
      name: "forged token",
      path: "/whoami",
      headers: bearer(await issuer.mint({ groups: ["admin"] }, { subject: "soak-admin", audience, key: impostor })),
      expect: [401]
    },
    {
      name: "wrong audience",
      path: "/whoami",
      headers: bearer(await issuer.mint({}, { subject: "soak-admin", audience: "another-api" })),
      expect: [401]
    },
    { name: "valid API key", path: "/whoami", headers: { "x-api-key": openKey }, expect: [200] },
    { name: "rate-limited API key", path: "/whoami", headers: bearer(limitedKey), expect: [200, 429] },
    { name: "unknown API key", path: "/whoami", headers: bearer(ApiKey.generate()), expect: [401] },
    { name: "no credential", path: "/whoami", headers: {}, expect: [401] }
  ]
  const env = {
    AUTH_JWT_ISSUER: issuer.issuer,
    AUTH_JWT_JWKS_URL: issuer.jwksUrl,
    AUTH_JWT_AUDIENCE: audience,
    AUTH_API_KEYS_FILE: "api_keys.json",
    AUTH_ROUTES_FILE: "routes.json",
    AUTH_RATE_LIMIT_PER_MINUTE: "100000000"
  }
  return { kinds, env, close: () => issuer.close() }
}

// ---------------------------------------------------------------------------------------------------
// The gateway process

const listeningLine = /listening on (http:\/\/127\.0\.0\.1:\d+)/

/** Starts `node dist/main.js` in `dir` with exactly `env` (plus PATH and PORT=0); resolves once it listens. */
export const startGateway = (env, dir, timeoutMillis = 20_000) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainJs], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    const exited = new Promise((done) => child.once("exit", (code) => done(code)))
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000)
      await exited
      clearTimeout(timer)
    }
    const timer = setTimeout(() => {
      void stop()
      reject(new Error(`the gateway did not listen within ${timeoutMillis} ms:\n${output}`))
    }, timeoutMillis)
    const onData = (chunk) => {
      output += chunk
      const match = listeningLine.exec(output)
      if (match === null) return
      clearTimeout(timer)
      resolve({ url: match[1], pid: child.pid, output: () => output, exited, stop })
    }
    child.stdout.setEncoding("utf8").on("data", onData)
    child.stderr.setEncoding("utf8").on("data", onData)
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`the gateway exited (${code}) before it listened:\n${output}`))
    })
  })

/** The resident set size of a process in bytes (Linux `/proc`, else `ps`), or undefined when unreadable. */
export const rssOf = (pid) => {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return match === null ? undefined : Number(match[1]) * 1024
  } catch {
    try {
      const kilobytes = Number(execFileSync("ps", ["-o", "rss=", "-p", String(pid)], { encoding: "utf8" }).trim())
      return Number.isFinite(kilobytes) && kilobytes > 0 ? kilobytes * 1024 : undefined
    } catch {
      return undefined
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Load and verdict

/**
 * Drives the gateway at `url` with every kind in turn on each connection for `seconds`, sampling the RSS of
 * `pid` every second. Counts each response's status by kind.
 */
export const drive = async ({ url, pid, kinds, seconds, connections = 32 }) => {
  const statuses = Object.fromEntries(kinds.map((kind) => [kind.name, {}]))
  const requests = kinds.map((kind) => ({
    method: "GET",
    path: kind.path,
    headers: kind.headers,
    onResponse: (status) => {
      const counts = statuses[kind.name]
      counts[status] = (counts[status] ?? 0) + 1
    }
  }))
  const rssSamples = []
  const sampler = setInterval(() => {
    const rss = rssOf(pid)
    if (rss !== undefined) rssSamples.push(rss)
  }, 1_000)
  try {
    const result = await autocannon({ url, connections, duration: seconds, timeout: 10, requests })
    return {
      seconds,
      connections,
      requests: result.requests.total,
      requestsPerSecond: result.requests.average,
      latencyP99Millis: result.latency.p99,
      errors: result.errors,
      timeouts: result.timeouts,
      resets: result.resets,
      statuses,
      rssSamples
    }
  } finally {
    clearInterval(sampler)
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/**
 * The memory verdict: the first third of the samples is warm-up; the last third's median may exceed the
 * second third's by at most `fraction` of it or `megabytes`, whichever is larger.
 */
export const rssTrend = (samples, bound = defaultRssBound) => {
  const third = Math.floor(samples.length / 3)
  if (third < 1) return { ok: false, reason: `only ${samples.length} RSS samples` }
  const warm = median(samples.slice(third, 2 * third))
  const late = median(samples.slice(samples.length - third))
  const allowed = Math.max(warm * bound.fraction, bound.megabytes * megabyte)
  return {
    ok: late - warm <= allowed,
    warm,
    late,
    allowed,
    reason: `RSS median ${(warm / megabyte).toFixed(1)} MB (second third) → ${(late / megabyte).toFixed(1)} MB (last third), allowed growth ${(allowed / megabyte).toFixed(1)} MB`
  }
}

/** Every reason the run failed; empty when it passed. */
export const judge = (run, kinds, bound = defaultRssBound) => {
  const failures = []
  if (run.errors > 0) failures.push(`${run.errors} request errors (connection failures or timeouts)`)
  if (run.timeouts > 0) failures.push(`${run.timeouts} timeouts`)
  if (run.requests === 0) failures.push("no request was answered")
  for (const kind of kinds) {
    const counts = run.statuses[kind.name] ?? {}
    const total = Object.values(counts).reduce((sum, n) => sum + n, 0)
    if (total === 0) failures.push(`${kind.name}: no answer`)
    const unexpected = Object.keys(counts).filter((status) => !kind.expect.includes(Number(status)))
    if (unexpected.length > 0) {
      failures.push(`${kind.name}: unexpected statuses ${unexpected.map((s) => `${s}×${counts[s]}`).join(", ")}`)
    }
  }
  const trend = rssTrend(run.rssSamples, bound)
  if (!trend.ok) failures.push(`memory not flat: ${trend.reason}`)
  return failures
}

/** The run as markdown. */
export const report = (run, kinds, bound = defaultRssBound) => {
  const failures = judge(run, kinds, bound)
  const mb = (bytes) => (bytes / megabyte).toFixed(1)
  const lines = [
    `## Gateway soak: ${run.seconds} s, ${run.connections} connections`,
    "",
    `${run.requests.toLocaleString("en-US")} requests, ${Math.round(run.requestsPerSecond).toLocaleString("en-US")} req/s, p99 latency ${run.latencyP99Millis} ms, errors ${run.errors}, timeouts ${run.timeouts}`,
    "",
    "| request kind | expected | 200 | 401 | 403 | 429 | other |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...kinds.map((kind) => {
      const counts = run.statuses[kind.name] ?? {}
      const known = [200, 401, 403, 429]
      const other = Object.entries(counts)
        .filter(([status]) => !known.includes(Number(status)))
        .reduce((sum, [, n]) => sum + n, 0)
      return `| ${kind.name} | ${kind.expect.join(", ")} | ${known.map((status) => counts[status] ?? 0).join(" | ")} | ${other} |`
    }),
    "",
    `RSS (MB, one sample per second, ${run.rssSamples.length} samples): min ${mb(Math.min(...run.rssSamples))}, max ${mb(Math.max(...run.rssSamples))}; ${rssTrend(run.rssSamples, bound).reason}`,
    "",
    `Samples: ${run.rssSamples.map(mb).join(" ")}`,
    "",
    failures.length === 0 ? "**PASS**" : `**FAIL**\n\n${failures.map((failure) => `- ${failure}`).join("\n")}`
  ]
  return { markdown: lines.join("\n"), failures }
}

/** A whole soak in a fresh temporary directory: prepare, start the gateway, drive it, stop everything. */
export const soak = async ({ seconds, connections = 32 }) => {
  const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "effect-auth-soak-"))
  const prepared = await prepare(dir)
  try {
    const gateway = await startGateway(prepared.env, dir)
    try {
      const run = await drive({ url: gateway.url, pid: gateway.pid, kinds: prepared.kinds, seconds, connections })
      return { run, kinds: prepared.kinds, output: gateway.output() }
    } finally {
      await gateway.stop()
    }
  } finally {
    await prepared.close()
    await Fs.rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && Path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.env.SOAK_SECONDS ?? 60)
  const connections = Number(process.env.SOAK_CONNECTIONS ?? 32)
  // Three RSS samples per third at least, so that the memory verdict means something.
  if (!Number.isInteger(seconds) || seconds < 9) throw new Error("SOAK_SECONDS must be a whole number of at least 9")
  if (!Number.isInteger(connections) || connections < 1) throw new Error("SOAK_CONNECTIONS must be a positive integer")
  const { run, kinds } = await soak({ seconds, connections })
  const { markdown, failures } = report(run, kinds)
  console.log(markdown)
  process.exitCode = failures.length === 0 ? 0 : 1
}
