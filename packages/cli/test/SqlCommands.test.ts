import { ApiKey } from "@effect-auth/core"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Cli from "./cliProcess.js"
import { apiKeyLogin, basicLogin, grantsOf, rowsOf } from "./stores.js"

let cwd = ""
let url = ""

const run = (
  args: ReadonlyArray<string>,
  options: { readonly input?: string; readonly env?: Record<string, string> } = {}
) => Cli.run(args, { cwd, ...options })

/** Runs a command against the suite's database, given with --database. */
const runDb = (args: ReadonlyArray<string>, input?: string) =>
  run([...args, "--database", url], input === undefined ? {} : { input })

const noStackTrace = (result: Cli.Result) => expect(result.stderr).not.toMatch(/\n\s+at /)
const none = { groups: [], roles: [], permissions: [] }

beforeAll(() => {
  Cli.build()
  cwd = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-auth-cli-sql-"))
  url = `sqlite:${Path.join(cwd, "auth.db")}`
}, 180_000)

afterAll(() => {
  Fs.rmSync(cwd, { recursive: true, force: true })
})

// Every command is a process of its own: loops of them take longer than one request.
describe("effect-auth on SQLite", { timeout: 120_000 }, () => {
  describe("the database", () => {
    it("is required: without --database or AUTH_DATABASE_URL every command fails before doing anything", async () => {
      for (const args of [
        ["migrate"],
        ["grant", "role", "editor", "--to", "alice"],
        ["revoke", "role", "editor", "--from", "alice"],
        ["users", "remove", "alice"],
        ["keys", "list", "--sql"]
      ]) {
        const result = await run(args)
        expect(result.code).toBe(1)
        expect(result.stdout).toBe("")
        expect(result.stderr).toBe("effect-auth: no database: give --database URL or set AUTH_DATABASE_URL\n")
      }
      expect(Fs.readdirSync(cwd)).toEqual([])
    })

    it("refuses an unknown kind of URL and an invalid table prefix", async () => {
      const scheme = await run(["migrate", "--database", "mongodb://db.example.com/auth"])
      expect(scheme.code).toBe(1)
      expect(scheme.stderr).toContain("unsupported database URL")
      const prefix = await run(["migrate", "--database", url, "--table-prefix", "Auth-"])
      expect(prefix.code).toBe(1)
      expect(prefix.stderr).toContain('invalid --table-prefix "Auth-"')
      expect(Fs.existsSync(Path.join(cwd, "auth.db"))).toBe(false)
    })

    it("says to migrate first when the tables are missing", async () => {
      const fresh = `sqlite:${Path.join(cwd, "empty.db")}`
      const result = await run(["grant", "role", "editor", "--to", "alice", "-d", fresh])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain('run "effect-auth migrate" first')
      expect(result.stderr.trim().split("\n")).toHaveLength(1)
      noStackTrace(result)
    })
  })

  describe("migrate", () => {
    it("creates the tables once, then is already up to date", async () => {
      const first = await run(["migrate"], { env: { AUTH_DATABASE_URL: url } })
      expect(first.code).toBe(0)
      expect(first.stdout).toBe("applied 1_create_schema\n")
      const second = await runDb(["migrate"])
      expect(second.code).toBe(0)
      expect(second.stdout).toBe("already up to date\n")
      expect(await rowsOf(url, "auth_users")).toEqual([])
    })

    it("creates tables under another prefix with --table-prefix", async () => {
      const result = await runDb(["migrate", "--table-prefix", "gw_"])
      expect(result.code).toBe(0)
      expect(result.stdout).toBe("applied 1_create_schema\n")
      expect(await rowsOf(url, "gw_api_keys")).toEqual([])
      const grant = await runDb(["grant", "role", "admin", "--to", "root", "--table-prefix", "gw_"])
      expect(grant.code).toBe(0)
      expect(await rowsOf(url, "gw_principal_roles")).toEqual([{ principal_id: "root", role_name: "admin" }])
      expect(await grantsOf(url, "root")).toEqual(none)
    })
  })

  describe("grant and revoke", () => {
    it("gives every kind of grant to every kind of subject, as the grant store then resolves them", async () => {
      const grants: ReadonlyArray<ReadonlyArray<string>> = [
        ["group", "staff", "--to", "alice"],
        ["role", "auditor", "--to", "alice"],
        ["permission", "reports.read", "--to", "alice"],
        ["role", "editor", "--to", "group:staff"],
        ["permission", "documents.*", "--to", "role:editor"],
        ["permission", "!documents.delete", "--to", "role:editor"],
        ["role", "viewer", "--to", "role:editor"],
        ["permission", "documents.read", "--to", "role:viewer"]
      ]
      for (const grant of grants) {
        const result = await runDb(["grant", ...grant])
        expect(result.code, result.stderr).toBe(0)
        expect(result.stdout).toMatch(/^granted /)
      }
      expect(await grantsOf(url, "alice")).toEqual({
        groups: ["staff"],
        roles: ["auditor", "editor", "viewer"],
        permissions: ["documents.*", "documents.read", "reports.read", "!documents.delete"]
      })
      expect(await grantsOf(url, "bob")).toEqual(none)
    })

    it("says what it did, and that granting twice changes nothing", async () => {
      const deny = await runDb(["grant", "permission", "!documents.delete", "--to", "role:editor"])
      expect(deny.code).toBe(0)
      expect(deny.stdout).toBe('already granted: deny "documents.delete" to role "editor"\n')
      const again = await runDb(["grant", "group", "staff", "--to", "alice"])
      expect(again.stdout).toBe('already granted: group "staff" to principal "alice"\n')
      expect(await rowsOf(url, "auth_principal_groups")).toEqual([{ principal_id: "alice", group_name: "staff" }])
    })

    it("revokes each pair once, then reports that nothing was granted", async () => {
      const pairs: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["group", "staff", "--from", "alice"], 'revoked group "staff" from principal "alice"'],
        [["role", "auditor", "--from", "alice"], 'revoked role "auditor" from principal "alice"'],
        [["permission", "reports.read", "--from", "alice"], 'revoked permission "reports.read" from principal "alice"'],
        [["role", "editor", "--from", "group:staff"], 'revoked role "editor" from group "staff"'],
        [["permission", "documents.*", "--from", "role:editor"], 'revoked permission "documents.*" from role "editor"'],
        [
          ["permission", "!documents.delete", "--from", "role:editor"],
          'revoked deny "documents.delete" from role "editor"'
        ],
        [["role", "viewer", "--to", "role:editor"], 'revoked role "viewer" from role "editor"'],
        [
          ["permission", "documents.read", "--from", "role:viewer"],
          'revoked permission "documents.read" from role "viewer"'
        ]
      ]
      for (const [args, said] of pairs) {
        const result = await runDb(["revoke", ...args])
        expect(result.code, result.stderr).toBe(0)
        expect(result.stdout).toBe(`${said}\n`)
      }
      const again = await runDb(["revoke", "role", "auditor", "--from", "alice"])
      expect(again.code).toBe(0)
      expect(again.stdout).toBe('not granted: role "auditor" to principal "alice" (nothing changed)\n')
      expect(await grantsOf(url, "alice")).toEqual(none)
      for (const table of ["principal_groups", "principal_roles", "principal_permissions", "group_roles"]) {
        expect(await rowsOf(url, `auth_${table}`)).toEqual([])
      }
      expect(await rowsOf(url, "auth_role_permissions")).toEqual([])
      expect(await rowsOf(url, "auth_role_inherits")).toEqual([])
    })

    it("names a principal whose id starts with group: through principal:", async () => {
      const result = await runDb(["grant", "role", "odd", "--to", "principal:group:staff"])
      expect(result.code).toBe(0)
      expect(result.stdout).toBe('granted role "odd" to principal "group:staff"\n')
      expect((await grantsOf(url, "group:staff")).roles).toEqual(["odd"])
      expect(await rowsOf(url, "auth_group_roles")).toEqual([])
      expect((await runDb(["revoke", "role", "odd", "--from", "principal:group:staff"])).code).toBe(0)
    })

    it("refuses invalid grants with exit code 1 and one line, changing nothing", async () => {
      const refused: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["grant", "group", "staff", "--to", "group:admins"], "cannot be given a group"],
        [["grant", "permission", "doc*", "--to", "alice"], "permission"],
        [["grant", "permission", "documents.*", "--to", "group:staff"], "group"],
        [["grant", "role", "editor", "--to", "role:"], 'the role name is missing after "role:"'],
        [["grant", "role", "", "--to", "alice"], "role"],
        [["revoke", "role", "editor"], "missing --from"],
        [["revoke", "role", "editor", "--from", "alice", "--to", "bob"], "not both"]
      ]
      for (const [args, message] of refused) {
        const result = await runDb(args)
        expect(result.code, args.join(" ")).toBe(1)
        expect(result.stdout).toBe("")
        expect(result.stderr.toLowerCase()).toContain(message.toLowerCase())
        expect(result.stderr.trim().split("\n")).toHaveLength(1)
        noStackTrace(result)
      }
      const kind = await runDb(["grant", "scope", "x", "--to", "alice"])
      expect(kind.code).toBe(1)
      for (const table of ["principal_groups", "principal_roles", "principal_permissions", "group_roles"]) {
        expect(await rowsOf(url, `auth_${table}`)).toEqual([])
      }
    })
  })

  describe("users", () => {
    const password = "correct horse battery staple"

    it("adds a user with the password from stdin, storing only its PHC hash", async () => {
      const result = await runDb(
        [
          "users",
          "add",
          "alice",
          "--id",
          "u-alice",
          "--name",
          "Alice",
          "--email",
          "alice@example.com",
          "--password-stdin"
        ],
        `${password}\n`
      )
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toBe('added user "alice" (principal "u-alice")\n')
      expect(result.stdout + result.stderr).not.toContain("horse")

      const rows = await rowsOf(url, "auth_users")
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ username: "alice", principal_id: "u-alice", name: "Alice" })
      expect(String(rows[0]!.password_hash)).toMatch(/^\$scrypt\$ln=\d+,r=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/)
      expect(JSON.stringify(rows)).not.toContain("horse")

      const identity = await basicLogin(url, "alice", password)
      expect(identity).toMatchObject({ id: "u-alice", kind: "user", name: "Alice", email: "alice@example.com" })
      expect(await basicLogin(url, "alice", `${password}\n`)).toBeUndefined()
      expect(await basicLogin(url, "alice", "wrong")).toBeUndefined()
      expect(await basicLogin(url, "Alice", password)).toBeUndefined()
    })

    it("strips only the line ending: a CRLF password works, inner spaces are kept", async () => {
      const result = await runDb(["users", "add", "bob", "--password-stdin"], "  two  spaces \r\n")
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toBe('added user "bob"\n')
      expect(await basicLogin(url, "bob", "  two  spaces ")).toMatchObject({ id: "bob" })
      expect(await basicLogin(url, "bob", "two  spaces")).toBeUndefined()
    })

    it("refuses an empty password, several lines, no --password-stdin off a terminal, and a taken name", async () => {
      const refused: ReadonlyArray<readonly [ReadonlyArray<string>, string, string]> = [
        [["users", "add", "carol", "--password-stdin"], "", "the password is empty"],
        [["users", "add", "carol", "--password-stdin"], "\n", "the password is empty"],
        [["users", "add", "carol", "--password-stdin"], "secret-one\nsecret-two\n", "several lines"],
        [["users", "add", "carol"], "secret-one\n", "--password-stdin"],
        [["users", "add", "carol", "--password-stdin"], `${"x".repeat(1025)}\n`, "longer than 1024 bytes"],
        [["users", "add", "alice", "--password-stdin"], "another-secret\n", "already exists"]
      ]
      for (const [args, input, message] of refused) {
        const result = await runDb(args, input)
        expect(result.code, message).toBe(1)
        expect(result.stdout).toBe("")
        expect(result.stderr).toContain(message)
        expect(result.stderr).not.toContain("secret")
        noStackTrace(result)
      }
      expect((await rowsOf(url, "auth_users")).map((row) => row.username).sort()).toEqual(["alice", "bob"])
      expect(await basicLogin(url, "alice", password)).toMatchObject({ id: "u-alice" })
    })

    it("removes a user, who can no longer log in; removing again is an error", async () => {
      const removed = await runDb(["users", "remove", "bob"])
      expect(removed.code).toBe(0)
      expect(removed.stdout).toBe('removed user "bob"\n')
      expect(await basicLogin(url, "bob", "  two  spaces ")).toBeUndefined()
      const again = await runDb(["users", "remove", "bob"])
      expect(again.code).toBe(1)
      expect(again.stderr).toContain('user "bob" does not exist')
    })
  })

  describe("keys --sql", () => {
    let key = ""

    it("creates a key, prints it once, stores only its hash; the key then authenticates", async () => {
      const result = await runDb([
        "keys",
        "create",
        "billing",
        "--sql",
        "--owner",
        "billing-service",
        "--rate-limit",
        "600",
        "--description",
        "nightly invoices",
        "--expires",
        "2099-12-31"
      ])
      expect(result.code, result.stderr).toBe(0)
      key = result.stdout.trim()
      expect(result.stdout).toBe(`${key}\n`)
      expect(key.startsWith("sk-")).toBe(true)
      expect(ApiKey.isValidKey(key)).toBe(true)
      expect(result.stderr).toContain("cannot be shown again")
      expect(result.stderr).not.toContain(key)
      expect(Fs.existsSync(Path.join(cwd, "api_keys.txt"))).toBe(false)

      const rows = await rowsOf(url, "auth_api_keys")
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ key_id: "billing", key_hash: ApiKey.hash(key), owner: "billing-service" })
      expect(JSON.stringify(rows)).not.toContain(key)

      const identity = await apiKeyLogin(url, key)
      expect(identity).toMatchObject({
        id: "billing",
        kind: "machine",
        claims: { key_id: "billing", owner: "billing-service", rate_limit_per_minute: 600 }
      })
      expect(await apiKeyLogin(url, `${key}x`)).toBeUndefined()
    })

    it("takes a prefix, and refuses a taken key id", async () => {
      const prefixed = await runDb(["keys", "create", "ci", "--sql", "--prefix", "ci_"])
      expect(prefixed.code).toBe(0)
      expect(prefixed.stdout.startsWith("ci_")).toBe(true)
      expect(await apiKeyLogin(url, prefixed.stdout.trim())).toMatchObject({ id: "ci", claims: { key_id: "ci" } })
      const taken = await runDb(["keys", "create", "billing", "--sql"])
      expect(taken.code).toBe(1)
      expect(taken.stdout).toBe("")
      expect(taken.stderr).toContain('"billing" already exists')
    })

    it("lists ids and settings, never keys or hashes", async () => {
      const result = await runDb(["keys", "list", "--sql"])
      expect(result.code).toBe(0)
      const lines = result.stdout.trim().split("\n")
      expect(lines).toHaveLength(2)
      const billing = lines.find((line) => line.startsWith("billing"))!
      expect(billing).toContain("expires 2099-12-31T00:00:00.000Z")
      expect(billing).toContain('owner "billing-service"')
      expect(billing).toContain("600/min")
      expect(billing).toContain('"nightly invoices"')
      expect(lines.map((line) => line.split(/\s+/)[0]).sort()).toEqual(["billing", "ci"])
      expect(result.stdout + result.stderr).not.toMatch(/sk-|ci_|sha256/)
      expect(result.stderr).toContain("2 key(s)")
    })

    it("revokes a key: it is refused from then on, listed as revoked, and revoking again is an error", async () => {
      const result = await runDb(["keys", "revoke", "billing", "--sql"])
      expect(result.code).toBe(0)
      expect(result.stderr).toContain('Revoked "billing"')
      expect(await apiKeyLogin(url, key)).toBeUndefined()
      const listed = await runDb(["keys", "list", "--sql"])
      expect(listed.stdout.split("\n").find((line) => line.startsWith("billing"))).toContain("revoked")
      const again = await runDb(["keys", "revoke", "billing", "--sql"])
      expect(again.code).toBe(1)
      expect(again.stderr).toContain("unknown or already revoked")
      const unknown = await runDb(["keys", "revoke", "nobody", "--sql"])
      expect(unknown.code).toBe(1)
    })

    it("refuses bad settings, and database settings without --sql, creating nothing", async () => {
      const refused: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["keys", "create", "k1", "--sql", "--expires", "next week", "-d", url], 'invalid --expires "next week"'],
        [["keys", "create", "k1", "--sql", "--expires", "2001-01-01", "-d", url], "in the past"],
        [["keys", "create", "k1", "--sql", "--expires", "2099-01-01T10:00:00", "-d", url], "invalid --expires"],
        [["keys", "create", "k1", "--sql", "--rate-limit", "0", "-d", url], "rate limit"],
        [["keys", "create", "bad id!", "--sql", "-d", url], "invalid key_id"],
        [["keys", "create", "k1", "--sql", "--file", "keys.txt", "-d", url], "--file and --sql exclude each other"],
        [["keys", "create", "k1", "--owner", "alice"], "--owner only with --sql"],
        [["keys", "create", "k1", "--database", url], "--database only with --sql"],
        [["keys", "list", "--database", url], "--database only with --sql"]
      ]
      for (const [args, message] of refused) {
        const result = await run(args)
        expect(result.code, args.join(" ")).toBe(1)
        expect(result.stdout).toBe("")
        expect(result.stderr).toContain(message)
        noStackTrace(result)
      }
      expect((await rowsOf(url, "auth_api_keys")).map((row) => row.key_id).sort()).toEqual(["billing", "ci"])
      expect(Fs.existsSync(Path.join(cwd, "api_keys.txt"))).toBe(false)
      expect(Fs.existsSync(Path.join(cwd, "keys.txt"))).toBe(false)
    })

    it("accepts an expiry with a time and an offset", async () => {
      const result = await runDb(["keys", "create", "dated", "--sql", "--expires", "2099-06-30T18:00:00+02:00"])
      expect(result.code, result.stderr).toBe(0)
      const listed = await runDb(["keys", "list", "--sql"])
      expect(listed.stdout).toContain("expires 2099-06-30T16:00:00.000Z")
    })
  })

  describe("a database that cannot be reached", () => {
    const secret = "hunter2-Secret"

    const closedPort = async () => {
      const server = Net.createServer()
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const { port } = server.address() as Net.AddressInfo
      await new Promise<void>((resolve) => server.close(() => resolve()))
      return port
    }

    it("fails with exit code 1 and one redacted line, from --database or AUTH_DATABASE_URL", async () => {
      const port = await closedPort()
      const pg = `postgres://admin:${secret}@127.0.0.1:${port}/auth`
      const mysql = `mysql://admin:${encodeURIComponent(`${secret}@:/`)}@127.0.0.1:${port}/auth`
      const results = [
        await run(["migrate", "--database", pg]),
        await run(["grant", "role", "editor", "--to", "alice"], { env: { AUTH_DATABASE_URL: pg } }),
        await run(["keys", "create", "k1", "--sql", "-d", mysql]),
        await run(["users", "add", "dave", "--password-stdin", "-d", mysql], { input: "pw-of-dave\n" })
      ]
      for (const result of results) {
        expect(result.code).toBe(1)
        expect(result.stdout).toBe("")
        expect(result.stderr.trim().split("\n")).toHaveLength(1)
        expect(result.stderr).toMatch(/^effect-auth: .*admin:\*\*\*@127\.0\.0\.1/)
        expect(result.stderr).not.toContain("hunter2")
        expect(result.stderr).not.toContain("Secret")
        expect(result.stderr).not.toContain("pw-of-dave")
        noStackTrace(result)
      }
    })

    it("gives up within the connect timeout when the server accepts but never answers", async () => {
      const sockets = new Set<Net.Socket>()
      const silent = Net.createServer((socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
      })
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
      const { port } = silent.address() as Net.AddressInfo
      try {
        for (const scheme of ["postgres", "mysql"]) {
          const started = Date.now()
          const result = await run(["migrate", "-d", `${scheme}://admin:${secret}@127.0.0.1:${port}/auth`])
          expect(Date.now() - started).toBeLessThan(12_000)
          expect(result.code).toBe(1)
          expect(result.stderr.trim().split("\n")).toHaveLength(1)
          expect(result.stderr).toContain("admin:***@")
          expect(result.stderr).not.toContain("hunter2")
        }
      } finally {
        for (const socket of sockets) socket.destroy()
        await new Promise<void>((resolve) => silent.close(() => resolve()))
      }
    })
  })

  it("lists the database commands in the usage", async () => {
    const result = await run(["frobnicate"])
    expect(result.code).toBe(1)
    for (const line of [
      "effect-auth migrate",
      "effect-auth grant",
      "effect-auth users add",
      "keys create <key_id> --sql"
    ]) {
      expect(result.stderr).toContain(line)
    }
  })
})
