import { ApiKey, ApiKeyFile } from "@effect-auth/core"
import { Issuer } from "@effect-auth/testing"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const root = Path.resolve(packageDir, "../..")
const bin = Path.join(packageDir, "dist", "bin.js")

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

let cwd = ""

/** Runs the built `effect-auth` as a user would, in a temporary directory. */
const run = (
  args: ReadonlyArray<string>,
  options: { readonly input?: string; readonly env?: Record<string, string> } = {}
): Promise<Result> =>
  new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, ...options.env }
    if (options.env?.AUTH_API_KEYS_FILE === undefined) delete env.AUTH_API_KEYS_FILE
    const child = spawn(process.execPath, [bin, ...args], { cwd, env, stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(options.input ?? "")
  })

const file = (name: string) => Path.join(cwd, name)
const read = (name: string) => Fs.readFileSync(file(name), "utf8")
const modeOf = (name: string) => Fs.statSync(file(name)).mode & 0o777
const noStackTrace = (result: Result) => expect(result.stderr).not.toMatch(/\n\s+at /)

// The seed's own example file, with the kinds of bad lines the seed skips.
const seedFile = [
  "# API keys",
  "production:sk-prod-abc123def456",
  "alice-laptop:sk-alice-xyz789",
  "development:sk-dev-test123",
  "",
  "  ci-runner : sk-ci-0123456789abcdef  ",
  "no separator here",
  "bad id!:sk-bad-0123456789abcdef",
  "staging:sk-stag-0123456789abcdef",
  "staging-copy:sk-stag-0123456789abcdef",
  ""
].join("\n")

beforeAll(() => {
  // Incremental: quick when `npm test` has already built everything, a full build when run on its own.
  execFileSync("npx", ["tsc", "-b", "packages/cli/tsconfig.build.json"], { cwd: root, stdio: "ignore" })
}, 180_000)

describe("effect-auth", () => {
  beforeAll(() => {
    cwd = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-auth-cli-"))
  })
  afterAll(() => {
    Fs.rmSync(cwd, { recursive: true, force: true })
  })

  describe("keys create", () => {
    it("prints a new key once and stores only its hash, in a new 0600 file", async () => {
      const result = await run(["keys", "create", "production"])
      expect(result.code).toBe(0)
      const key = result.stdout.trim()
      expect(result.stdout).toBe(`${key}\n`)
      expect(key.startsWith("sk-")).toBe(true)
      expect(ApiKey.isValidKey(key)).toBe(true)
      expect(key.length).toBeGreaterThanOrEqual("sk-".length + 22) // 128 bits in base64url
      expect(result.stderr).toContain("cannot be shown again")
      expect(result.stderr).not.toContain(key)

      const text = read("api_keys.txt")
      expect(text).not.toContain(key)
      expect(text).toBe(`${ApiKeyFile.formatLine("production", key)}\n`)
      const parsed = ApiKeyFile.parse(text)
      expect(parsed.warnings).toEqual([])
      expect(parsed.entries).toEqual([{ keyId: "production", hash: ApiKey.hash(key) }])
      expect(modeOf("api_keys.txt")).toBe(0o600)
    })

    it("appends to an existing file, with a prefix, and every key differs", async () => {
      const first = await run(["keys", "create", "alice", "--file", "team.txt", "--prefix", "sk-live-"])
      const second = await run(["keys", "create", "bob", "--file", "team.txt", "--prefix", "sk-live-"])
      expect([first.code, second.code]).toEqual([0, 0])
      const keys = [first.stdout.trim(), second.stdout.trim()]
      expect(keys.every((key) => key.startsWith("sk-live-"))).toBe(true)
      expect(keys[0]).not.toBe(keys[1])
      const parsed = ApiKeyFile.parse(read("team.txt"))
      expect(parsed.entries.map((entry) => [entry.keyId, entry.hash])).toEqual([
        ["alice", ApiKey.hash(keys[0]!)],
        ["bob", ApiKey.hash(keys[1]!)]
      ])
    })

    it("starts a new line when the file does not end with one", async () => {
      const existing = "old:sk-old-0123456789abcdef"
      Fs.writeFileSync(file("no-newline.txt"), existing)
      Fs.chmodSync(file("no-newline.txt"), 0o644)
      const result = await run(["keys", "create", "new", "--file", "no-newline.txt"])
      expect(result.code).toBe(0)
      expect(read("no-newline.txt")).toBe(`${existing}\n${ApiKeyFile.formatLine("new", result.stdout.trim())}\n`)
      expect(result.stderr).toContain("readable by other users")
    })

    it("uses AUTH_API_KEYS_FILE when --file is not given", async () => {
      const result = await run(["keys", "create", "from-env"], { env: { AUTH_API_KEYS_FILE: file("env.txt") } })
      expect(result.code).toBe(0)
      expect(ApiKeyFile.parse(read("env.txt")).entries[0]?.hash).toBe(ApiKey.hash(result.stdout.trim()))
    })

    it("refuses a key id that is already in the file, leaving it unchanged", async () => {
      const before = read("api_keys.txt")
      const result = await run(["keys", "create", "production"])
      expect(result.code).toBe(1)
      expect(result.stdout).toBe("")
      expect(result.stderr).toContain('key_id "production" already exists')
      noStackTrace(result)
      expect(read("api_keys.txt")).toBe(before)
    })

    it("refuses an invalid key id and an invalid prefix without creating the file", async () => {
      const badId = await run(["keys", "create", "bad id!", "--file", "never.txt"])
      expect(badId.code).toBe(1)
      expect(badId.stderr).toContain("invalid key_id")
      const badPrefix = await run(["keys", "create", "ok", "--file", "never.txt", "--prefix", "sk live"])
      expect(badPrefix.code).toBe(1)
      expect(badPrefix.stderr).toContain("invalid --prefix")
      noStackTrace(badPrefix)
      expect(Fs.existsSync(file("never.txt"))).toBe(false)
    })

    it("refuses a missing key id with the usage", async () => {
      const result = await run(["keys", "create"])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain("Missing argument <key_id>")
      expect(result.stderr).toContain("effect-auth keys create <key_id>")
    })
  })

  describe("keys list", () => {
    it("shows key ids and how they are stored, never the keys, and warnings with line numbers", async () => {
      Fs.writeFileSync(file("seed.txt"), seedFile)
      const hashed = await run(["keys", "hash"], { input: "mixed:sk-mixed-0123456789abcdef\n" })
      Fs.appendFileSync(file("seed.txt"), hashed.stdout)
      const result = await run(["keys", "list", "--file", "seed.txt"])
      expect(result.code).toBe(0)
      const rows = result.stdout
        .trim()
        .split("\n")
        .map((line) => line.split(/\s+/))
      expect(rows).toEqual([
        ["production", "plaintext"],
        ["ci-runner", "plaintext"],
        ["staging", "plaintext"],
        ["mixed", "hashed"]
      ])
      expect(result.stdout + result.stderr).not.toMatch(/sk-/)
      expect(result.stderr).toContain('line 3 (key_id "alice-laptop")')
      expect(result.stderr).toContain("line 7:")
      expect(result.stderr).toContain('line 10 (key_id "staging-copy"): duplicate key')
    })

    it("fails clearly on a missing file", async () => {
      const result = await run(["keys", "list", "--file", "missing.txt"])
      expect(result.code).toBe(1)
      expect(result.stderr).toBe('effect-auth: cannot read "missing.txt" (no such file)\n')
    })
  })

  describe("keys revoke", () => {
    it("removes every line of the key id atomically and keeps the mode and the other lines", async () => {
      const text =
        "# team keys\r\nalice:sk-alice-0123456789abcdef\nbob:sk-bob-0123456789abcdef\n alice : sk-alice-fedcba9876543210\n"
      Fs.writeFileSync(file("revoke.txt"), text)
      Fs.chmodSync(file("revoke.txt"), 0o640)
      const result = await run(["keys", "revoke", "alice", "--file", "revoke.txt"])
      expect(result.code).toBe(0)
      expect(result.stderr).toContain("2 lines removed")
      expect(read("revoke.txt")).toBe("# team keys\r\nbob:sk-bob-0123456789abcdef\n")
      expect(modeOf("revoke.txt")).toBe(0o640)
      expect(Fs.readdirSync(cwd).filter((name) => name.endsWith(".tmp"))).toEqual([])
    })

    it("fails with exit code 1 when the key id is not in the file", async () => {
      const before = read("revoke.txt")
      const result = await run(["keys", "revoke", "alice", "--file", "revoke.txt"])
      expect(result.code).toBe(1)
      expect(result.stderr).toBe('effect-auth: key_id "alice" is not in "revoke.txt"\n')
      expect(read("revoke.txt")).toBe(before)
    })

    it("revokes a created key: the key no longer validates against the file", async () => {
      const created = await run(["keys", "create", "temp", "--file", "cycle.txt"])
      const key = created.stdout.trim()
      expect(ApiKeyFile.parse(read("cycle.txt")).entries.some((entry) => entry.hash === ApiKey.hash(key))).toBe(true)
      expect((await run(["keys", "revoke", "temp", "--file", "cycle.txt"])).code).toBe(0)
      expect(ApiKeyFile.parse(read("cycle.txt")).entries).toEqual([])
      expect(modeOf("cycle.txt")).toBe(0o600)
    })
  })

  describe("keys hash", () => {
    it("converts a seed-style plaintext file exactly, with the same accept and skip decisions", async () => {
      const result = await run(["keys", "hash"], { input: seedFile })
      expect(result.code).toBe(0)
      expect(result.stdout).toBe(
        [
          "# API keys",
          ApiKeyFile.formatLine("production", "sk-prod-abc123def456"),
          "",
          ApiKeyFile.formatLine("ci-runner", "sk-ci-0123456789abcdef"),
          ApiKeyFile.formatLine("staging", "sk-stag-0123456789abcdef"),
          ApiKeyFile.formatLine("staging-copy", "sk-stag-0123456789abcdef"),
          ""
        ].join("\n")
      )
      expect(result.stdout).not.toMatch(/sk-/)
      expect(result.stderr).not.toMatch(/sk-/)
      expect(result.stderr).toContain('line 3 (key_id "alice-laptop")')
      expect(ApiKeyFile.parse(result.stdout).entries).toEqual(ApiKeyFile.parse(seedFile).entries)
    })

    it("keeps lines that are already hashed", async () => {
      const line = ApiKeyFile.formatLine("done", "sk-done-0123456789abcdef")
      const result = await run(["keys", "hash"], { input: `${line}\n` })
      expect(result.stdout).toBe(`${line}\n`)
    })

    it("hashes a single key with --key-id", async () => {
      const result = await run(["keys", "hash", "--key-id", "production"], { input: "sk-prod-abc123def456\n" })
      expect(result.code).toBe(0)
      expect(result.stdout).toBe(`production:${ApiKey.hash("sk-prod-abc123def456")}\n`)
    })

    it("refuses an invalid key and empty input", async () => {
      const invalid = await run(["keys", "hash", "--key-id", "x"], { input: "short\n" })
      expect(invalid.code).toBe(1)
      expect(invalid.stderr).not.toContain("short")
      const empty = await run(["keys", "hash"], { input: "" })
      expect(empty.code).toBe(1)
      expect(empty.stderr).toContain("no input")
    })
  })

  describe("token inspect", () => {
    let issuer: Issuer.Issuer
    beforeAll(async () => {
      issuer = await Issuer.start()
    })
    afterAll(() => issuer.close())

    it("decodes the header and claims, with dates in ISO-8601, without echoing the token", async () => {
      const token = await issuer.mint({ aud: "orders" }, { now: 1_800_000_000, expiresIn: 600 })
      const result = await run(["token", "inspect", token])
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(`"iss": "${issuer.issuer}"`)
      expect(result.stdout).toContain(`"kid": "${issuer.currentKey.kid}"`)
      expect(result.stdout).toContain("iat: 2027-01-15T08:00:00.000Z")
      expect(result.stdout).toContain("exp: 2027-01-15T08:10:00.000Z")
      expect(result.stderr).toContain("not verified")
      expect(result.stdout + result.stderr).not.toContain(token.split(".")[2]!)
    })

    it("verifies through discovery when only the issuer is given: valid", async () => {
      const token = await issuer.mint({ aud: "orders" })
      const result = await run(["token", "inspect", token, "--issuer", issuer.issuer, "--audience", "orders"])
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      expect(result.stdout.trim().split("\n").at(-1)).toBe("valid")
      expect(issuer.requests.discovery).toBeGreaterThan(0)
    })

    it("verifies with --jwks-url, reading the token from stdin", async () => {
      const token = await issuer.mint({ aud: "orders" })
      // Options come before "-": @effect/cli stops reading options at an argument that starts with "-".
      const result = await run(["token", "inspect", "--jwks-url", issuer.jwksUrl, "--issuer", issuer.issuer, "-"], {
        input: `${token}\n`
      })
      expect(result.code).toBe(0)
      expect(result.stdout.trim().split("\n").at(-1)).toBe("valid")
    })

    it("answers invalid: expired with exit code 2", async () => {
      const token = await issuer.mint({ aud: "orders" }, { expiresIn: -3600 })
      const result = await run(["token", "inspect", token, "--issuer", issuer.issuer])
      expect(result.code).toBe(2)
      expect(result.stdout.trim().split("\n").at(-1)).toBe("invalid: expired")
      expect(result.stdout + result.stderr).not.toContain(token)
    })

    it("answers invalid for the wrong audience and for a token of another issuer's key", async () => {
      const token = await issuer.mint({ aud: "orders" })
      const audience = await run(["token", "inspect", token, "--issuer", issuer.issuer, "--audience", "billing"])
      expect(audience.code).toBe(2)
      expect(audience.stdout).toContain("invalid: wrong-audience")

      const other = await Issuer.start()
      try {
        const forged = await other.mint({ aud: "orders", iss: issuer.issuer }, { key: other.currentKey })
        const result = await run(["token", "inspect", forged, "--issuer", issuer.issuer])
        expect(result.code).toBe(2)
        expect(result.stdout).toMatch(/invalid: (unknown-key|bad-signature)/)
      } finally {
        await other.close()
      }
    })

    it("refuses garbage as a usage error, without a stack trace", async () => {
      const result = await run(["token", "inspect", "not-a-token"])
      expect(result.code).toBe(1)
      expect(result.stdout).toBe("")
      expect(result.stderr).toContain("cannot decode the token")
      expect(result.stderr).not.toContain("not-a-token")
      noStackTrace(result)
    })

    it("fails with exit code 1 when the keys cannot be fetched", async () => {
      const down = await Issuer.start()
      const url = down.jwksUrl
      await down.close()
      const token = await issuer.mint()
      const result = await run(["token", "inspect", token, "--jwks-url", url])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain("cannot get the issuer's keys (unreachable)")
      noStackTrace(result)
    })

    it("refuses unsupported algorithms and plain-HTTP key URLs", async () => {
      const token = await issuer.mint()
      const algorithms = await run(["token", "inspect", token, "--issuer", issuer.issuer, "--algorithms", "HS256"])
      expect(algorithms.code).toBe(1)
      expect(algorithms.stderr).toContain("invalid --algorithms (HS256)")
      const insecure = await run(["token", "inspect", token, "--jwks-url", "http://keys.example.com/jwks.json"])
      expect(insecure.code).toBe(1)
      expect(insecure.stderr).toContain("invalid --jwks-url")
    })
  })

  it("answers an unknown command with a non-zero exit code and the usage", async () => {
    const result = await run(["frobnicate"])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe("")
    expect(result.stderr).toContain("Invalid subcommand")
    expect(result.stderr).toContain("effect-auth keys create <key_id>")
    expect(result.stderr).toContain("effect-auth token inspect")
    noStackTrace(result)
  })
})
