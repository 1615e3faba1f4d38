import { ApiKey } from "@effect-auth/core"
import { Databases } from "@effect-auth/testing"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Cli from "./cliProcess.js"
import { apiKeyLogin, grantsOf, rowsOf } from "./stores.js"

let cwd = ""

beforeAll(() => {
  Cli.build()
  cwd = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-auth-cli-servers-"))
}, 180_000)

afterAll(() => {
  Fs.rmSync(cwd, { recursive: true, force: true })
})

for (const server of [Databases.pg, Databases.mysql]) {
  describe.runIf(await server.shouldRun())(`effect-auth on ${server.title}`, { timeout: 60_000 }, () => {
    let database: Databases.Database
    const run = (args: ReadonlyArray<string>) => Cli.run([...args, "--database", database.url], { cwd })

    beforeAll(async () => {
      // PostgreSQL's trust authentication ignores a password (MariaDB would refuse one): its URL carries one
      // to show that it is never printed.
      database = await server.create(server.name === "pg" ? { password: "never-shown-pw" } : {})
    })
    afterAll(() => database.drop())

    it("migrates once, then is already up to date, never printing the URL's password", async () => {
      const first = await run(["migrate"])
      expect(first.code, first.stderr).toBe(0)
      expect(first.stdout).toBe("applied 1_create_schema\n")
      const second = await run(["migrate"])
      expect(second.code).toBe(0)
      expect(second.stdout).toBe("already up to date\n")
      expect(second.stderr).toContain("127.0.0.1")
      const password = new URL(database.url).password
      if (password !== "") expect(first.stderr + second.stderr).not.toContain(password)
    })

    it("grants a role that the grant store then resolves, byte for byte", async () => {
      const result = await run(["grant", "role", "editor", "--to", "alice"])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toBe('granted role "editor" to principal "alice"\n')
      expect((await run(["grant", "role", "editor", "--to", "alice"])).stdout).toMatch(/^already granted/)
      expect((await grantsOf(database.url, "alice")).roles).toEqual(["editor"])
      expect((await grantsOf(database.url, "Alice")).roles).toEqual([])
      expect((await grantsOf(database.url, "alice ")).roles).toEqual([])
    })

    it("creates an API key that authenticates, with only its hash stored", async () => {
      const result = await run([
        "keys",
        "create",
        "billing",
        "--sql",
        "--owner",
        "billing-service",
        "--rate-limit",
        "60"
      ])
      expect(result.code, result.stderr).toBe(0)
      const key = result.stdout.trim()
      expect(ApiKey.isValidKey(key)).toBe(true)
      const rows = await rowsOf(database.url, "auth_api_keys")
      expect(rows.map((row) => [row.key_id, row.key_hash])).toEqual([["billing", ApiKey.hash(key)]])
      expect(await apiKeyLogin(database.url, key)).toMatchObject({
        id: "billing",
        claims: { owner: "billing-service", rate_limit_per_minute: 60 }
      })
      const listed = await run(["keys", "list", "--sql"])
      expect(listed.stdout).toContain("billing")
      expect(listed.stdout).not.toContain(key)
    })
  })
}
