// API key verification and rate limiting throughput, per core, beside the seed's plain `Map` lookup of the
// plaintext key, all in one run. Imports the BUILT packages (what users run): build first
// (`npm run build`). Writes its section of bench/RESULTS.md unless `--no-write` is given.
//
// Harness: every case is a function called in a tight loop for a fixed time; the cases are run round-robin
// (one warm-up round, then ROUNDS measured rounds) so that drift of the machine hits them all alike, and the
// median ops/s of the rounds is reported.
import { ApiKey, Authenticator, RateLimit } from "@effect-auth/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { createRequire } from "node:module"
import * as Os from "node:os"
import { URL } from "node:url"
import { commit, cpuModel, dependencyVersion, packageVersion } from "./machine.mjs"
import { writeSection } from "./results.mjs"

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 400)
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 300)
const STORE_KEYS = 1000
const LIMITER_KEYS = 10_000
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379"
const write = !process.argv.includes("--no-write")

// Defeats dead-code elimination: every case feeds its result into this.
let sink = 0

// --- Fixtures -----------------------------------------------------------------------------------------------

const keys = Array.from({ length: STORE_KEYS }, () => ApiKey.generate())
const keyIds = keys.map((_, i) => `key-${i}`)
const hitKey = keys[STORE_KEYS >> 1]
const hitKeyId = keyIds[STORE_KEYS >> 1]
const missKey = ApiKey.generate() // valid grammar, not in the store

// 1. The seed's approach: plaintext keys in a Map. The presented key is cut out of the Authorization header
// on every call, as the seed does: a fresh string whose hash V8 has not cached yet, like a real request's.
const plain = new Map(keys.map((key, i) => [key, keyIds[i]]))
const hitHeader = `Bearer ${hitKey}`
const missHeader = `Bearer ${missKey}`

// 2. The ApiKey store: hashes only.
const store = ApiKey.makeMemory(keys.map((key, i) => ({ keyId: keyIds[i], hash: ApiKey.hash(key) })))

// 3. The full provider path: headers → credential → ApiKey provider → store → principal.
const authenticator = Effect.runSync(
  Effect.flatMap(Effect.provideService(ApiKey.provider(), ApiKey.ApiKeyStore, store), (provider) =>
    Authenticator.make({ providers: [provider] })
  )
)
const hitHeaders = { "x-api-key": hitKey }
const missHeaders = { "x-api-key": missKey }
const bearerHeaders = { authorization: `Bearer ${hitKey}` }

// 4. The memory rate limiter, with a limit no case reaches.
const limiter = Effect.runSync(RateLimit.makeMemory({ limit: Number.MAX_SAFE_INTEGER }))
const limiterKeys = Array.from({ length: LIMITER_KEYS }, (_, i) => `key-${i}`)
let next = 0

// Sanity checks: a benchmark of a path that fails would measure the wrong thing.
const check = (condition, what) => {
  if (!condition) throw new Error(`Benchmark fixture broken: ${what}`)
}
check(plain.get(hitHeader.slice(7)) === hitKeyId && plain.get(missHeader.slice(7)) === undefined, "Map")
check(Effect.runSync(store.lookup(Redacted.make(hitKey))).value?.keyId === hitKeyId, "store hit")
check(Effect.runSync(store.lookup(Redacted.make(missKey)))._tag === "None", "store miss")
const hitExit = Effect.runSyncExit(authenticator.authenticate(hitHeaders))
check(Exit.isSuccess(hitExit) && hitExit.value.id === hitKeyId, "provider hit")
check(Exit.isSuccess(Effect.runSyncExit(authenticator.authenticate(bearerHeaders))), "provider Bearer hit")
const missExit = Effect.runSyncExit(authenticator.authenticate(missHeaders))
check(Exit.isFailure(missExit), "provider miss")
check((await Effect.runPromise(authenticator.authenticate(hitHeaders))).id === hitKeyId, "provider async")

// --- Cases --------------------------------------------------------------------------------------------------

/** @type {Array<{ name: string, group: string, fn?: () => void, async?: () => Promise<void>, baseline?: boolean }>} */
const cases = [
  {
    group: "1. Seed: plaintext Map",
    name: "Map.get(key from header), hit",
    baseline: true,
    fn: () => {
      sink += plain.get(hitHeader.slice(7)) === undefined ? 0 : 1
    }
  },
  {
    group: "1. Seed: plaintext Map",
    name: "Map.get(key from header), miss",
    fn: () => {
      sink += plain.get(missHeader.slice(7)) === undefined ? 0 : 1
    }
  },
  {
    group: "2. ApiKey store (1000 keys)",
    name: "lookup (SHA-256 + Map + timingSafeEqual), runSync, hit",
    fn: () => {
      sink += Effect.runSync(store.lookup(Redacted.make(hitKey)))._tag === "Some" ? 1 : 0
    }
  },
  {
    group: "2. ApiKey store (1000 keys)",
    name: "lookup, runSync, miss",
    fn: () => {
      sink += Effect.runSync(store.lookup(Redacted.make(missKey)))._tag === "Some" ? 1 : 0
    }
  },
  {
    group: "3. Provider path",
    name: "Authenticator.authenticate({ x-api-key }), runSyncExit, hit",
    fn: () => {
      sink += Effect.runSyncExit(authenticator.authenticate(hitHeaders))._tag === "Success" ? 1 : 0
    }
  },
  {
    group: "3. Provider path",
    name: "Authenticator.authenticate({ authorization: Bearer }), runSyncExit, hit",
    fn: () => {
      sink += Effect.runSyncExit(authenticator.authenticate(bearerHeaders))._tag === "Success" ? 1 : 0
    }
  },
  {
    group: "3. Provider path",
    name: "Authenticator.authenticate({ x-api-key }), runSyncExit, miss (401)",
    fn: () => {
      sink += Effect.runSyncExit(authenticator.authenticate(missHeaders))._tag === "Success" ? 1 : 0
    }
  },
  {
    group: "3. Provider path",
    name: "Authenticator.authenticate({ x-api-key }), runPromise, hit",
    async: async () => {
      sink += (await Effect.runPromise(authenticator.authenticate(hitHeaders))).id.length
    }
  },
  {
    group: "4. Memory rate limiter",
    name: "consume, 1 key",
    fn: () => {
      sink += Effect.runSync(limiter.consume(hitKeyId)).remaining > 0 ? 1 : 0
    }
  },
  {
    group: "4. Memory rate limiter",
    name: "consume, 10 000 distinct keys",
    fn: () => {
      const keyId = limiterKeys[next]
      next = next + 1 === LIMITER_KEYS ? 0 : next + 1
      sink += Effect.runSync(limiter.consume(keyId)).remaining > 0 ? 1 : 0
    }
  },
  {
    group: "3+4. Request path",
    name: "authenticate + consume (memory), runSyncExit, hit",
    fn: () => {
      const exit = Effect.runSyncExit(
        Effect.flatMap(authenticator.authenticate(hitHeaders), (principal) => limiter.consume(principal.id))
      )
      sink += exit._tag === "Success" ? 1 : 0
    }
  }
]

// --- 5. Redis (optional) --------------------------------------------------------------------------------------

// A scope kept open for the whole run; closed at the end so the client disconnects.
let closeRedis = async () => {}
let redisNote = ""
const redisVersion = await (async () => {
  try {
    const require = createRequire(import.meta.url)
    const { Redis } = require("ioredis")
    const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 500 })
    client.on("error", () => {})
    try {
      await client.connect()
      const info = await client.info("server")
      return /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? "unknown"
    } finally {
      client.disconnect()
    }
  } catch {
    return undefined
  }
})()
if (redisVersion === undefined) {
  redisNote = `Redis not reachable at ${REDIS_URL}: case 5 skipped.`
} else {
  const scope = Effect.runSync(Scope.make())
  closeRedis = () => Effect.runPromise(Scope.close(scope, Exit.void))
  // A prefix of our own so the run never touches another user's budget; the windows expire by themselves.
  const redis = await Effect.runPromise(
    Scope.extend(
      RateLimit.makeRedis({
        url: REDIS_URL,
        limit: Number.MAX_SAFE_INTEGER,
        prefix: `effect-auth-bench:${process.pid}:`
      }),
      scope
    )
  )
  await Effect.runPromise(redis.consume(hitKeyId))
  let redisNext = 0
  cases.push(
    {
      group: "5. Redis rate limiter",
      name: "consume, 1 key, sequential round trips",
      async: async () => {
        sink += (await Effect.runPromise(redis.consume(hitKeyId))).remaining > 0 ? 1 : 0
      }
    },
    {
      group: "5. Redis rate limiter",
      name: "consume, 10 000 distinct keys, 32 in flight",
      batch: 32,
      async: async () => {
        const calls = []
        for (let i = 0; i < 32; i++) {
          const keyId = limiterKeys[redisNext]
          redisNext = redisNext + 1 === LIMITER_KEYS ? 0 : redisNext + 1
          calls.push(Effect.runPromise(redis.consume(keyId)))
        }
        for (const decision of await Promise.all(calls)) sink += decision.remaining > 0 ? 1 : 0
      }
    }
  )
}

// --- Harness --------------------------------------------------------------------------------------------------

const runFor = async (c, ms) => {
  const budget = BigInt(ms) * 1_000_000n
  const start = process.hrtime.bigint()
  let ops = 0
  let elapsed = 0n
  if (c.fn !== undefined) {
    const fn = c.fn
    // Check the clock every 64 calls only: hrtime costs about as much as the fastest case.
    do {
      for (let i = 0; i < 64; i++) fn()
      ops += 64
      elapsed = process.hrtime.bigint() - start
    } while (elapsed < budget)
  } else {
    const fn = c.async
    const per = c.batch ?? 1
    do {
      await fn()
      ops += per
      elapsed = process.hrtime.bigint() - start
    } while (elapsed < budget)
  }
  return (ops * 1e9) / Number(elapsed)
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

const started = Date.now()
for (const c of cases) await runFor(c, WARMUP_MS)
const samples = cases.map(() => [])
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < cases.length; i++) samples[i].push(await runFor(cases[i], ROUND_MS))
}
await closeRedis()
const seconds = ((Date.now() - started) / 1000).toFixed(1)

// --- Report ---------------------------------------------------------------------------------------------------

const results = cases.map((c, i) => ({ ...c, median: median(samples[i]), min: Math.min(...samples[i]) }))
const baseline = results.find((r) => r.baseline).median
const fmt = (n) => Math.round(n).toLocaleString("en-US")
const ratio = (n) => {
  const r = n / baseline
  return r >= 0.1 ? `${r.toFixed(2)}×` : r >= 0.001 ? `${r.toFixed(3)}×` : `${r.toExponential(1)}×`
}
const perOp = (n) => {
  const ns = 1e9 / n
  return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`
}

const table = [
  "| Case | ops/s (median) | slowest round | time per op | vs seed Map hit |",
  "| --- | ---: | ---: | ---: | ---: |",
  ...results.map(
    (r) => `| ${r.group}: ${r.name} | ${fmt(r.median)} | ${fmt(r.min)} | ${perOp(r.median)} | ${ratio(r.median)} |`
  )
].join("\n")

const facts = [
  `- Date: ${new Date().toISOString()}`,
  `- CPU: ${cpuModel()}, ${Os.cpus().length} logical cores (the benchmark runs on one thread)`,
  `- Node ${process.version} (V8 ${process.versions.v8}), ${process.platform} ${process.arch}`,
  `- @effect-auth/core ${packageVersion("core")} (built dist, commit ${commit()}), ` +
    `effect ${dependencyVersion("effect")}, @effect/experimental ${dependencyVersion("@effect/experimental")}, ` +
    `ioredis ${dependencyVersion("ioredis")}` +
    (redisVersion === undefined ? "" : `, Redis server ${redisVersion} on ${new URL(REDIS_URL).host}`),
  `- ${ROUNDS} rounds of ${ROUND_MS} ms per case after a ${WARMUP_MS} ms warm-up, cases interleaved; ` +
    `whole run ${seconds} s`
].join("\n")

console.log(`${facts}\n\n${table}${redisNote === "" ? "" : `\n\n${redisNote}`}`)
if (sink === -1) console.log("unreachable")

if (write) {
  const out = await writeSection(
    "api-keys",
    `## API keys (\`api-keys.mjs\`)

Reproduce from the repository root:

\`\`\`sh
npm run build && node bench/api-keys.mjs
\`\`\`

### Machine

${facts}

### Results

${table}
${redisNote === "" ? "" : `\n${redisNote}\n`}`
  )
  console.log(`\nWrote the api-keys section of ${out}`)
}
