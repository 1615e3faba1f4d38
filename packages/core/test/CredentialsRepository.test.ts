import { CredentialsRepository, PasswordHasher } from "@effect-auth/core"
import { describe, expect, it } from "@effect/vitest"
import * as Bcrypt from "bcryptjs"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"

const hashes = Effect.gen(function* () {
  const hasher = yield* PasswordHasher.make({ ln: 10 })
  const alice = yield* hasher.hash(Redacted.make("alice-password"))
  const bob = yield* hasher.hash(Redacted.make("bob-password"))
  const carol = yield* Effect.promise(() => Bcrypt.hash("carol-password", 4))
  return { alice, bob, carol }
})

const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make((options) => {
    lines.push(Logger.logfmtLogger.log(options))
  })
  return { lines, layer: Logger.add(logger) }
}

const tempFile = (contents: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const directory = await Fs.mkdtemp(Path.join(Os.tmpdir(), "effect-auth-users-"))
      const file = Path.join(directory, "users")
      await Fs.writeFile(file, contents)
      return { directory, file }
    }),
    ({ directory }) => Effect.promise(() => Fs.rm(directory, { recursive: true, force: true }))
  )

describe("CredentialsRepository", () => {
  describe("layerMemory", () => {
    it.effect("finds users by exact name", () =>
      Effect.gen(function* () {
        const repository = yield* CredentialsRepository.CredentialsRepository
        const alice = yield* repository.findByUsername("alice")
        expect(Option.getOrThrow(alice)).toEqual({ username: "alice", passwordHash: "h1", groups: ["admin"] })
        expect(Option.isNone(yield* repository.findByUsername("Alice"))).toBe(true)
        expect(Option.isNone(yield* repository.findByUsername("mallory"))).toBe(true)
        expect(Option.isNone(yield* repository.findByUsername("__proto__"))).toBe(true)
      }).pipe(
        Effect.provide(
          CredentialsRepository.layerMemory([
            { username: "alice", passwordHash: "h1", groups: ["admin"] },
            { username: "bob", passwordHash: "h2" }
          ])
        )
      )
    )

    it.effect("keeps the first of two entries with the same name", () =>
      Effect.gen(function* () {
        const repository = yield* CredentialsRepository.CredentialsRepository
        const alice = yield* repository.findByUsername("alice")
        expect(Option.map(alice, (user) => user.passwordHash)).toEqual(Option.some("first"))
      }).pipe(
        Effect.provide(
          CredentialsRepository.layerMemory([
            { username: "alice", passwordHash: "first" },
            { username: "alice", passwordHash: "second" }
          ])
        )
      )
    )
  })

  describe("parseUsersFile", () => {
    it.effect("reads users, groups, comments and blank lines", () =>
      Effect.gen(function* () {
        const { alice, bob, carol } = yield* hashes
        const text = [
          "\uFEFF# effect-auth users",
          "",
          `alice:${alice}:admin, ops ,,admin`,
          "   ",
          `  bob:${bob}  `,
          "# carol uses a bcrypt hash",
          `carol.smith@example.com:${carol}:`,
          `x_y-z.1:${bob}`
        ].join("\r\n")
        const { users, warnings } = CredentialsRepository.parseUsersFile(text)
        expect(warnings).toEqual([])
        expect(users).toEqual([
          { username: "alice", passwordHash: alice, groups: ["admin", "ops"] },
          { username: "bob", passwordHash: bob },
          { username: "carol.smith@example.com", passwordHash: carol, groups: [] },
          { username: "x_y-z.1", passwordHash: bob }
        ])
      })
    )

    it.effect("skips invalid lines and duplicates with warnings that name the line, never the hash", () =>
      Effect.gen(function* () {
        const { alice, bob, carol } = yield* hashes
        const lines = [
          `alice:${alice}:admin`, // 1
          `bad name:${bob}`, // 2
          `${"x".repeat(129)}:${bob}`, // 3
          `jos\u00e9:${bob}`, // 4
          `:${bob}`, // 5
          bob, // 6: a hash without a user name
          "hunter2", // 7: a password without anything else
          `dave:${bob}:g1:extra`, // 8
          "erin:not-a-hash", // 9
          `frank:${bob.replace("ln=10", "ln=40")}`, // 10
          `alice:${carol}:other`, // 11
          `grace:${"$" + "A".repeat(600)}`, // 12
          `${"y".repeat(128)}:${carol}` // 13
        ]
        const { users, warnings } = CredentialsRepository.parseUsersFile(lines.join("\n"))
        expect(users.map((user) => user.username)).toEqual(["alice", "y".repeat(128)])
        expect(users[0]).toEqual({ username: "alice", passwordHash: alice, groups: ["admin"] })
        expect(warnings).toHaveLength(11)
        const byLine = (line: number) => warnings.find((warning) => warning.startsWith(`users file line ${line}:`))
        for (const line of [2, 3, 4, 5]) expect(byLine(line)).toContain("invalid user name")
        expect(byLine(6)).toContain('not "username:hash[:groups]"')
        expect(byLine(7)).toContain('not "username:hash[:groups]"')
        expect(byLine(8)).toContain('"dave"')
        expect(byLine(9)).toContain('"erin"')
        expect(byLine(10)).toContain('"frank"')
        expect(byLine(11)).toContain('"alice"')
        expect(byLine(11)).toContain("line 1")
        expect(byLine(12)).toContain('"grace"')
        for (const warning of warnings) {
          expect(warning).not.toContain("$")
          for (const secret of [alice, bob, carol, bob.split("$")[4] ?? "", "hunter2", "not-a-hash"]) {
            expect(warning).not.toContain(secret)
          }
        }
      })
    )

    it("reads an empty file as no users", () => {
      expect(CredentialsRepository.parseUsersFile("")).toEqual({ users: [], warnings: [] })
      expect(CredentialsRepository.parseUsersFile("# nobody\n\n")).toEqual({ users: [], warnings: [] })
    })
  })

  describe("layerFile", () => {
    it.scoped("serves the users of a file and logs its skipped lines without hashes", () =>
      Effect.gen(function* () {
        const { alice, bob } = yield* hashes
        const { file } = yield* tempFile(
          `# users\nalice:${alice}:admin,ops\nbob:${bob}\nalice:${bob}\nbad name:${bob}\n`
        )
        const logs = captureLogs()
        const [foundAlice, foundBob, missing] = yield* Effect.gen(function* () {
          const repository = yield* CredentialsRepository.CredentialsRepository
          return yield* Effect.all([
            repository.findByUsername("alice"),
            repository.findByUsername("bob"),
            repository.findByUsername("carol")
          ])
        }).pipe(Effect.provide(CredentialsRepository.layerFile(file)), Effect.provide(logs.layer))
        expect(Option.getOrThrow(foundAlice)).toEqual({
          username: "alice",
          passwordHash: alice,
          groups: ["admin", "ops"]
        })
        expect(Option.getOrThrow(foundBob)).toEqual({ username: "bob", passwordHash: bob })
        expect(Option.isNone(missing)).toBe(true)
        expect(logs.lines).toHaveLength(2)
        expect(logs.lines[0]).toContain("level=WARN")
        expect(logs.lines[0]).toContain("line 4")
        expect(logs.lines[0]).toContain("alice")
        expect(logs.lines[1]).toContain("line 5")
        for (const line of logs.lines) {
          expect(line).not.toContain("$scrypt")
          expect(line).not.toContain(bob.split("$")[4])
        }
      })
    )

    it.scoped("warns when the file has no valid users", () =>
      Effect.gen(function* () {
        const { file } = yield* tempFile("# nobody yet\n")
        const logs = captureLogs()
        const found = yield* Effect.flatMap(CredentialsRepository.CredentialsRepository, (repository) =>
          repository.findByUsername("alice")
        ).pipe(Effect.provide(CredentialsRepository.layerFile(file)), Effect.provide(logs.layer))
        expect(Option.isNone(found)).toBe(true)
        expect(logs.lines.join("\n")).toContain("no valid users")
      })
    )

    it.scoped("fails when the layer is built if the file cannot be read", () =>
      Effect.gen(function* () {
        const { directory } = yield* tempFile("")
        const missing = Path.join(directory, "does-not-exist")
        for (const path of [missing, directory]) {
          const error = yield* Effect.flip(
            Effect.asVoid(CredentialsRepository.CredentialsRepository).pipe(
              Effect.provide(CredentialsRepository.layerFile(path))
            )
          )
          expect(error._tag).toBe("ConfigError")
          expect(error._op).toBe("InvalidData")
          expect(String(error)).toContain(path)
        }
      })
    )
  })
})
