// Memory stays bounded by the configured sizes, not by the traffic: 1 000 000 distinct tokens through
// `JwtVerifier`'s verified-token cache and 1 000 000 distinct key ids through the memory rate limiter.
// Imports the BUILT packages (what users run): build first (`npm run build`). Writes its section of
// bench/RESULTS.md unless `--no-write` is given.
//
// Each case runs in a fresh Node process of its own (this script with `--case=<name>`), so that one case's
// heap and RSS never weigh on another's. RSS and heapUsed are read after two full garbage collections
// (`--expose-gc`): at the start, after the warm-up, when the bound is first reached and every 100 000 items.
import { JwtVerifier, KeySet } from "@effect-auth/jwt"
import { RateLimit } from "@effect-auth/core"
import * as Effect from "effect/Effect"
import { Buffer } from "node:buffer"
import { spawn, spawnSync } from "node:child_process"
import { generateKeyPairSync, sign } from "node:crypto"
import * as Os from "node:os"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { commit, cpuModel, dependencyVersion, packageVersion } from "./machine.mjs"
import { writeSection } from "./results.mjs"

const script = fileURLToPath(import.meta.url)

// Without `global.gc` a reading would include whatever garbage happens to be uncollected: run again with it.
if (typeof globalThis.gc !== "function") {
  const child = spawnSync(process.execPath, ["--expose-gc", ...process.execArgv, script, ...process.argv.slice(2)], {
    stdio: "inherit"
  })
  process.exit(child.status ?? 1)
}

const positive = (name, fallback) => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`)
  return value
}

const ITEMS = positive("BENCH_ITEMS", 1_000_000)
// A reading every 100 000 items (every tenth of a smaller run).
const STEP = Math.min(100_000, Math.max(1, Math.floor(ITEMS / 10)))
const WARMUP = Math.min(1000, ITEMS)
// Tokens are signed in batches and dropped once verified: the run itself must not hold 1M tokens.
const BATCH = 10_000
// Heap after the last item within this factor of the heap when the bound was first reached: bounded.
const TOLERANCE = 1.5
const ISSUER = "https://issuer.bench.test"
const AUDIENCE = "bench-api"
const write = !process.argv.includes("--no-write")

/** Every case; `reference` is the item count whose heap the last reading is compared with. */
const cases = [
  {
    name: "verifier-10k",
    kind: "verifier",
    title: "JwtVerifier, cache { maxEntries: 10 000 }",
    bound: 10_000,
    items: ITEMS,
    reference: Math.min(10_000, ITEMS)
  },
  {
    name: "verifier-100k",
    kind: "verifier",
    title: "JwtVerifier, cache { maxEntries: 100 000 }",
    bound: 100_000,
    // Three times its bound is enough to show it flat once full, and keeps the run short.
    items: Math.min(ITEMS, 300_000),
    reference: Math.min(100_000, ITEMS, 300_000)
  },
  {
    name: "limiter-100k",
    kind: "limiter",
    title: "RateLimit.makeMemory({ maxKeys: 100 000 })",
    bound: 100_000,
    items: ITEMS,
    reference: Math.min(100_000, ITEMS)
  },
  {
    // The contrast: a bound above the traffic, which is what the store did before it had one. It shows
    // that the verdict can say no.
    name: "limiter-unbounded",
    kind: "limiter",
    title: "RateLimit.makeMemory({ maxKeys: 10 000 000 }), above the traffic: no effective bound",
    bound: 10_000_000,
    items: ITEMS,
    reference: Math.min(100_000, ITEMS)
  }
]

// --- One case, in its own process ------------------------------------------------------------------------------

const reading = () => {
  globalThis.gc()
  globalThis.gc()
  const { rss, heapUsed } = process.memoryUsage()
  return { rss, heap: heapUsed }
}

/** The item counts at which a reading is taken: warm-up, the bound, the reference, every STEP, the last item. */
const checkpointsOf = (c) =>
  [
    ...new Set([
      WARMUP,
      c.bound,
      c.reference,
      ...Array.from({ length: Math.floor(c.items / STEP) }, (_, i) => (i + 1) * STEP),
      c.items
    ])
  ]
    .filter((n) => n <= c.items)
    .sort((a, b) => a - b)

const runVerifier = async (c) => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519")
  const jwks = { keys: [{ ...publicKey.export({ format: "jwk" }), kid: "bench-1", alg: "EdDSA", use: "sig" }] }
  const keys = await Effect.runPromise(KeySet.fromJwks(jwks))
  const verifier = await Effect.runPromise(
    JwtVerifier.make({ algorithms: ["EdDSA"], issuer: ISSUER, audience: AUDIENCE, cache: { maxEntries: c.bound } })
  )
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url")
  const header = b64({ alg: "EdDSA", kid: "bench-1", typ: "JWT" })
  // One iat/exp for the whole run: Ed25519 signatures are deterministic, so token(i) can be made again
  // for the cache probes below.
  const iat = Math.floor(Date.now() / 1000)
  const token = (i) => {
    const claims = { iss: ISSUER, aud: AUDIENCE, sub: `user-${i % 1000}`, iat, exp: iat + 7200, jti: `token-${i}` }
    const input = `${header}.${b64(claims)}`
    return `${input}.${sign(null, Buffer.from(input), privateKey).toString("base64url")}`
  }
  const verify = async (i, t) => {
    const verified = await Effect.runPromise(verifier.verify(t, keys))
    if (verified.claims.jti !== `token-${i}`) throw new Error(`token ${i} verified as ${verified.claims.jti}`)
    return verified
  }

  // The cache's size is not public. A hit returns the very object stored at the first verification, so
  // identity tells hit from miss: after c items the newest and the c-bound'th must hit and the one before
  // must miss. A probe moves or adds an entry, so it runs only where no later reading can see that.
  const checkpoints = checkpointsOf(c)
  const probed = new Set(
    checkpoints.filter((n, i) => i === checkpoints.length - 1 || checkpoints[i + 1] >= n + c.bound)
  )
  const kept = new Map()
  for (const n of probed) {
    for (const i of [n - 1, Math.max(0, n - c.bound), n - c.bound - 1]) if (i >= 0) kept.set(i, undefined)
  }
  const probe = async (n) => {
    const held = Math.min(n, c.bound)
    const hit = async (i) => {
      const first = kept.get(i)
      if (first === undefined) throw new Error(`token ${i} was not kept for a probe`)
      return (await verify(i, token(i))) === first
    }
    // The miss is probed last: verifying it adds it to the cache.
    const ok = (await hit(n - 1)) && (await hit(n - held)) && (n <= c.bound || !(await hit(n - held - 1)))
    return ok ? "ok" : "FAILED"
  }

  const rows = [{ label: "start", items: 0, ...reading(), entries: 0, probe: "" }]
  let done = 0
  const started = performance.now()
  for (const checkpoint of checkpoints) {
    while (done < checkpoint) {
      const n = Math.min(BATCH, checkpoint - done)
      let batch = Array.from({ length: n }, (_, j) => token(done + j))
      for (let j = 0; j < n; j++) {
        const verified = await verify(done + j, batch[j])
        if (kept.has(done + j)) kept.set(done + j, verified)
      }
      batch = undefined
      done += n
    }
    const row = { label: label(c, checkpoint), items: done, ...reading(), entries: Math.min(done, c.bound), probe: "" }
    if (probed.has(checkpoint)) row.probe = await probe(checkpoint)
    rows.push(row)
  }
  return { rows, seconds: (performance.now() - started) / 1000 }
}

const runLimiter = async (c) => {
  // A window longer than the run: every key stays live, so only maxKeys can remove one.
  const limiter = Effect.runSync(RateLimit.makeMemory({ limit: 100, window: "1 hour", maxKeys: c.bound }))
  const rows = [{ label: "start", items: 0, ...reading(), entries: Effect.runSync(limiter.size) }]
  let done = 0
  const started = performance.now()
  for (const checkpoint of checkpointsOf(c)) {
    for (; done < checkpoint; done++) {
      const decision = Effect.runSync(limiter.consume(`key-${done}`))
      if (decision.remaining !== 99) throw new Error(`key-${done} was not a new key: ${decision.remaining} left`)
    }
    rows.push({ label: label(c, checkpoint), items: done, ...reading(), entries: Effect.runSync(limiter.size) })
  }
  return { rows, seconds: (performance.now() - started) / 1000 }
}

const label = (c, n) => (n === WARMUP ? "after warm-up" : n === c.bound ? "bound reached" : "")

const only = process.argv.find((arg) => arg.startsWith("--case="))?.slice("--case=".length)
if (only !== undefined) {
  const c = cases.find((candidate) => candidate.name === only)
  if (c === undefined) throw new Error(`Unknown case ${only}`)
  const result = c.kind === "verifier" ? await runVerifier(c) : await runLimiter(c)
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
}

// --- The run: every case in a child, two at a time (the slow verifier cases together) -----------------------------

const runChild = (c) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", script, `--case=${c.name}`], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.on("error", reject)
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`case ${c.name} exited with ${code}`))
      console.log(`${c.name}: done`)
      resolve(JSON.parse(out.trim().split("\n").at(-1)))
    })
  })

const started = Date.now()
const results = new Map()
const queue = [...cases]
const worker = async () => {
  for (let c = queue.shift(); c !== undefined; c = queue.shift()) results.set(c.name, await runChild(c))
}
await Promise.all([worker(), worker()])
const seconds = ((Date.now() - started) / 1000).toFixed(1)

// --- Report ------------------------------------------------------------------------------------------------------

const fmt = (n) => Math.round(n).toLocaleString("en-US")
const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1)

let allBounded = true
const sections = cases.map((c) => {
  const { rows, seconds: caseSeconds } = results.get(c.name)
  const verifier = c.kind === "verifier"
  const table = [
    `| items | RSS MB | heap MB | entries held |${verifier ? " cache probe |" : ""}`,
    `| ---: | ---: | ---: | ---: |${verifier ? " :---: |" : ""}`,
    ...rows.map(
      (r) =>
        `| ${fmt(r.items)}${r.label === "" ? "" : ` (${r.label})`} | ${mb(r.rss)} | ${mb(r.heap)} | ` +
        `${fmt(r.entries)} |${verifier ? ` ${r.probe} |` : ""}`
    )
  ].join("\n")
  const last = rows.at(-1)
  const reference = rows.find((r) => r.items === c.reference)
  const ratio = last.heap / reference.heap
  const withinBound = rows.every((r) => r.entries <= c.bound)
  const probesOk = rows.every((r) => r.probe !== "FAILED") && (!verifier || last.probe === "ok")
  const bounded = ratio <= TOLERANCE && withinBound && probesOk
  // A run too short to go past the reference shows nothing either way.
  const shown = last.items > c.reference
  if (shown && c.bound < c.items && !bounded) allBounded = false
  // The ratio includes the heap every process starts with; the growth per item after the reference does not.
  const perItem = shown ? (last.heap - reference.heap) / (last.items - reference.items) : 0
  const verdict =
    `bounded: ${shown ? (bounded ? "yes" : "no") : "not shown (the run ends at the reference)"}: ` +
    `heap after ${fmt(last.items)} items ${mb(last.heap)} MB, ` +
    `${ratio.toFixed(2)}× the heap at ${fmt(c.reference)} items (${mb(reference.heap)} MB; ` +
    `bounded means ≤ ${TOLERANCE}×), ` +
    `${perItem.toFixed(1)} bytes per item after it` +
    (verifier
      ? `; cache probes ${probesOk ? "ok" : "FAILED"}`
      : `; entries ≤ ${fmt(c.bound)} throughout: ${withinBound ? "yes" : "no"}`)
  const rate = `${fmt(last.items / caseSeconds)} items/s over ${caseSeconds.toFixed(1)} s`
  return { c, text: `### ${c.title}\n\n${table}\n\n${verdict}. (${rate}.)`, verdict }
})

const facts = [
  `- Date: ${new Date().toISOString()}`,
  `- CPU: ${cpuModel()}, ${Os.cpus().length} logical cores (each case in its own process, two at a time)`,
  `- Node ${process.version} (V8 ${process.versions.v8}), ${process.platform} ${process.arch}, --expose-gc`,
  `- @effect-auth/core ${packageVersion("core")}, @effect-auth/jwt ${packageVersion("jwt")} ` +
    `(built dist, commit ${commit()}), effect ${dependencyVersion("effect")}, ` +
    `@effect/experimental ${dependencyVersion("@effect/experimental")}, jose ${dependencyVersion("jose")}`,
  `- ${fmt(ITEMS)} items (BENCH_ITEMS), readings after two full GCs every ${fmt(STEP)} items; whole run ${seconds} s`
].join("\n")

const body = sections.map((s) => s.text).join("\n\n")
console.log(`${facts}\n\n${body}`)

if (write) {
  const out = await writeSection(
    "memory",
    `## Memory (\`memory.mjs\`)

Reproduce from the repository root:

\`\`\`sh
npm run build && node --expose-gc bench/memory.mjs
\`\`\`

### Machine

${facts}

### Results

${body}
`
  )
  console.log(`\nWrote the memory section of ${out}`)
}
if (!allBounded) process.exitCode = 1
