/**
 * Black-box tests of the gateway's SQL stores (`AUTH_DATABASE_URL`): the same body on PostgreSQL, MariaDB
 * and SQLite. Each suite seeds a fresh database in-process with `Migrations` and `SqlAdmin`, then starts the
 * built gateway against it and talks HTTP to it; on PostgreSQL, a TCP proxy takes the database away mid-run.
 */
import { PasswordHasher } from "@effect-auth/core"
import { Migrations, SqlAdmin } from "@effect-auth/sql"
import { Databases } from "@effect-auth/testing"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Path from "node:path"
import type { Gateway } from "./helpers.js"
import {
  cleanup,
  eventually,
  get,
  listeningLine,
  onDatabase,
  runToExit,
  startGateway,
  tcpProxy,
  tempDir
} from "./helpers.js"

afterEach(cleanup)

// Distinctive passwords, so that output or a body echoing one would be caught.
const alice = { username: "alice", password: "alice-Db-Pw-4c8e1a7f" }
const dave = { username: "dave", password: "dave-Db-Pw-9b2d6e30" }
const frank = { username: "frank", password: "frank-File-Pw-1e5a9c44" }

const login = (user: { readonly username: string; readonly password: string }) =>
  [user.username, user.password] as const

const routes = [
  { path: "/documents/*", require: { permissions: ["documents.read"] } },
  { path: "/reports/*", require: { permissions: ["reports.export"] } },
  { path: "/purge/*", require: { permissions: ["reports.delete"] } },
  { path: "/billing/*", require: { permissions: ["billing.read"] } },
  { path: "/staff/*", require: { groups: ["staff"] } }
]

// Low-cost hashes keep the tests fast; the gateway verifies with the parameters each hash names.
const hashOf = (password: string) =>
  Effect.flatMap(PasswordHasher.PasswordHasher, (hasher) => hasher.hash(Redacted.make(password))).pipe(
    Effect.provide(PasswordHasher.layer({ ln: 10 }))
  )

/**
 * The model every dialect gets: alice in group `staff`, whose role `reader` grants `documents.read` and
 * `reports.*` but denies `reports.delete`, and inherits `viewer` (`profile.read`); dave with no grants; an
 * API key holding `reader`, and a revoked one.
 */
const seed = Effect.gen(function* () {
  yield* Migrations.run()
  yield* SqlAdmin.addUser({
    username: alice.username,
    passwordHash: yield* hashOf(alice.password),
    name: "Alice Example",
    email: "alice@example.com"
  })
  yield* SqlAdmin.addUser({ username: dave.username, passwordHash: yield* hashOf(dave.password) })
  yield* SqlAdmin.grant({ principal: "alice" }, { group: "staff" })
  yield* SqlAdmin.grant({ group: "staff" }, { role: "reader" })
  yield* SqlAdmin.grant({ role: "reader" }, { permission: "documents.read" })
  yield* SqlAdmin.grant({ role: "reader" }, { permission: "reports.*" })
  yield* SqlAdmin.grant({ role: "reader" }, { permission: "!reports.delete" })
  yield* SqlAdmin.grant({ role: "reader" }, { role: "viewer" })
  yield* SqlAdmin.grant({ role: "viewer" }, { permission: "profile.read" })
  const key = yield* SqlAdmin.createApiKey({ keyId: "svc-reports", owner: "alice", description: "reports job" })
  yield* SqlAdmin.grant({ principal: "svc-reports" }, { role: "reader" })
  const revoked = yield* SqlAdmin.createApiKey({ keyId: "svc-retired" })
  yield* SqlAdmin.revokeApiKey("svc-retired")
  return { key: Redacted.value(key.key), revokedKey: Redacted.value(revoked.key) }
})

/** A routes file in a fresh directory, and the environment that points the gateway at the database. */
const configure = async (url: string, env: Record<string, string> = {}) => {
  const dir = await tempDir()
  await Fs.writeFile(Path.join(dir, "routes.json"), JSON.stringify(routes))
  return { dir, env: { AUTH_DATABASE_URL: url, AUTH_ROUTES_FILE: "routes.json", ...env } }
}

const startOn = async (url: string, env: Record<string, string> = {}): Promise<Gateway> => {
  const setup = await configure(url, env)
  return startGateway(setup.env, setup.dir)
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

/** A port on 127.0.0.1 that was just free: nothing listens there. */
const closedPort = async () => {
  const probe = Net.createServer()
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve))
  const { port } = probe.address() as Net.AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

for (const dialect of Databases.all) {
  describe.runIf(await dialect.shouldRun())(`SQL stores on ${dialect.name}`, () => {
    let database: Databases.Database
    let keys: Effect.Effect.Success<typeof seed>

    beforeAll(async () => {
      database = await dialect.create()
      keys = await onDatabase(database.url, seed)
    })
    afterAll(() => database?.drop())

    it("a Basic user from the database gets /whoami with its groups, roles and permissions from the grant tables", async () => {
      const gateway = await startOn(database.url)
      const response = await get(`${gateway.url}/whoami`, login(alice))
      expect(response.status).toBe(200)
      expect(await response.json()).toStrictEqual({
        id: "alice",
        kind: "user",
        provider: "basic",
        name: "Alice Example",
        email: "alice@example.com",
        groups: ["staff"],
        roles: ["reader", "viewer"],
        permissions: ["documents.read", "profile.read", "reports.*", "!reports.delete"]
      })
      expect(gateway.output()).not.toContain("DEMO MODE")
    })

    it("refuses a wrong password, an unknown user and a user name in another case with 401", async () => {
      const gateway = await startOn(database.url)
      const wrongPassword = "not-Alice-Db-Pw-77aa"
      for (const credentials of [
        [alice.username, wrongPassword],
        ["mallory", wrongPassword],
        ["Alice", alice.password]
      ] as const) {
        const response = await get(`${gateway.url}/whoami`, credentials)
        expect({ credentials, status: response.status }).toEqual({ credentials, status: 401 })
        expect(await response.text()).not.toContain(wrongPassword)
      }
    })

    it("accepts an API key from the database as a machine with its own grants, and refuses a revoked one", async () => {
      const gateway = await startOn(database.url)
      const response = await get(`${gateway.url}/whoami`, undefined, bearer(keys.key))
      expect(response.status).toBe(200)
      expect(await response.json()).toMatchObject({
        id: "svc-reports",
        kind: "machine",
        provider: "api-key",
        groups: [],
        roles: ["reader", "viewer"]
      })
      expect((await get(`${gateway.url}/documents/x`, undefined, { "x-api-key": keys.key })).status).toBe(200)

      expect((await get(`${gateway.url}/whoami`, undefined, bearer(keys.revokedKey))).status).toBe(401)
      // The same key with its last character changed.
      const altered = `${keys.key.slice(0, -1)}${keys.key.endsWith("0") ? "1" : "0"}`
      expect((await get(`${gateway.url}/whoami`, undefined, bearer(altered))).status).toBe(401)
    })

    it("decides routes on the database's permissions: via group and role, via a wildcard, a deny, a missing one", async () => {
      const gateway = await startOn(database.url)
      const status = async (path: string) => (await get(`${gateway.url}${path}`, login(alice))).status
      expect(await status("/documents/x")).toBe(200) // alice -> staff -> reader -> documents.read
      expect(await status("/reports/x")).toBe(200) // reports.* covers reports.export
      expect(await status("/purge/x")).toBe(403) // reports.* covers it, !reports.delete wins
      expect(await status("/billing/x")).toBe(403) // nobody granted billing.read
      expect(await status("/staff/x")).toBe(200)
      // A user with no grants at all.
      expect((await get(`${gateway.url}/documents/x`, login(dave))).status).toBe(403)
    })

    it("applies a grant added or revoked while it runs to the next request (no cache configured)", async () => {
      const gateway = await startOn(database.url)
      const billing = () => get(`${gateway.url}/billing/x`, login(dave))
      expect((await billing()).status).toBe(403)
      await onDatabase(database.url, SqlAdmin.grant({ principal: "dave" }, { permission: "billing.read" }))
      expect((await billing()).status).toBe(200)
      await onDatabase(database.url, SqlAdmin.revoke({ principal: "dave" }, { permission: "billing.read" }))
      expect((await billing()).status).toBe(403)
    })

    it("with AUTH_GRANTS_CACHE_TTL, serves cached grants until the TTL runs out", async () => {
      const gateway = await startOn(database.url, { AUTH_GRANTS_CACHE_TTL: "2 seconds" })
      const billing = () => get(`${gateway.url}/billing/y`, login(dave))
      expect((await billing()).status).toBe(403)
      await onDatabase(database.url, SqlAdmin.grant({ principal: "dave" }, { permission: "billing.read" }))
      try {
        // Still the cached grants: the change counts only once they expire.
        expect((await billing()).status).toBe(403)
        await eventually(async () => expect((await billing()).status).toBe(200), 6_000)
      } finally {
        await onDatabase(database.url, SqlAdmin.revoke({ principal: "dave" }, { permission: "billing.read" }))
      }
    })

    it("takes users and keys from the files when AUTH_BASIC_USERS_FILE and AUTH_API_KEYS_FILE are set, grants still from the database", async () => {
      const setup = await configure(database.url, {
        AUTH_BASIC_USERS_FILE: "users.txt",
        AUTH_API_KEYS_FILE: "api_keys.txt"
      })
      const fileKey = "sk-file-key-5f0c2b7e9d1a"
      // A group in the file is a claim: with the database's grants it does not count.
      await Fs.writeFile(
        Path.join(setup.dir, "users.txt"),
        `${frank.username}:${await Effect.runPromise(hashOf(frank.password))}:admin\n`
      )
      await Fs.writeFile(Path.join(setup.dir, "api_keys.txt"), `filekey:${fileKey}\n`)
      await onDatabase(database.url, SqlAdmin.grant({ principal: "frank" }, { group: "staff" }))
      const gateway = await startGateway(setup.env, setup.dir)

      const whoami = await get(`${gateway.url}/whoami`, login(frank))
      expect(whoami.status).toBe(200)
      expect(await whoami.json()).toMatchObject({ id: "frank", provider: "basic", groups: ["staff"] })
      expect((await get(`${gateway.url}/whoami`, login(alice))).status).toBe(401)

      expect(await (await get(`${gateway.url}/whoami`, undefined, bearer(fileKey))).json()).toMatchObject({
        id: "filekey",
        kind: "machine"
      })
      expect((await get(`${gateway.url}/whoami`, undefined, bearer(keys.key))).status).toBe(401)
    })

    it("without the schema, stops the start telling to run `effect-auth migrate`; with AUTH_DATABASE_MIGRATE=true it migrates and starts", async () => {
      const empty = await dialect.create()
      try {
        const { code, output } = await runToExit({ AUTH_DATABASE_URL: empty.url })
        expect(code).not.toBe("timeout")
        expect(code).not.toBe(0)
        expect(output).toContain("effect-auth migrate")
        expect(output).toContain("AUTH_DATABASE_MIGRATE=true")
        expect(output).not.toMatch(listeningLine)

        const gateway = await startOn(empty.url, { AUTH_DATABASE_MIGRATE: "true" })
        expect((await get(`${gateway.url}/healthz`)).status).toBe(200)
        expect((await get(`${gateway.url}/whoami`, login(alice))).status).toBe(401)
        // The schema is there now: a user added to it can sign in at once.
        const passwordHash = await Effect.runPromise(hashOf(alice.password))
        await onDatabase(empty.url, SqlAdmin.addUser({ username: alice.username, passwordHash }))
        expect((await get(`${gateway.url}/whoami`, login(alice))).status).toBe(200)
      } finally {
        await empty.drop()
      }
    })
  })
}

// A password-like string in the URL: trust authentication ignores it, so the gateway runs with it, and it
// must never appear in anything the gateway prints.
const databasePassword = "db-Sentinel-Pw-8d3f0b6a"

describe.runIf(await Databases.pg.shouldRun())("a PostgreSQL outage mid-run", () => {
  let database: Databases.Database
  let keys: Effect.Effect.Success<typeof seed>

  beforeAll(async () => {
    database = await Databases.pg.create()
    keys = await onDatabase(database.url, seed)
  })
  afterAll(() => database?.drop())

  // A request during an outage needs at most two store queries (the user, then the grants), each bounded to
  // 2 seconds, connecting included; the rest is slack for a loaded machine.
  const boundMillis = 2 * 2_000 + 2_000

  /** Every attempt answers 503 within the bound: never a 200 or a 401 for a valid caller. */
  const expectUnavailable = async (gateway: Gateway, key: string) => {
    const attempts: ReadonlyArray<readonly [string, Parameters<typeof get>[1], Record<string, string>]> = [
      ["/whoami", login(alice), {}],
      ["/documents/x", login(alice), {}],
      ["/whoami", undefined, bearer(key)],
      ["/whoami", login(alice), {}]
    ]
    for (const [path, credentials, headers] of attempts) {
      const started = Date.now()
      const response = await get(`${gateway.url}${path}`, credentials, headers)
      const elapsed = Date.now() - started
      expect({ path, status: response.status }).toEqual({ path, status: 503 })
      expect(elapsed).toBeLessThan(boundMillis)
      expect(response.headers.get("retry-after")).toMatch(/^\d+$/)
      expect(await response.json()).toMatchObject({ status: 503, code: "provider_unavailable" })
    }
  }

  const expectBack = async (gateway: Gateway, key: string) => {
    await eventually(async () => expect((await get(`${gateway.url}/whoami`, login(alice))).status).toBe(200))
    expect((await get(`${gateway.url}/documents/x`, undefined, bearer(key))).status).toBe(200)
    expect((await get(`${gateway.url}/whoami`, [alice.username, "wrong-password"])).status).toBe(401)
  }

  it("answers 503 (never 200 or 401) within a bound while the database is cut off or hangs, and 200 again once it is back", async () => {
    const proxy = await tcpProxy(Databases.pg.host, Databases.pg.port)
    const url = database.urlWith({ port: proxy.port, password: databasePassword })
    const gateway = await startOn(url, { AUTH_DATABASE_CONNECT_TIMEOUT: "1 second" })
    expect((await get(`${gateway.url}/whoami`, login(alice))).status).toBe(200)
    expect((await get(`${gateway.url}/documents/x`, undefined, bearer(keys.key))).status).toBe(200)

    // Gone: connections dropped, new ones refused.
    await proxy.cut()
    await expectUnavailable(gateway, keys.key)
    await proxy.restore()
    await expectBack(gateway, keys.key)

    // Hung: connections stay open but nothing comes back, so only the query timeout ends the wait.
    await proxy.stall()
    await expectUnavailable(gateway, keys.key)
    await proxy.restore()
    await expectBack(gateway, keys.key)

    // The URL is logged without its password, and the outages' errors do not carry it either.
    const output = gateway.output()
    expect(output).toContain(`postgres://postgres:***@127.0.0.1:${proxy.port}/test`)
    expect(output).not.toContain(databasePassword)
  })
})

const mysqlRuns = await Databases.mysql.shouldRun()

describe("a database that cannot be used at start", () => {
  it.each([
    ["postgres", (port: number) => `postgres://postgres:${databasePassword}@127.0.0.1:${port}/test`],
    ["mysql", (port: number) => `mysql://root:${databasePassword}@127.0.0.1:${port}/test`]
  ])("%s on a closed port: stops the start naming the URL without its password", async (scheme, urlOf) => {
    const port = await closedPort()
    const { code, output } = await runToExit({
      AUTH_DATABASE_URL: urlOf(port),
      AUTH_DATABASE_CONNECT_TIMEOUT: "2 seconds"
    })
    expect(code).not.toBe("timeout")
    expect(code).not.toBe(0)
    expect(output).toContain(`${scheme}://`)
    expect(output).toContain(`:***@127.0.0.1:${port}`)
    expect(output).not.toContain(databasePassword)
    expect(output).not.toMatch(listeningLine)
  })

  it.runIf(mysqlRuns)(
    "MariaDB refusing a wrong password: stops the start without the password in any output",
    async () => {
      const url = `mysql://root:${databasePassword}@${Databases.mysql.host}:${Databases.mysql.port}/test`
      const { code, output } = await runToExit({ AUTH_DATABASE_URL: url })
      expect(code).not.toBe("timeout")
      expect(code).not.toBe(0)
      expect(output).toMatch(/Access denied/)
      expect(output).toContain("mysql://root:***@127.0.0.1:3306/test")
      expect(output).not.toContain(databasePassword)
    }
  )

  it("an unsupported URL scheme or a bad table prefix stops the start, naming the variable's problem", async () => {
    const scheme = await runToExit({ AUTH_DATABASE_URL: `mongodb://root:${databasePassword}@127.0.0.1/test` })
    expect(scheme.code).not.toBe(0)
    expect(scheme.output).toContain("Unsupported database URL")
    expect(scheme.output).not.toContain(databasePassword)

    const prefix = await runToExit({ AUTH_DATABASE_URL: "sqlite::memory:", AUTH_DATABASE_TABLE_PREFIX: "Bad-Prefix" })
    expect(prefix.code).not.toBe(0)
    expect(prefix.output).toContain("AUTH_DATABASE_TABLE_PREFIX")
    expect(prefix.output).not.toMatch(listeningLine)
  })
})
