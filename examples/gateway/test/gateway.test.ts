/**
 * Black-box tests of the built gateway (`dist/main.js`): each test starts the process with its own
 * environment in a fresh temporary directory, talks HTTP to it, and stops it afterwards.
 */
import { PasswordHasher } from "@effect-auth/core"
import { SqlAdmin, SqlDatabase } from "@effect-auth/sql"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import type { RawResponse } from "./helpers.js"
import { basic, cleanup, get, listeningLine, raw, runToExit, startGateway, tempDir, waitForOutput } from "./helpers.js"

afterEach(cleanup)

// ---------------------------------------------------------------------------------------------------
// Users and routes

interface User {
  readonly name: string
  readonly password: string
  readonly groups: ReadonlyArray<string>
}

// Distinctive passwords, so that a body echoing one would be caught.
const alice: User = { name: "alice", password: "alice-Pw-5d1f3a9c", groups: ["admin", "staff"] }
const bob: User = { name: "bob", password: "bob-Pw-8e2c7b14", groups: ["staff"] }
const carol: User = { name: "carol", password: "carol-Pw-0a6d4e92", groups: ["analyst", "auditor"] }
const erin: User = { name: "erin", password: "erin-Pw-3c9b1f07", groups: ["analyst"] }
const dave: User = { name: "dave", password: "dave-Pw-7f4e2a61", groups: [] }
const users = [alice, bob, carol, erin, dave]

const login = (user: User) => [user.name, user.password] as const

const routes = [
  { path: "/admin/*", require: { groups: ["admin"] } },
  { path: "/admin/health", public: true },
  { path: "/reports/*", require: { groups: ["admin", "analyst"] } },
  { path: "/audit/*", require: { groups: ["analyst", "auditor"], all: true } },
  { path: "/billing/*", require: { roles: ["billing"] } },
  { path: "/app/*" },
  { path: "/docs/*", public: true }
]

let usersFileText = ""

beforeAll(async () => {
  // Low-cost hashes keep the tests fast; the gateway verifies with the parameters each hash names.
  const hashes = await Effect.runPromise(
    Effect.provide(
      Effect.flatMap(PasswordHasher.PasswordHasher, (hasher) =>
        Effect.forEach(users, (user) => hasher.hash(Redacted.make(user.password)))
      ),
      PasswordHasher.layer({ ln: 10 })
    )
  )
  usersFileText = [
    "# test users: username:hash[:groups]",
    ...users.map((user, index) =>
      user.groups.length === 0 ? `${user.name}:${hashes[index]}` : `${user.name}:${hashes[index]}:${user.groups}`
    ),
    ""
  ].join("\n")
})

/** Writes the users and routes files into a fresh directory; the environment that configures them. */
const basicSetup = async (routeTable: unknown = routes) => {
  const dir = await tempDir()
  await Fs.writeFile(Path.join(dir, "users.txt"), usersFileText)
  await Fs.writeFile(Path.join(dir, "routes.json"), JSON.stringify(routeTable))
  return { dir, env: { AUTH_BASIC_USERS_FILE: "users.txt", AUTH_ROUTES_FILE: "routes.json" } }
}

const startBasic = async (env: Record<string, string> = {}) => {
  const setup = await basicSetup()
  return startGateway({ ...setup.env, ...env }, setup.dir)
}

// ---------------------------------------------------------------------------------------------------

describe("demo mode (no provider variable set)", () => {
  it("prints the banner, and every printed curl command answers the status written beside it", async () => {
    const gateway = await startGateway()
    // The banner follows the listening line; wait for its closing rule after the commands.
    await waitForOutput(gateway, (output) => /# \d{3}:[^\n]*\n=+\n/.test(output), "the demo banner")
    const output = gateway.output()
    expect(output).toContain("DEMO MODE")

    const commands = [...output.matchAll(/^\s*curl -i (?:-u (\S+) )?(\S+)\s+# (\d{3}):/gm)].map(
      ([, credentials, url, status]) => ({ credentials, url: url!, status: Number(status) })
    )
    expect(commands.length).toBeGreaterThanOrEqual(6)
    expect(new Set(commands.map((command) => command.status))).toEqual(new Set([200, 401, 403]))

    for (const command of commands) {
      expect(command.url.startsWith(gateway.url)).toBe(true)
      const credentials = command.credentials
      const separator = credentials?.indexOf(":") ?? -1
      const response = await get(
        command.url,
        credentials === undefined ? undefined : [credentials.slice(0, separator), credentials.slice(separator + 1)]
      )
      expect({ command, status: response.status }).toEqual({ command, status: command.status })
    }

    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200)
  })

  it("keeps its users in ./.demo/auth.db (SQLite, owner-only) with hashes only, never the printed passwords", async () => {
    const gateway = await startGateway()
    await waitForOutput(gateway, (output) => /# \d{3}:[^\n]*\n=+\n/.test(output), "the demo banner")
    expect(gateway.output()).toMatch(/database: \S+auth\.db \(SQLite/)
    const passwords = [...gateway.output().matchAll(/-u \w+:(\S+)/g)]
      .map(([, password]) => password!)
      .filter((password) => password !== "wrong-password")
    expect(passwords.length).toBeGreaterThan(0)

    const database = Path.join(gateway.cwd, ".demo", "auth.db")
    const users = await Effect.runPromise(
      Effect.provide(
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ username: string; password_hash: string }>`SELECT username, password_hash FROM auth_users`
        ),
        SqlDatabase.layer({ url: Redacted.make(`sqlite:${database}`) })
      )
    )
    expect(users.map((user) => user.username).sort()).toEqual(["alice", "bob"])
    for (const user of users) expect(user.password_hash).toMatch(/^\$scrypt\$/)
    // Byte for byte, journal files included: no printed password is stored anywhere.
    const files = (await Fs.readdir(Path.join(gateway.cwd, ".demo"))).filter((name) => name.startsWith("auth.db"))
    for (const file of files) {
      const bytes = await Fs.readFile(Path.join(gateway.cwd, ".demo", file))
      for (const password of passwords) expect(bytes.includes(password)).toBe(false)
    }
    expect((await Fs.stat(database)).mode & 0o077).toBe(0)
  })

  it("keeps the demo's grants in the database: a group granted there counts for the demo user at once", async () => {
    const gateway = await startGateway()
    await waitForOutput(gateway, (output) => /# \d{3}:[^\n]*\n=+\n/.test(output), "the demo banner")
    const [, password] = /-u bob:(\S+)/.exec(gateway.output())!
    const bobReports = () => get(`${gateway.url}/admin/reports`, ["bob", password!])
    expect((await bobReports()).status).toBe(403)
    await Effect.runPromise(
      Effect.provide(
        SqlAdmin.grant({ principal: "bob" }, { group: "admin" }),
        SqlDatabase.layer({ url: Redacted.make(`sqlite:${Path.join(gateway.cwd, ".demo", "auth.db")}`) })
      )
    )
    expect((await bobReports()).status).toBe(200)
  })
})

describe("configured Basic users and routes", () => {
  it("is not in demo mode", async () => {
    const gateway = await startBasic()
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200)
    expect(gateway.output()).not.toContain("DEMO MODE")
    await expect(Fs.access(Path.join(gateway.cwd, ".demo"))).rejects.toThrow()
  })

  it("GET /healthz answers 200 without credentials", async () => {
    const gateway = await startBasic()
    const response = await fetch(`${gateway.url}/healthz`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: "ok" })
  })

  it("GET /whoami describes the caller, with the groups from the users file", async () => {
    const gateway = await startBasic()
    const response = await get(`${gateway.url}/whoami`, login(alice))
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toContain("application/json")
    expect(await response.json()).toStrictEqual({
      id: "alice",
      kind: "user",
      provider: "basic",
      name: null,
      email: null,
      groups: ["admin", "staff"],
      roles: [],
      permissions: []
    })

    const noGroups = await get(`${gateway.url}/whoami`, login(dave))
    expect(await noGroups.json()).toMatchObject({ id: "dave", groups: [] })
  })

  it("answers 401 with a Basic challenge without credentials or with wrong ones, never echoing the password", async () => {
    const gateway = await startBasic()
    const wrongPassword = "not-Alice-Pw-61c0ffee"
    const attempts = [
      await get(`${gateway.url}/whoami`),
      await get(`${gateway.url}/whoami`, [alice.name, wrongPassword]),
      await get(`${gateway.url}/whoami`, ["mallory", wrongPassword]),
      await get(`${gateway.url}/admin/x`, [bob.name, alice.password])
    ]
    for (const response of attempts) {
      expect(response.status).toBe(401)
      expect(response.headers.get("www-authenticate")).toMatch(/^Basic realm=/)
      expect(response.headers.get("content-type")).toBe("application/problem+json")
      const body = await response.text()
      expect(JSON.parse(body)).toMatchObject({ status: 401 })
      expect(body).not.toContain(wrongPassword)
      expect(body).not.toContain(alice.password)
    }
  })

  it("refuses two credentials in one request, even when one of them is valid", async () => {
    const gateway = await startBasic()
    const twice = await raw(gateway.url, "/whoami", {
      headers: { authorization: [basic(...login(alice)), basic(...login(bob))] }
    })
    expect(twice.status).toBe(401)
    const withKey = await get(`${gateway.url}/whoami`, login(alice), { "x-api-key": "some-key" })
    expect(withKey.status).toBe(401)
  })

  it("answers 403 when the caller lacks the group a route requires, 200 {ok, path} when allowed", async () => {
    const gateway = await startBasic()
    const refused = await get(`${gateway.url}/admin/users`, login(bob))
    expect(refused.status).toBe(403)
    expect(await refused.json()).toMatchObject({ status: 403, code: "insufficient_scope" })

    const allowed = await get(`${gateway.url}/admin/users?page=2`, login(alice))
    expect(allowed.status).toBe(200)
    expect(await allowed.json()).toStrictEqual({ ok: true, path: "/admin/users" })

    // Any of the listed groups is enough.
    expect((await get(`${gateway.url}/reports/q1`, login(erin))).status).toBe(200)
    expect((await get(`${gateway.url}/reports/q1`, login(alice))).status).toBe(200)
    expect((await get(`${gateway.url}/reports/q1`, login(bob))).status).toBe(403)

    // A route without a requirement lets in any authenticated caller.
    expect((await get(`${gateway.url}/app/home`, login(dave))).status).toBe(200)
    expect((await get(`${gateway.url}/app/home`)).status).toBe(401)

    // Basic users have no roles, so a roles requirement refuses all of them.
    expect((await get(`${gateway.url}/billing/invoices`, login(alice))).status).toBe(403)
  })

  it("all: true requires every listed group", async () => {
    const gateway = await startBasic()
    expect((await get(`${gateway.url}/audit/log`, login(carol))).status).toBe(200)
    expect((await get(`${gateway.url}/audit/log`, login(erin))).status).toBe(403)
    expect((await get(`${gateway.url}/audit/log`, login(alice))).status).toBe(403)
  })

  it("a public route needs no credentials, but only in the exact case written", async () => {
    const gateway = await startBasic()
    const docs = await fetch(`${gateway.url}/docs/intro`)
    expect(docs.status).toBe(200)
    expect(await docs.json()).toStrictEqual({ ok: true, path: "/docs/intro" })
    expect((await fetch(`${gateway.url}/admin/health`)).status).toBe(200)

    expect((await fetch(`${gateway.url}/DOCS/intro`)).status).toBe(401)
    // A public sub-route of a protected prefix, in another case, falls back to the prefix's requirement.
    expect((await fetch(`${gateway.url}/ADMIN/health`)).status).toBe(401)
    expect((await get(`${gateway.url}/ADMIN/health`, login(bob))).status).toBe(403)
  })

  it("a path no route names is 404 for an authenticated caller and 401 without credentials", async () => {
    const gateway = await startBasic()
    const found = await get(`${gateway.url}/nowhere`, login(dave))
    expect(found.status).toBe(404)
    expect(await found.json()).toMatchObject({ status: 404 })
    expect((await fetch(`${gateway.url}/nowhere`)).status).toBe(401)
  })

  it("refuses paths that could mean two things with 400, credentials or not", async () => {
    const gateway = await startBasic()
    const paths = [
      "/admin/../x",
      "/docs/../admin/users",
      "/docs/%2e%2e/admin/users",
      "/docs/..%2fadmin/users",
      "/docs/.%2E/admin/users",
      "/docs//admin",
      "/docs/%5cadmin",
      "/docs/..\\admin",
      "/admin.",
      "/admin%00",
      "/%zz"
    ]
    for (const path of paths) {
      const anonymous = await raw(gateway.url, path)
      expect({ path, status: anonymous.status }).toEqual({ path, status: 400 })
      expect(JSON.parse(anonymous.body)).toMatchObject({ status: 400, code: "bad_path" })
      const authenticated = await raw(gateway.url, path, { headers: { authorization: basic(...login(alice)) } })
      expect({ path, status: authenticated.status }).toEqual({ path, status: 400 })
    }
  })

  it("/ADMIN/x and /%61dmin/x still require the admin group", async () => {
    const gateway = await startBasic()
    for (const path of ["/ADMIN/x", "/Admin/x", "/%61dmin/x", "/admin"]) {
      expect({ path, status: (await raw(gateway.url, path)).status }).toEqual({ path, status: 401 })
      const asBob = await raw(gateway.url, path, { headers: { authorization: basic(...login(bob)) } })
      expect({ path, status: asBob.status }).toEqual({ path, status: 403 })
      const asAlice = await raw(gateway.url, path, { headers: { authorization: basic(...login(alice)) } })
      expect({ path, status: asAlice.status }).toEqual({ path, status: 200 })
    }
  })
})

describe("AUTH_ERROR_STYLE=openai", () => {
  it("answers 401 in the OpenAI error shape", async () => {
    const gateway = await startBasic({ AUTH_ERROR_STYLE: "openai" })
    for (const response of [
      await fetch(`${gateway.url}/whoami`),
      await get(`${gateway.url}/whoami`, [alice.name, "wrong-password"])
    ]) {
      expect(response.status).toBe(401)
      expect(response.headers.get("content-type")).toBe("application/json")
      expect(await response.json()).toStrictEqual({
        error: {
          message: expect.any(String),
          type: "invalid_request_error",
          param: "authorization",
          code: "invalid_api_key"
        }
      })
    }
    const forbidden = await get(`${gateway.url}/admin/x`, login(bob))
    expect(forbidden.status).toBe(403)
    expect(await forbidden.json()).toMatchObject({ error: { type: "permission_error", param: null } })
  })
})

// ---------------------------------------------------------------------------------------------------

interface Echoed {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
  readonly bodyLength: number
  readonly bodySha256: string
}

/** A local upstream that answers every request with a JSON description of it. */
const startUpstream = async () => {
  const seen: Array<Echoed> = []
  const server = Http.createServer((request, response) => {
    const hash = Crypto.createHash("sha256")
    let bodyLength = 0
    request.on("data", (chunk: Buffer) => {
      bodyLength += chunk.length
      hash.update(chunk)
    })
    request.on("end", () => {
      const echoed: Echoed = {
        method: request.method ?? "",
        url: request.url ?? "",
        headers: request.headers,
        bodyLength,
        bodySha256: hash.digest("hex")
      }
      seen.push(echoed)
      const status = Number(new URL(request.url ?? "/", "http://upstream").searchParams.get("status") ?? 200)
      response.writeHead(status, {
        "content-type": "application/json",
        "x-upstream": "echo",
        "set-cookie": ["a=1; Path=/", "b=2; Path=/"]
      })
      response.end(JSON.stringify(echoed))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

type Upstream = Awaited<ReturnType<typeof startUpstream>>

describe("UPSTREAM_URL", () => {
  let upstream: Upstream | undefined
  afterEach(async () => {
    await upstream?.close()
    upstream = undefined
  })

  const startProxy = async () => {
    const started = await startUpstream()
    upstream = started
    return { gateway: await startBasic({ UPSTREAM_URL: started.url }), upstream: started }
  }

  it("forwards allowed requests with X-Auth-Principal and without the caller's credentials", async () => {
    const { gateway } = await startProxy()
    const response = await get(`${gateway.url}/admin/users?page=2`, login(alice), {
      "x-auth-principal": "admin",
      "x-custom": "kept"
    })
    expect(response.status).toBe(200)
    const echoed = (await response.json()) as Echoed
    expect(echoed.method).toBe("GET")
    expect(echoed.url).toBe("/admin/users?page=2")
    expect(echoed.headers["x-auth-principal"]).toBe("alice")
    expect(echoed.headers.authorization).toBeUndefined()
    expect(echoed.headers["x-custom"]).toBe("kept")
    expect(echoed.headers["x-forwarded-for"]).toBe("127.0.0.1")
  })

  it("puts the upstream URL's own path in front of the request's path and query", async () => {
    const started = await startUpstream()
    upstream = started
    const gateway = await startBasic({ UPSTREAM_URL: `${started.url}/v1/` })
    expect((await get(`${gateway.url}/app/orders?x=1`, login(bob))).status).toBe(200)
    expect(started.seen.map((request) => request.url)).toEqual(["/v1/app/orders?x=1"])
  })

  it("replaces repeated client-sent X-Auth-Principal headers with the caller's id", async () => {
    const { gateway } = await startProxy()
    const response = await raw(gateway.url, "/app/x", {
      headers: { authorization: basic(...login(bob)), "x-auth-principal": ["admin", "alice"] }
    })
    expect(response.status).toBe(200)
    expect((JSON.parse(response.body) as Echoed).headers["x-auth-principal"]).toBe("bob")
  })

  it("on a public route, sends no X-Auth-Principal at all, even when the client sent one", async () => {
    const { gateway } = await startProxy()
    const response = await get(`${gateway.url}/docs/intro`, login(alice), { "x-auth-principal": "admin" })
    expect(response.status).toBe(200)
    const echoed = (await response.json()) as Echoed
    expect(echoed.url).toBe("/docs/intro")
    expect(echoed.headers["x-auth-principal"]).toBeUndefined()
    expect(echoed.headers.authorization).toBeUndefined()

    // Whatever carries credentials is removed, also where nothing was checked.
    const withKey = await fetch(`${gateway.url}/docs/intro`, { headers: { "x-api-key": "secret-key-4b1d" } })
    expect(((await withKey.json()) as Echoed).headers["x-api-key"]).toBeUndefined()
  })

  it("streams a 1 MiB POST body to the upstream intact, with or without Content-Length", async () => {
    const { gateway } = await startProxy()
    const body = Crypto.randomBytes(1024 * 1024)
    const digest = Crypto.createHash("sha256").update(body).digest("hex")

    const sized = await fetch(`${gateway.url}/app/upload`, {
      method: "POST",
      headers: { authorization: basic(...login(bob)), "content-type": "application/octet-stream" },
      body
    })
    expect(sized.status).toBe(200)
    expect(await sized.json()).toMatchObject({ method: "POST", bodyLength: body.length, bodySha256: digest })

    // Chunked: node:http sends a body written in pieces without Content-Length.
    const chunked = await new Promise<RawResponse>((resolve, reject) => {
      const url = new URL(gateway.url)
      const request = Http.request(
        {
          host: url.hostname,
          port: url.port,
          path: "/app/upload",
          method: "PUT",
          headers: { authorization: basic(...login(bob)) },
          agent: false
        },
        (response) => {
          let text = ""
          response.setEncoding("utf8")
          response.on("data", (chunk: string) => (text += chunk))
          response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }))
        }
      )
      request.on("error", reject)
      for (let offset = 0; offset < body.length; offset += 64 * 1024)
        request.write(body.subarray(offset, offset + 64 * 1024))
      request.end()
    })
    expect(chunked.status).toBe(200)
    expect(JSON.parse(chunked.body)).toMatchObject({ method: "PUT", bodyLength: body.length, bodySha256: digest })
  })

  it("passes the upstream's status and headers back", async () => {
    const { gateway } = await startProxy()
    const response = await get(`${gateway.url}/app/teapot?status=418`, login(bob))
    expect(response.status).toBe(418)
    expect(response.headers.get("x-upstream")).toBe("echo")
    expect(response.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"])
  })

  it("with an upstream, a path no route names is forwarded for any authenticated caller", async () => {
    const { gateway, upstream } = await startProxy()
    expect((await fetch(`${gateway.url}/nowhere`)).status).toBe(401)
    const response = await get(`${gateway.url}/nowhere`, login(dave))
    expect(response.status).toBe(200)
    expect(upstream.seen.map((request) => request.url)).toEqual(["/nowhere"])
  })

  it("never lets refused requests, or the built-in routes, reach the upstream", async () => {
    const { gateway, upstream } = await startProxy()
    const body = Buffer.alloc(256 * 1024, 1)
    expect((await fetch(`${gateway.url}/app/x`)).status).toBe(401)
    expect((await fetch(`${gateway.url}/app/x`, { method: "POST", body })).status).toBe(401)
    expect((await get(`${gateway.url}/app/x`, [alice.name, "wrong-password"])).status).toBe(401)
    expect((await get(`${gateway.url}/admin/x`, login(bob))).status).toBe(403)
    expect((await get(`${gateway.url}/DOCS/x`)).status).toBe(401)
    expect((await raw(gateway.url, "/docs/../admin/x")).status).toBe(400)
    expect((await get(`${gateway.url}/healthz`)).status).toBe(200)
    expect((await get(`${gateway.url}/whoami`, login(alice))).status).toBe(200)
    expect(upstream.seen).toEqual([])

    expect((await get(`${gateway.url}/admin/x`, login(alice))).status).toBe(200)
    expect(upstream.seen).toHaveLength(1)
  })

  /** Writes raw bytes to the gateway and collects what comes back until it goes quiet. */
  const sendRaw = (base: string, bytes: string) =>
    new Promise<string>((resolve, reject) => {
      const url = new URL(base)
      const socket = Net.connect(Number(url.port), url.hostname, () => socket.write(bytes))
      let answer = ""
      let quiet: NodeJS.Timeout | undefined
      const settle = () => {
        clearTimeout(quiet)
        quiet = setTimeout(() => socket.destroy(), 500)
      }
      socket.setEncoding("utf8")
      socket.on("data", (chunk: string) => {
        answer += chunk
        settle()
      })
      socket.on("close", () => resolve(answer))
      socket.on("error", reject)
      settle()
    })

  const smuggled = "GET /admin/secret HTTP/1.1\r\nHost: upstream\r\nX-Auth-Principal: alice\r\n\r\n"

  it.each([
    [
      "a chunked body on a GET",
      `GET /docs/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`
    ],
    [
      "Content-Length named in Connection",
      `GET /docs/x HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, content-length\r\n` +
        `Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`
    ]
  ])("never lets a request body reach the upstream as a second, unchecked request (%s)", async (_name, bytes) => {
    const { gateway, upstream: started } = await startProxy()
    const answer = await sendRaw(gateway.url, bytes)
    expect(answer).toMatch(/^HTTP\/1\.1 200/)
    // Give a smuggled request time to arrive, then check the upstream saw only the checked one.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(started.seen.map((request) => request.url)).toEqual(["/docs/x"])
    expect(started.seen[0]!.bodyLength).toBe(smuggled.length)
  })

  it("drops client headers the upstream could mistake for the gateway's own", async () => {
    const { gateway } = await startProxy()
    const response = await raw(gateway.url, "/docs/intro", {
      headers: {
        x_auth_principal: "alice",
        "x-original-url": "/admin/secret",
        "x-rewrite-url": "/admin/secret",
        forwarded: "for=10.0.0.1;host=admin.internal",
        "x-real-ip": "10.0.0.1",
        "x-forwarded-for": "10.0.0.1",
        "x-forwarded-proto": "https"
      }
    })
    expect(response.status).toBe(200)
    const headers = (JSON.parse(response.body) as Echoed).headers
    for (const name of [
      "x_auth_principal",
      "x-auth-principal",
      "x-original-url",
      "x-rewrite-url",
      "forwarded",
      "x-real-ip"
    ]) {
      expect(headers[name], name).toBeUndefined()
    }
    expect(headers["x-forwarded-for"]).toBe("127.0.0.1")
    expect(headers["x-forwarded-proto"]).toBe("http")
  })

  it("answers 502 when the upstream cannot be reached", async () => {
    // A port that was just free: nothing listens there any more.
    const probe = Http.createServer()
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve))
    const { port } = probe.address() as AddressInfo
    await new Promise<void>((resolve) => probe.close(() => resolve()))

    const gateway = await startBasic({ UPSTREAM_URL: `http://127.0.0.1:${port}` })
    const response = await get(`${gateway.url}/app/x`, login(bob))
    expect(response.status).toBe(502)
    expect(await response.json()).toMatchObject({ status: 502, code: "upstream_unreachable" })
    // A refused caller still gets the auth answer, not the upstream's failure.
    expect((await fetch(`${gateway.url}/app/x`)).status).toBe(401)
  })
})

describe("AUTH_DISABLED", () => {
  it("=true accepts requests without credentials as the development user, and warns", async () => {
    const gateway = await startGateway({ AUTH_DISABLED: "true" })
    const response = await fetch(`${gateway.url}/whoami`)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ id: "development", kind: "user", provider: "disabled" })
    expect(gateway.output()).toMatch(/AUTHENTICATION IS DISABLED/)
    expect(gateway.output()).not.toContain("DEMO MODE")
  })

  it("=false is the same as unset: demo mode, not a gateway that silently refuses everyone", async () => {
    const gateway = await startGateway({ AUTH_DISABLED: "false" })
    expect(gateway.output()).toContain("DEMO MODE")
    expect((await fetch(`${gateway.url}/whoami`)).status).toBe(401)
  })

  it("=true with NODE_ENV=production exits non-zero without listening", async () => {
    const { code, output } = await runToExit({ AUTH_DISABLED: "true", NODE_ENV: "production" })
    expect(code).not.toBe("timeout")
    expect(code).not.toBe(0)
    expect(output).toContain("NODE_ENV=production")
    expect(output).not.toMatch(listeningLine)
  })
})

describe("built-in routes", () => {
  it("answer only GET and HEAD, with 405 and Allow otherwise, and are never proxied", async () => {
    const { url } = await startBasic()
    const posted = await fetch(`${url}/healthz`, { method: "POST" })
    expect(posted.status).toBe(405)
    expect(posted.headers.get("allow")).toBe("GET, HEAD")
    expect((await fetch(`${url}/healthz`, { method: "HEAD" })).status).toBe(200)
  })

  it("/metrics needs an authenticated caller, then answers the caller's own rate-limit use", async () => {
    const { url } = await startBasic({ AUTH_RATE_LIMIT_PER_MINUTE: "10" })
    expect((await get(`${url}/metrics`)).status).toBe(401)
    expect((await get(`${url}/whoami`, login(alice))).status).toBe(200)
    const response = await get(`${url}/metrics`, login(alice))
    expect(response.status).toBe(200)
    const body = (await response.json()) as Record<string, unknown>
    // /metrics is itself rate limited: the /whoami call and this one are counted.
    expect(body).toMatchObject({ key_id: "alice", used: 2, limit: 10 })
    expect(body["reset_seconds"]).toBeGreaterThan(0)
    expect(body["reset_seconds"]).toBeLessThanOrEqual(60)
    expect(response.headers.get("x-ratelimit-remaining")).toBe("8")
  })
})

describe("demo mode safety", () => {
  it("is refused when NODE_ENV=production: a misspelt variable must not print admin passwords", async () => {
    const { code, output } = await runToExit({ NODE_ENV: "production", AUTH_BASIC_USER_FILE: "users.txt" })
    expect(code).not.toBe("timeout")
    expect(code).not.toBe(0)
    expect(output).toContain("demo mode is refused when NODE_ENV=production")
    expect(output).not.toContain("DEMO MODE")
    expect(output).not.toMatch(listeningLine)
  })

  it("warns about AUTH_ variables it does not know (a typo?)", async () => {
    const { url, output } = await startGateway({ AUTH_BASIC_USER_FILE: "users.txt" })
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    expect(output()).toMatch(/Unknown variables, ignored \(a typo\?\): AUTH_BASIC_USER_FILE/)
  })
})

describe("logging", () => {
  it("warns about database settings given without AUTH_DATABASE_URL instead of ignoring them silently", async () => {
    const { url, output } = await startBasic({ AUTH_GRANTS_CACHE_TTL: "1 minute", AUTH_DATABASE_MIGRATE: "true" })
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    expect(output()).toMatch(
      /Set without the provider they belong to, ignored: AUTH_DATABASE_MIGRATE, AUTH_GRANTS_CACHE_TTL/
    )
  })

  it("AUTH_LOG_LEVEL=warning hides the start-up info lines but keeps warnings", async () => {
    const { url, output } = await startBasic({ AUTH_LOG_LEVEL: "warning", AUTH_GRANTS_CACHE_TTL: "1 minute" })
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    expect(output()).not.toContain("level=INFO")
    expect(output()).toMatch(/level=WARN.*AUTH_GRANTS_CACHE_TTL/)
  })
})

describe("start-up configuration errors", () => {
  it.each([
    ["not JSON", "[{path: /admin/*}]", "not valid JSON"],
    ["a wildcard in the middle", JSON.stringify([{ path: "/a/*/b" }]), `"/a/*/b"`],
    [
      "public and require together",
      JSON.stringify([{ path: "/x/*", public: true, require: { groups: ["a"] } }]),
      "cannot be public"
    ]
  ])("a routes file with %s: exits non-zero, naming the file and the problem", async (_name, content, problem) => {
    const dir = await tempDir()
    const routesFile = Path.join(dir, "bad-routes.json")
    await Fs.writeFile(routesFile, content)
    await Fs.writeFile(Path.join(dir, "users.txt"), usersFileText)
    const { code, output } = await runToExit({
      AUTH_ROUTES_FILE: routesFile,
      AUTH_BASIC_USERS_FILE: Path.join(dir, "users.txt")
    })
    expect(code).not.toBe("timeout")
    expect(code).not.toBe(0)
    expect(output).toContain(routesFile)
    expect(output).toContain(problem)
    expect(output).not.toMatch(listeningLine)
  })

  it("a routes file that does not exist: exits non-zero, naming the file", async () => {
    const missing = Path.join(Os.tmpdir(), `effect-auth-no-such-routes-${process.pid}.json`)
    const { code, output } = await runToExit({ AUTH_ROUTES_FILE: missing })
    expect(code).not.toBe("timeout")
    expect(code).not.toBe(0)
    expect(output).toContain(missing)
    expect(output).not.toMatch(listeningLine)
  })
})
