/**
 * Fault injection on the gateway's stores: PostgreSQL and MariaDB (users, API keys and grants from SQL) and
 * Redis (the shared rate limit) are taken away through a TCP proxy (cut: connections dropped and refused;
 * stall: connections open but silent) and given back, while the built gateway keeps running. Each phase
 * (before the fault, during it, after it ends) sends a fixed mix of valid and invalid credentials and checks
 * every answer: nothing that should be refused is accepted, a caller that needs the store is deferred (503),
 * never refused or failed, every answer comes within a bound, and the gateway recovers by itself.
 */
import { ApiKey, PasswordHasher } from "@effect-auth/core"
import { Migrations, SqlAdmin } from "@effect-auth/sql"
import { Databases, Issuer, Services } from "@effect-auth/testing"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import type { Gateway } from "../helpers.js"
import { basic, cleanup, eventually, onDatabase, startGateway, tcpProxy, tempDir } from "../helpers.js"
import type { Tally } from "./outcomes.js"
import { tableRow, tally } from "./outcomes.js"

afterEach(cleanup)

// ---------------------------------------------------------------------------------------------------
// Phases

/** One request of a phase's mix, and the status it must get while the store answers and while it cannot. */
interface Attempt {
  readonly name: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly healthy: number
  readonly faulted: number
}

// A request during a database outage needs at most two store queries (the caller, then its grants), each
// bounded to 2 s, connecting included; a Redis command is bounded to 1 s. The rest is slack for a loaded
// machine: an answer later than this counts as "other" (status 0).
const boundMillis = 10_000

/** The status of one request, or 0 when it failed or took longer than the bound. */
const statusOf = async (gateway: Gateway, attempt: Attempt): Promise<number> => {
  try {
    const response = await fetch(`${gateway.url}${attempt.path}`, {
      headers: attempt.headers,
      signal: AbortSignal.timeout(boundMillis)
    })
    await response.arrayBuffer()
    return response.status
  } catch {
    return 0
  }
}

/** Sends the whole mix at once and asserts every answer: the phase's table row is printed either way. */
const runPhase = async (
  rows: Array<string>,
  scenario: string,
  phase: string,
  gateway: Gateway,
  mix: ReadonlyArray<Attempt>,
  state: "healthy" | "faulted"
): Promise<Tally> => {
  const statuses = await Promise.all(mix.map((attempt) => statusOf(gateway, attempt)))
  const counts = tally(statuses)
  rows.push(tableRow(scenario, phase, counts))
  console.log(rows.at(-1))
  expect(mix.map((attempt, i) => [attempt.name, statuses[i]])).toEqual(
    mix.map((attempt) => [attempt.name, attempt[state]])
  )
  expect(counts.other).toBe(0)
  return counts
}

const tableHeader = [
  "| scenario | phase | accepted | refused | limited | deferred | other |",
  "|---|---|---|---|---|---|---|"
]

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

// ---------------------------------------------------------------------------------------------------
// SQL

// Distinctive passwords, so that an answer echoing one would stand out.
const alice = { username: "alice", password: "alice-Fault-Pw-3b7e91c2" }
const dave = { username: "dave", password: "dave-Fault-Pw-6d04a8f5" }

// Low-cost hashes keep the suite fast; the gateway verifies with the parameters each hash names.
const hashOf = (password: string) =>
  Effect.flatMap(PasswordHasher.PasswordHasher, (hasher) => hasher.hash(Redacted.make(password))).pipe(
    Effect.provide(PasswordHasher.layer({ ln: 10 }))
  )

/** alice holds `documents.read` through group and role; dave holds nothing; one live key, one revoked. */
const seed = Effect.gen(function* () {
  yield* Migrations.run()
  yield* SqlAdmin.addUser({ username: alice.username, passwordHash: yield* hashOf(alice.password) })
  yield* SqlAdmin.addUser({ username: dave.username, passwordHash: yield* hashOf(dave.password) })
  yield* SqlAdmin.grant({ principal: "alice" }, { group: "staff" })
  yield* SqlAdmin.grant({ group: "staff" }, { role: "reader" })
  yield* SqlAdmin.grant({ role: "reader" }, { permission: "documents.read" })
  const key = yield* SqlAdmin.createApiKey({ keyId: "svc-fault", owner: "alice" })
  yield* SqlAdmin.grant({ principal: "svc-fault" }, { role: "reader" })
  const revoked = yield* SqlAdmin.createApiKey({ keyId: "svc-revoked" })
  yield* SqlAdmin.revokeApiKey("svc-revoked")
  return { key: Redacted.value(key.key), revokedKey: Redacted.value(revoked.key) }
})

/** The same text with one character changed (in the middle: a base64url tail may hide a change). */
const altered = (text: string, at = Math.floor(text.length / 2)) =>
  `${text.slice(0, at)}${text[at] === "A" ? "B" : "A"}${text.slice(at + 1)}`

/**
 * The SQL mix: Basic users (from SQL), API keys (from SQL) and bearer tokens (identity without the database,
 * grants from SQL). While the database is away, everything that needs it is a 503; a forged token and a
 * request without credentials need no store and stay 401.
 */
const sqlMix = (keys: { readonly key: string; readonly revokedKey: string }, tokens: Tokens): Array<Attempt> => [
  {
    name: "alice Basic",
    path: "/documents/x",
    headers: { authorization: basic(alice.username, alice.password) },
    healthy: 200,
    faulted: 503
  },
  {
    name: "alice wrong password",
    path: "/documents/x",
    headers: { authorization: basic(alice.username, "wrong-Fault-Pw-0000") },
    healthy: 401,
    faulted: 503
  },
  {
    name: "unknown user",
    path: "/whoami",
    headers: { authorization: basic("mallory", alice.password) },
    healthy: 401,
    faulted: 503
  },
  {
    name: "dave without grants",
    path: "/documents/x",
    headers: { authorization: basic(dave.username, dave.password) },
    healthy: 403,
    faulted: 503
  },
  { name: "SQL API key", path: "/documents/x", headers: { "x-api-key": keys.key }, healthy: 200, faulted: 503 },
  { name: "altered API key", path: "/whoami", headers: bearer(altered(keys.key)), healthy: 401, faulted: 503 },
  { name: "revoked API key", path: "/whoami", headers: bearer(keys.revokedKey), healthy: 401, faulted: 503 },
  { name: "alice token", path: "/documents/x", headers: bearer(tokens.alice), healthy: 200, faulted: 503 },
  { name: "dave token", path: "/documents/x", headers: bearer(tokens.dave), healthy: 403, faulted: 503 },
  { name: "forged token", path: "/documents/x", headers: bearer(tokens.forged), healthy: 401, faulted: 401 },
  { name: "no credentials", path: "/documents/x", headers: {}, healthy: 401, faulted: 401 }
]

interface Tokens {
  readonly alice: string
  readonly dave: string
  readonly forged: string
}

const audience = "fault-api"

for (const dialect of [Databases.pg, Databases.mysql]) {
  describe.runIf(await dialect.shouldRun())(`${dialect.title} taken away and given back`, () => {
    let database: Databases.Database
    let keys: Effect.Effect.Success<typeof seed>
    let issuer: Issuer.Issuer
    let tokens: Tokens

    beforeAll(async () => {
      database = await dialect.create()
      keys = await onDatabase(database.url, seed)
      issuer = await Issuer.start()
      const aliceToken = await issuer.mint({}, { subject: "alice", audience })
      const [header, payload, signature] = aliceToken.split(".") as [string, string, string]
      tokens = {
        alice: aliceToken,
        dave: await issuer.mint({}, { subject: "dave", audience }),
        forged: `${header}.${payload}.${altered(signature)}`
      }
    })
    afterAll(async () => {
      await issuer?.close()
      await database?.drop()
    })

    it("defers every request that needs the database (503, never 200/401/500) while it is cut off or hangs, and serves again once it is back", async () => {
      const scenario = `${dialect.title} cut / stall`
      const rows = [...tableHeader]
      const proxy = await tcpProxy(dialect.host, dialect.port)
      const dir = await tempDir()
      await Fs.writeFile(
        Path.join(dir, "routes.json"),
        JSON.stringify([{ path: "/documents/*", require: { permissions: ["documents.read"] } }])
      )
      const gateway = await startGateway(
        {
          AUTH_DATABASE_URL: database.urlWith({ port: proxy.port }),
          AUTH_DATABASE_CONNECT_TIMEOUT: "1 second",
          AUTH_JWT_ISSUER: issuer.issuer,
          AUTH_JWT_AUDIENCE: audience,
          AUTH_ROUTES_FILE: "routes.json"
        },
        dir
      )
      const mix = sqlMix(keys, tokens)
      const waitUntilBack = () => eventually(async () => expect(await statusOf(gateway, mix[0]!)).toBe(200), 20_000)

      await runPhase(rows, scenario, "before", gateway, mix, "healthy")

      // Gone: open connections dropped, new ones refused.
      await proxy.cut()
      await runPhase(rows, scenario, "during cut", gateway, mix, "faulted")
      await proxy.restore()
      await waitUntilBack()
      await runPhase(rows, scenario, "after cut", gateway, mix, "healthy")

      // Hung: connections accepted, nothing forwarded, so only the timeouts end the wait.
      await proxy.stall()
      await runPhase(rows, scenario, "during stall", gateway, mix, "faulted")
      await proxy.restore()
      await waitUntilBack()
      await runPhase(rows, scenario, "after stall", gateway, mix, "healthy")

      // The same process served throughout: recovery needed no restart.
      expect(gateway.child.exitCode).toBeNull()
      console.log(rows.join("\n"))
    })
  })
}

// ---------------------------------------------------------------------------------------------------
// Redis

const redis = { host: "127.0.0.1", port: 6379, probe: "redis" } as const
const limit = 3

/** Key ids of their own per run, so budgets in the shared Redis never mix with other tests or runs. */
const uniqueKeyId = (name: string) => `${name}-${randomUUID().slice(0, 8)}`

interface RedisKeys {
  readonly dir: string
  readonly file: string
  /** One fresh key per phase, so that each phase starts with a whole budget. */
  readonly budgeted: Record<"before" | "during" | "after" | "stalled", string>
  /** A key with a budget no poll can spend, to watch the limiter come and go. */
  readonly probe: string
}

const redisKeys = async (): Promise<RedisKeys> => {
  const dir = await tempDir()
  const file = Path.join(dir, "api_keys.json")
  const budgeted = {
    before: ApiKey.generate(),
    during: ApiKey.generate(),
    after: ApiKey.generate(),
    stalled: ApiKey.generate()
  }
  const probe = ApiKey.generate()
  await Fs.writeFile(
    file,
    JSON.stringify([
      ...Object.entries(budgeted).map(([phase, key]) => ({ keyId: uniqueKeyId(phase), hash: ApiKey.hash(key) })),
      { keyId: uniqueKeyId("probe"), hash: ApiKey.hash(probe), rateLimitPerMinute: 100_000 }
    ])
  )
  return { dir, file, budgeted, probe }
}

/** `limit + 2` requests with one key and two unknown keys; what each answers depends on the phase. */
const redisMix = (key: string, statuses: ReadonlyArray<number>): Array<Attempt> => [
  ...statuses.map((status, i) => ({
    name: `budgeted key #${i + 1}`,
    path: "/whoami",
    headers: bearer(key),
    healthy: status,
    faulted: status
  })),
  { name: "unknown key", path: "/whoami", headers: bearer(ApiKey.generate()), healthy: 401, faulted: 401 },
  { name: "altered key", path: "/whoami", headers: { "x-api-key": altered(key) }, healthy: 401, faulted: 401 }
]

/** Statuses of a budget of `limit` spent by `limit + 2` requests, in any order (they run at once). */
const spent = { accepted: limit, refused: 2, limited: 2, deferred: 0, other: 0 }
const deferred = { accepted: 0, refused: 2, limited: 0, deferred: limit + 2, other: 0 }

/** Like `runPhase`, for a mix whose requests race for one budget: the tally is exact, the order is not. */
const runBudgetPhase = async (
  rows: Array<string>,
  scenario: string,
  phase: string,
  gateway: Gateway,
  key: string,
  expected: Tally
) => {
  const mix = redisMix(
    key,
    Array.from({ length: limit + 2 }, () => 0)
  )
  const statuses = await Promise.all(mix.map((attempt) => statusOf(gateway, attempt)))
  const counts = tally(statuses)
  rows.push(tableRow(scenario, phase, counts))
  console.log(rows.at(-1))
  // The unknown keys are refused whatever the limiter does: authentication comes first.
  expect(statuses.slice(limit + 2)).toEqual([401, 401])
  expect(counts).toEqual(expected)
}

/** A gateway counting the keys' budgets in Redis through a proxy the scenario can cut, stall and restore. */
const redisGateway = async (env: Record<string, string> = {}) => {
  const proxy = await tcpProxy(redis.host, redis.port)
  const keys = await redisKeys()
  const gateway = await startGateway(
    {
      AUTH_API_KEYS_FILE: keys.file,
      AUTH_REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      AUTH_RATE_LIMIT_PER_MINUTE: String(limit),
      ...env
    },
    keys.dir
  )
  return { gateway, keys, proxy }
}

describe.runIf(await Services.shouldRun("Redis", redis))("Redis taken away and given back", () => {
  it("without a fallback: 503 for every counted request while Redis is cut off or hangs, never a pass; the shared budget again after", async () => {
    const scenario = "Redis, no fallback"
    const rows = [...tableHeader]
    const { gateway, keys, proxy } = await redisGateway()
    const probeStatus = () => statusOf(gateway, redisMix(keys.probe, [0])[0]!)

    await runBudgetPhase(rows, scenario, "before", gateway, keys.budgeted.before, spent)

    await proxy.cut()
    await runBudgetPhase(rows, scenario, "during cut", gateway, keys.budgeted.during, deferred)
    await proxy.restore()
    await eventually(async () => expect(await probeStatus()).toBe(200), 20_000)
    // The key deferred during the outage has its whole budget: a deferred request is not counted later.
    await runBudgetPhase(rows, scenario, "after cut", gateway, keys.budgeted.during, spent)

    await proxy.stall()
    await runBudgetPhase(rows, scenario, "during stall", gateway, keys.budgeted.after, deferred)
    await proxy.restore()
    await eventually(async () => expect(await probeStatus()).toBe(200), 20_000)
    await runBudgetPhase(rows, scenario, "after stall", gateway, keys.budgeted.after, spent)

    // The window spent before the outages is still spent in Redis: nothing was forgotten or reset.
    expect(await statusOf(gateway, redisMix(keys.budgeted.before, [0])[0]!)).toBe(429)
    expect(gateway.child.exitCode).toBeNull()
    console.log(rows.join("\n"))
  })

  it("with AUTH_RATE_LIMIT_FALLBACK=memory: this instance's own budget while Redis is cut off, never unlimited; Redis's budget again after", async () => {
    const scenario = "Redis, memory fallback"
    const rows = [...tableHeader]
    const { gateway, keys, proxy } = await redisGateway({ AUTH_RATE_LIMIT_FALLBACK: "memory" })

    await runBudgetPhase(rows, scenario, "before", gateway, keys.budgeted.before, spent)

    await proxy.cut()
    await runBudgetPhase(rows, scenario, "during cut", gateway, keys.budgeted.during, spent)
    expect(gateway.output()).toContain("Redis cannot answer: rate limits are counted in this instance's memory")

    await proxy.restore()
    // Only a request can tell that Redis answers again; the probe's budget is too large to spend.
    await eventually(async () => {
      expect(await statusOf(gateway, redisMix(keys.probe, [0])[0]!)).toBe(200)
      expect(gateway.output()).toContain("Redis answers again: the rate limit is shared again")
    }, 20_000)
    await runBudgetPhase(rows, scenario, "after cut", gateway, keys.budgeted.after, spent)

    // A Redis that hangs is given up after its command timeout, and memory counts meanwhile.
    await proxy.stall()
    await runBudgetPhase(rows, scenario, "during stall", gateway, keys.budgeted.stalled, spent)
    expect(
      gateway.output().split("Redis cannot answer: rate limits are counted in this instance's memory")
    ).toHaveLength(3)
    await proxy.restore()
    await eventually(async () => {
      expect(await statusOf(gateway, redisMix(keys.probe, [0])[0]!)).toBe(200)
      expect(gateway.output().split("Redis answers again").length).toBe(3)
    }, 20_000)
    // The key spent in memory during the cut is untouched in Redis: its whole budget there.
    await runBudgetPhase(rows, scenario, "after stall", gateway, keys.budgeted.during, spent)

    // The key spent before the outage is spent in Redis only: the memory limiter never saw it, so a 429 here
    // shows the count is Redis's again.
    expect(await statusOf(gateway, redisMix(keys.budgeted.before, [0])[0]!)).toBe(429)
    console.log(rows.join("\n"))
  })
})
