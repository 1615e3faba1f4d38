/**
 * Black-box tests of the gateway's API keys (`AUTH_API_KEYS_FILE`), its per-principal rate limit (memory
 * and the shared Redis on 127.0.0.1:6379) and its audit log (`AUTH_AUDIT_LOG`): the built `dist/main.js`
 * as a child process, spoken to over HTTP.
 */
import { ApiKey, ApiKeyFile } from "@effect-auth/core"
import { Issuer, Services } from "@effect-auth/testing"
import { afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Path from "node:path"
import type { Gateway } from "./helpers.js"
import { cleanup, eventually, startGateway, tcpProxy, tempDir, waitForOutput } from "./helpers.js"

afterEach(cleanup)

const redis = { host: "127.0.0.1", port: 6379, probe: "redis" } as const
const redisHost = redis.host
const redisPort = redis.port
const runRedisTests = await Services.shouldRun("Redis (for the gateway's Redis rate limit tests)", redis)

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
const closedPort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/** A key id no other test (or earlier run sharing the Redis) uses, so Redis budgets never mix. */
const uniqueKeyId = (name: string) => `${name}-${randomUUID().slice(0, 8)}`

interface Keys {
  readonly dir: string
  readonly file: string
}

/** Writes a keys file of hashed lines in a fresh directory. */
const keysFile = async (keys: ReadonlyArray<readonly [keyId: string, key: string]>): Promise<Keys> => {
  const dir = await tempDir()
  const file = Path.join(dir, "api_keys.txt")
  await Fs.writeFile(file, keys.map(([keyId, key]) => ApiKeyFile.formatLine(keyId, key) + "\n").join(""))
  return { dir, file }
}

const startWithKeys = (keys: Keys, env: Record<string, string> = {}) =>
  startGateway({ AUTH_API_KEYS_FILE: keys.file, ...env }, keys.dir)

const call = async (gateway: Gateway, path: string, headers: Record<string, string>) => {
  const response = await fetch(`${gateway.url}${path}`, { headers })
  const text = await response.text()
  return { status: response.status, headers: response.headers, text }
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

/** A key of the grammar that no file holds. */
const missingKey = "sk-not-in-any-file-0000"

// ---------------------------------------------------------------------------------------------------

describe("AUTH_API_KEYS_FILE", () => {
  it("accepts a key as Bearer, as a bare Authorization and in X-API-Key: /whoami is the key's machine", async () => {
    const key = ApiKey.generate()
    const gateway = await startWithKeys(await keysFile([["production", key]]))
    for (const headers of [bearer(key), { authorization: key }, { "x-api-key": key }]) {
      const response = await call(gateway, "/whoami", headers)
      expect({ headers: Object.keys(headers), status: response.status }).toEqual({
        headers: Object.keys(headers),
        status: 200
      })
      expect(JSON.parse(response.text)).toMatchObject({ id: "production", kind: "machine", provider: "api-key" })
    }
  })

  it("reads the key from AUTH_API_KEY_HEADER when it names another header", async () => {
    const key = ApiKey.generate()
    const gateway = await startWithKeys(await keysFile([["custom", key]]), { AUTH_API_KEY_HEADER: "x-custom-key" })
    expect((await call(gateway, "/whoami", { "x-custom-key": key })).status).toBe(200)
  })

  it("refuses an unknown key with 401, never echoing it; OpenAI style says invalid_api_key", async () => {
    const keys = await keysFile([["production", ApiKey.generate()]])
    const unknown = ApiKey.generate()
    const problem = await startWithKeys(keys)
    const refused = await call(problem, "/whoami", bearer(unknown))
    expect(refused.status).toBe(401)
    expect(refused.text).not.toContain(unknown)

    const openai = await startWithKeys(keys, { AUTH_ERROR_STYLE: "openai" })
    for (const headers of [bearer(unknown), { "x-api-key": unknown }, {}]) {
      const response = await call(openai, "/whoami", headers)
      expect(response.status).toBe(401)
      expect(JSON.parse(response.text)).toEqual({
        error: {
          message: expect.any(String),
          type: "invalid_request_error",
          param: "authorization",
          code: "invalid_api_key"
        }
      })
      expect(response.text).not.toContain(unknown)
    }
  })

  it("hot reload: a key appended to the file is accepted within seconds, a revoked one refused", async () => {
    const [first, second] = [ApiKey.generate(), ApiKey.generate()]
    const keys = await keysFile([["first", first]])
    const gateway = await startWithKeys(keys)
    expect((await call(gateway, "/whoami", bearer(second))).status).toBe(401)

    await Fs.appendFile(keys.file, ApiKeyFile.formatLine("second", second) + "\n")
    await eventually(async () => expect((await call(gateway, "/whoami", bearer(second))).status).toBe(200))
    expect((await call(gateway, "/whoami", bearer(first))).status).toBe(200)

    // Revoking: the file without the first key.
    await Fs.writeFile(keys.file, ApiKeyFile.formatLine("second", second) + "\n")
    await eventually(async () => expect((await call(gateway, "/whoami", bearer(first))).status).toBe(401))
    expect((await call(gateway, "/whoami", bearer(second))).status).toBe(200)
  })
})

describe("rate limit", () => {
  const expectHeaders = (headers: Headers, limit: string, remaining: string) => {
    expect(headers.get("x-ratelimit-limit")).toBe(limit)
    expect(headers.get("x-ratelimit-remaining")).toBe(remaining)
    expect(Number(headers.get("x-ratelimit-reset"))).toBeGreaterThan(0)
    expect(Number(headers.get("x-ratelimit-reset"))).toBeLessThanOrEqual(60)
  }

  it("AUTH_RATE_LIMIT_PER_MINUTE=3: three answers, then 429 with Retry-After and X-RateLimit-*", async () => {
    const key = ApiKey.generate()
    const gateway = await startWithKeys(await keysFile([["production", key]]), { AUTH_RATE_LIMIT_PER_MINUTE: "3" })
    for (const remaining of ["2", "1", "0"]) {
      const response = await call(gateway, "/whoami", bearer(key))
      expect(response.status).toBe(200)
      expectHeaders(response.headers, "3", remaining)
    }
    const limited = await call(gateway, "/whoami", bearer(key))
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
    expect(Number(limited.headers.get("retry-after"))).toBeLessThanOrEqual(60)
    expectHeaders(limited.headers, "3", "0")
    expect(JSON.parse(limited.text)).toMatchObject({ status: 429, code: "rate_limit_exceeded" })
    // Public paths are not counted, and a refused key is a 401, not a 429.
    expect((await call(gateway, "/healthz", bearer(key))).status).toBe(200)
    expect((await call(gateway, "/healthz", bearer(key))).headers.get("x-ratelimit-limit")).toBeNull()
    expect((await call(gateway, "/whoami", bearer(missingKey))).status).toBe(401)
  })

  it("is per key, a key's own rateLimitPerMinute overrides it, and the OpenAI body says rate_limit_error", async () => {
    const [small, other] = [ApiKey.generate(), ApiKey.generate()]
    const dir = await tempDir()
    const file = Path.join(dir, "api_keys.json")
    await Fs.writeFile(
      file,
      JSON.stringify([
        { keyId: "small", hash: ApiKey.hash(small), rateLimitPerMinute: 1 },
        { keyId: "other", hash: ApiKey.hash(other) }
      ])
    )
    const gateway = await startWithKeys({ dir, file }, { AUTH_RATE_LIMIT_PER_MINUTE: "2", AUTH_ERROR_STYLE: "openai" })
    expect((await call(gateway, "/whoami", bearer(small))).status).toBe(200)
    const limited = await call(gateway, "/whoami", bearer(small))
    expect(limited.status).toBe(429)
    expectHeaders(limited.headers, "1", "0")
    expect(JSON.parse(limited.text)).toEqual({
      error: { message: expect.any(String), type: "rate_limit_error", param: null, code: "rate_limit_exceeded" }
    })
    // Another key has its own budget, of the configured size.
    const first = await call(gateway, "/whoami", bearer(other))
    expectHeaders(first.headers, "2", "1")
    const metrics = await call(gateway, "/metrics", bearer(other))
    expect(metrics.status).toBe(200)
    expect(JSON.parse(metrics.text)).toMatchObject({ key_id: "other", used: 2, limit: 2 })
    expect((await call(gateway, "/whoami", bearer(other))).status).toBe(429)
  })

  it("counts a 403 against the caller's budget with X-RateLimit-*; a spent budget is a 429 before the 403", async () => {
    const key = ApiKey.generate()
    const dir = await tempDir()
    const file = Path.join(dir, "api_keys.json")
    await Fs.writeFile(file, JSON.stringify([{ keyId: "reader", hash: ApiKey.hash(key), groups: ["reader"] }]))
    await Fs.writeFile(
      Path.join(dir, "routes.json"),
      JSON.stringify([{ path: "/admin/*", require: { groups: ["admin"] } }, { path: "/app/*" }])
    )
    const gateway = await startWithKeys(
      { dir, file },
      { AUTH_ROUTES_FILE: "routes.json", AUTH_RATE_LIMIT_PER_MINUTE: "3", AUTH_AUDIT_LOG: "audit.log" }
    )
    const forbidden = await call(gateway, "/admin/x", bearer(key))
    expect(forbidden.status).toBe(403)
    expect(JSON.parse(forbidden.text)).toMatchObject({ status: 403, code: "insufficient_scope" })
    expectHeaders(forbidden.headers, "3", "2")
    const allowed = await call(gateway, "/app/x", bearer(key))
    expect(allowed.status).toBe(200)
    expectHeaders(allowed.headers, "3", "1")
    expectHeaders((await call(gateway, "/admin/x", bearer(key))).headers, "3", "0")
    // The budget is spent: the forbidden route answers 429 like the allowed one, never 403.
    const limited = await call(gateway, "/admin/x", bearer(key))
    expect(limited.status).toBe(429)
    expectHeaders(limited.headers, "3", "0")
    expect((await call(gateway, "/app/x", bearer(key))).status).toBe(429)

    await eventually(async () => {
      const lines = (await Fs.readFile(Path.join(dir, "audit.log"), "utf8")).trimEnd().split("\n")
      expect(lines).toHaveLength(5)
      const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
      expect(entries.map((entry) => entry["status"])).toEqual([403, 200, 403, 429, 429])
      for (const entry of entries) {
        expect(entry).toMatchObject({ key_id: "reader", principal: "reader", provider: "api-key" })
      }
    })
  })

  it("counts bearer-token callers by their id; a token's own key_id or rate_limit_per_minute claim is ignored", async () => {
    const kit = await Issuer.start()
    try {
      const gateway = await startGateway({
        AUTH_JWT_ISSUER: kit.issuer,
        AUTH_JWT_AUDIENCE: "api",
        AUTH_RATE_LIMIT_PER_MINUTE: "1",
        AUTH_AUDIT_LOG: "audit.log"
      })
      const token = await kit.mint(
        { key_id: "production", rate_limit_per_minute: 1000 },
        { subject: "svc", audience: "api" }
      )
      const first = await call(gateway, "/whoami", bearer(token))
      expect(first.status).toBe(200)
      expectHeaders(first.headers, "1", "0")
      expect((await call(gateway, "/whoami", bearer(token))).status).toBe(429)
      await eventually(async () => {
        const lines = (await Fs.readFile(Path.join(gateway.cwd, "audit.log"), "utf8")).trimEnd().split("\n")
        expect(lines).toHaveLength(2)
        expect(JSON.parse(lines[0]!)).toMatchObject({ key_id: null, principal: "svc", provider: "jwt", status: 200 })
        expect(JSON.parse(lines[1]!)).toMatchObject({ principal: "svc", status: 429 })
      })
    } finally {
      await kit.close()
    }
  })

  it("Redis unreachable: 503 by default, the memory budget with AUTH_RATE_LIMIT_FALLBACK=memory", async () => {
    const key = ApiKey.generate()
    const keys = await keysFile([["production", key]])
    const url = `redis://127.0.0.1:${await closedPort()}`
    const closed = await startWithKeys(keys, { AUTH_REDIS_URL: url, AUTH_RATE_LIMIT_PER_MINUTE: "2" })
    const unavailable = await call(closed, "/whoami", bearer(key))
    expect(unavailable.status).toBe(503)
    expect(unavailable.headers.get("retry-after")).not.toBeNull()
    expect(JSON.parse(unavailable.text)).toMatchObject({ code: "provider_unavailable" })

    const fallback = await startWithKeys(keys, {
      AUTH_REDIS_URL: url,
      AUTH_RATE_LIMIT_PER_MINUTE: "2",
      AUTH_RATE_LIMIT_FALLBACK: "memory"
    })
    const statuses: Array<number> = []
    for (let i = 0; i < 3; i++) statuses.push((await call(fallback, "/whoami", bearer(key))).status)
    expect(statuses).toEqual([200, 200, 429])
  })

  describe.runIf(runRedisTests)("shared through Redis", () => {
    beforeAll(async () => {
      expect(await Services.isReachable(redis), `no Redis on ${redisHost}:${redisPort}`).toBe(true)
    })

    it("two gateway processes together allow exactly the budget per key", async () => {
      const [a, b] = [ApiKey.generate(), ApiKey.generate()]
      const [idA, idB] = [uniqueKeyId("shared-a"), uniqueKeyId("shared-b")]
      const keys = await keysFile([
        [idA, a],
        [idB, b]
      ])
      const env = { AUTH_REDIS_URL: `redis://${redisHost}:${redisPort}`, AUTH_RATE_LIMIT_PER_MINUTE: "5" }
      const [one, two] = await Promise.all([startWithKeys(keys, env), startWithKeys(keys, env)])
      const statusesOf = (key: string, count: number) =>
        Promise.all(
          Array.from({ length: count }, (_, i) => call(i % 2 === 0 ? one : two, "/whoami", bearer(key)))
        ).then((responses) => responses.map((response) => response.status))

      // Concurrent requests through both instances: exactly the budget passes.
      const statuses = await statusesOf(b, 12)
      expect(statuses.filter((status) => status === 200)).toHaveLength(5)
      expect(statuses.filter((status) => status === 429)).toHaveLength(7)

      // Both instances count into, and read, the same window (/metrics is counted too).
      expect(await statusesOf(a, 4)).toEqual([200, 200, 200, 200])
      const metrics = await call(two, "/metrics", bearer(a))
      expect(metrics.status).toBe(200)
      expect(JSON.parse(metrics.text)).toMatchObject({ key_id: idA, used: 5, limit: 5 })
      expect(await statusesOf(a, 2)).toEqual([429, 429])
    })

    it("two processes share exactly the budget; with Redis gone both answer 503, and both recover by themselves", async () => {
      // A proxy stands in for Redis, so that "Redis stopped" does not stop the server other tests share.
      const proxy = await tcpProxy(redisHost, redisPort)
      const [budgeted, probing] = [ApiKey.generate(), ApiKey.generate()]
      const [budgetedId, probingId] = [uniqueKeyId("proxied-budget"), uniqueKeyId("proxied-probe")]
      const dir = await tempDir()
      const file = Path.join(dir, "api_keys.json")
      await Fs.writeFile(
        file,
        JSON.stringify([
          { keyId: budgetedId, hash: ApiKey.hash(budgeted) },
          // Polls while Redis comes and goes must not run into a budget.
          { keyId: probingId, hash: ApiKey.hash(probing), rateLimitPerMinute: 100_000 }
        ])
      )
      const env = { AUTH_REDIS_URL: `redis://127.0.0.1:${proxy.port}`, AUTH_RATE_LIMIT_PER_MINUTE: "4" }
      const gateways = await Promise.all([startWithKeys({ dir, file }, env), startWithKeys({ dir, file }, env)])

      const responses = await Promise.all(
        Array.from({ length: 10 }, (_, i) => call(gateways[i % 2]!, "/whoami", bearer(budgeted)))
      )
      const statuses = responses.map((response) => response.status)
      expect(statuses.filter((status) => status === 200)).toHaveLength(4)
      expect(statuses.filter((status) => status === 429)).toHaveLength(6)

      await proxy.cut()
      const whileCut: Array<number> = []
      for (const gateway of gateways) {
        await eventually(async () => {
          const response = await call(gateway, "/whoami", bearer(probing))
          whileCut.push(response.status)
          expect(response.status).toBe(503)
          expect(JSON.parse(response.text)).toMatchObject({ code: "provider_unavailable" })
        }, 5_000)
      }
      // Neither let a request through nor blamed the caller while the limiter was away.
      expect(whileCut.filter((status) => status !== 503)).toEqual([])

      await proxy.restore()
      for (const gateway of gateways) {
        await eventually(async () => expect((await call(gateway, "/whoami", bearer(probing))).status).toBe(200), 15_000)
      }
      // The shared window survived the outage: the spent key is still spent on both.
      for (const gateway of gateways) expect((await call(gateway, "/whoami", bearer(budgeted))).status).toBe(429)
    })
  })
})

describe("AUTH_AUDIT_LOG", () => {
  it("writes one JSON line per request, accepted and refused, with the key id and never the key", async () => {
    const key = ApiKey.generate()
    const unknown = ApiKey.generate()
    const keys = await keysFile([["production", key]])
    const auditFile = Path.join(keys.dir, "audit.log")
    const gateway = await startWithKeys(keys, { AUTH_AUDIT_LOG: auditFile })
    expect((await call(gateway, "/whoami?api_key=query-secret", bearer(key))).status).toBe(200)
    expect((await call(gateway, "/whoami", bearer(unknown))).status).toBe(401)
    expect((await call(gateway, "/healthz", {})).status).toBe(200)

    let text = ""
    await eventually(async () => {
      text = await Fs.readFile(auditFile, "utf8")
      expect(text.trimEnd().split("\n")).toHaveLength(3)
    })
    const lines = text
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(lines[0]).toMatchObject({
      key_id: "production",
      principal: "production",
      provider: "api-key",
      method: "GET",
      path: "/whoami",
      status: 200
    })
    expect(lines[1]).toMatchObject({ key_id: null, principal: null, method: "GET", path: "/whoami", status: 401 })
    expect(lines[2]).toMatchObject({ key_id: null, path: "/healthz", status: 200 })
    for (const line of lines) {
      expect(Number.isNaN(Date.parse(String(line["time"])))).toBe(false)
      expect(typeof line["latency_ms"]).toBe("number")
    }
    for (const secret of [key, unknown, "query-secret"]) expect(text).not.toContain(secret)
    expect((await Fs.stat(auditFile)).mode & 0o077).toBe(0)
  })
})

describe("demo mode's API key", () => {
  it("prints a key that works as Bearer and X-API-Key; the keys file holds only its hash, owner-only", async () => {
    const gateway = await startGateway()
    await waitForOutput(gateway, (output) => /# \d{3}:[^\n]*\n=+\n/.test(output), "the demo banner")
    const key = /^ {3}API_KEY=(\S+)$/m.exec(gateway.output())?.[1]
    expect(key).toMatch(/^sk-/)
    for (const headers of [bearer(key!), { "x-api-key": key! }]) {
      const response = await call(gateway, "/whoami", headers)
      expect(response.status).toBe(200)
      expect(JSON.parse(response.text)).toMatchObject({ id: "demo", kind: "machine" })
    }
    const file = Path.join(gateway.cwd, ".demo", "api_keys.txt")
    const text = await Fs.readFile(file, "utf8")
    expect(text).not.toContain(key!)
    expect(text).toContain(`demo:${ApiKey.hash(key!)}`)
    expect((await Fs.stat(file)).mode & 0o077).toBe(0)
  })
})
