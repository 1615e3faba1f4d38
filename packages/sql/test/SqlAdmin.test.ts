import { ApiKey, PasswordHasher } from "@effect-auth/core"
import { Migrations, SqlAdmin, SqlDatabase } from "@effect-auth/sql"
import { Databases } from "@effect-auth/testing"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

/** A fresh, migrated database for this file, dropped when the suite ends. */
const TestDatabase = (dialect: Databases.Dialect) =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const db = yield* Effect.acquireRelease(
        Effect.promise(() => dialect.create()),
        (created) => Effect.promise(() => created.drop())
      )
      return Migrations.layerMigrated().pipe(Layer.provideMerge(SqlDatabase.layer({ url: Redacted.make(db.url) })))
    })
  )

// Fast scrypt parameters where the hashing cost is not what a test is about.
const FastHasher = PasswordHasher.layer({ ln: 10 })

/** The rows of a link table, as `left|right` strings in code unit order. */
const rowsOf = (table: string, left: string, right: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<Record<string, string>>`SELECT ${sql(left)} AS l, ${sql(right)} AS r FROM ${sql(table)}`
    return rows.map((row) => `${row.l}|${row.r}`).sort()
  })

const adminError = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => {
    expect(error._tag).toBe("AdminError")
    return error
  })

const pairs: ReadonlyArray<readonly [SqlAdmin.Subject, SqlAdmin.Grant, string, string, string]> = [
  [{ principal: "p-alice" }, { group: "editors" }, "auth_principal_groups", "principal_id", "group_name"],
  [{ principal: "p-alice" }, { role: "reviewer" }, "auth_principal_roles", "principal_id", "role_name"],
  [{ principal: "p-alice" }, { permission: "documents.*" }, "auth_principal_permissions", "principal_id", "permission"],
  [{ group: "editors" }, { role: "editor" }, "auth_group_roles", "group_name", "role_name"],
  [{ role: "editor" }, { permission: "!documents.delete" }, "auth_role_permissions", "role_name", "permission"],
  [{ role: "editor" }, { role: "reader" }, "auth_role_inherits", "role_name", "inherited_role"]
]

const valueOf = (named: SqlAdmin.Subject | SqlAdmin.Grant): string => Object.values(named)[0] as string

for (const dialect of Databases.all) {
  describe.runIf(await dialect.shouldRun())(dialect.name, () => {
    it.layer(TestDatabase(dialect), { timeout: "30 seconds" })((it) => {
      describe("grants", () => {
        it.effect("grant adds each supported pair once and revoke takes it back once", () =>
          Effect.gen(function* () {
            for (const [subject, grant, table, left, right] of pairs) {
              const row = `${valueOf(subject)}|${valueOf(grant)}`
              expect(yield* SqlAdmin.grant(subject, grant), row).toBe(true)
              expect(yield* SqlAdmin.grant(subject, grant), row).toBe(false)
              expect(yield* rowsOf(table, left, right)).toEqual([row])
            }
            for (const [subject, grant, table, left, right] of pairs) {
              expect(yield* SqlAdmin.revoke(subject, grant)).toBe(true)
              expect(yield* SqlAdmin.revoke(subject, grant)).toBe(false)
              expect(yield* rowsOf(table, left, right)).toEqual([])
            }
          })
        )

        it.effect("keeps names byte for byte: case, trailing characters and unicode are distinct grants", () =>
          Effect.gen(function* () {
            const names = ["zoe", "Zoe", "zoë", "zoe.", "zöe😀", "é".repeat(255)]
            for (const name of names) expect(yield* SqlAdmin.grant({ principal: name }, { group: "g-case" })).toBe(true)
            for (const name of names)
              expect(yield* SqlAdmin.grant({ principal: name }, { group: "g-case" })).toBe(false)
            const rows = yield* rowsOf("auth_principal_groups", "principal_id", "group_name")
            expect(rows.filter((row) => row.endsWith("|g-case"))).toEqual(names.map((name) => `${name}|g-case`).sort())
            expect(yield* SqlAdmin.revoke({ principal: "ZOE" }, { group: "g-case" })).toBe(false)
            expect(yield* SqlAdmin.revoke({ principal: "Zoe" }, { group: "g-case" })).toBe(true)
            expect(yield* SqlAdmin.revoke({ principal: "zoe" }, { group: "g-case" })).toBe(true)
          })
        )

        it.effect("answers true to exactly one of several concurrent grants of the same pair", () =>
          Effect.gen(function* () {
            for (let round = 0; round < 10; round++) {
              const results = yield* Effect.all(
                Array.from({ length: 4 }, () => SqlAdmin.grant({ principal: "racer" }, { role: `winner-${round}` })),
                { concurrency: "unbounded" }
              )
              expect(results.filter((added) => added)).toHaveLength(1)
            }
            expect(
              (yield* rowsOf("auth_principal_roles", "principal_id", "role_name")).filter((r) => r.startsWith("racer|"))
            ).toHaveLength(10)
          })
        )

        it.effect("refuses pairs that cannot be granted, and writes nothing", () =>
          Effect.gen(function* () {
            const refused: ReadonlyArray<readonly [SqlAdmin.Subject, SqlAdmin.Grant]> = [
              [{ group: "g" }, { permission: "documents.read" }],
              [{ group: "g" }, { group: "h" }],
              [{ role: "r" }, { group: "g" }],
              [{ role: "r" }, { role: "r" }]
            ]
            for (const [subject, grant] of refused) yield* adminError(SqlAdmin.grant(subject, grant))
            const ambiguous = { principal: "a", group: "b" } as SqlAdmin.Subject
            yield* adminError(SqlAdmin.grant(ambiguous, { role: "r" }))
            yield* adminError(SqlAdmin.grant({} as SqlAdmin.Subject, { role: "r" }))
            yield* adminError(SqlAdmin.grant({ principal: "a" }, { user: "b" } as unknown as SqlAdmin.Grant))
            expect(yield* rowsOf("auth_group_roles", "group_name", "role_name")).toEqual([])
            expect(yield* rowsOf("auth_role_inherits", "role_name", "inherited_role")).toEqual([])
          })
        )

        it.effect("refuses permissions outside the grammar", () =>
          Effect.gen(function* () {
            for (const permission of [
              "",
              "doc*",
              "a.*.b",
              "*.a",
              "documents read",
              "!",
              "!!a",
              "a\tb",
              "x".repeat(256)
            ]) {
              const error = yield* adminError(SqlAdmin.grant({ principal: "p" }, { permission }))
              expect(error.message).toContain("permission")
            }
            for (const permission of ["*", "a.*", "!a.*", "documents.read", "x".repeat(255)]) {
              expect(yield* SqlAdmin.grant({ role: "grammar" }, { permission })).toBe(true)
            }
            expect(yield* SqlAdmin.revoke({ principal: "p" }, { permission: "doc*" }).pipe(Effect.flip)).toMatchObject({
              _tag: "AdminError"
            })
          })
        )

        it.effect("refuses names that are empty, too long, padded or hold control characters", () =>
          Effect.gen(function* () {
            const bad = [
              "",
              " alice",
              "alice ",
              "al\u0000ice",
              "al\nice",
              "\u0007",
              "a\u007fb",
              "x".repeat(256),
              "\ud800"
            ]
            for (const name of bad) {
              const error = yield* adminError(SqlAdmin.grant({ principal: name }, { group: "g" }))
              // The invalid value is not echoed (it could rewrite a terminal).
              if (name.length > 0) expect(error.message).not.toContain(name)
              yield* adminError(SqlAdmin.grant({ group: name }, { role: "r" }))
              yield* adminError(SqlAdmin.grant({ role: "r" }, { role: name }))
            }
            const written = yield* rowsOf("auth_principal_groups", "principal_id", "group_name")
            expect(written.filter((row) => bad.some((name) => row.startsWith(`${name}|`)))).toEqual([])
            yield* adminError(SqlAdmin.grant({ principal: "p" }, { group: "g" }, { tablePrefix: "Bad-Prefix" }))
          })
        )
      })

      describe("users", () => {
        it.effect("adds a user with a scrypt hash of its password, never the password", () =>
          Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            yield* TestClock.setTime(Date.parse("2030-01-01T00:00:00Z"))
            yield* SqlAdmin.addUser({
              username: "hank",
              password: Redacted.make("hank-password-123"),
              id: "principal-hank",
              name: "Hank",
              email: "hank@example.com",
              attributes: { team: "blue", level: 3 }
            })
            const [row] = yield* sql<Record<string, unknown>>`SELECT * FROM auth_users WHERE username = ${"hank"}`
            expect(row).toMatchObject({
              username: "hank",
              principal_id: "principal-hank",
              name: "Hank",
              email: "hank@example.com",
              disabled: 0
            })
            expect(JSON.parse(String(row?.attributes))).toEqual({ team: "blue", level: 3 })
            expect(Number(row?.created_at)).toBe(Date.parse("2030-01-01T00:00:00Z"))
            const hash = String(row?.password_hash)
            // No PasswordHasher in context: the default parameters.
            expect(hash.startsWith("$scrypt$ln=15,r=8,p=1$")).toBe(true)
            expect(JSON.stringify(row)).not.toContain("hank-password-123")
            const hasher = yield* PasswordHasher.make({ ln: 10 })
            expect(yield* hasher.verify(Redacted.make("hank-password-123"), hash)).toBe(true)
          })
        )

        it.effect("hashes with the PasswordHasher in context, and takes a supported hash as given", () =>
          Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            const hasher = yield* PasswordHasher.make({ ln: 10 })
            yield* SqlAdmin.addUser({ username: "ivy", password: Redacted.make("ivy-password") }).pipe(
              Effect.provideService(PasswordHasher.PasswordHasher, hasher)
            )
            const bcrypt = "$2b$10$" + "a".repeat(53)
            yield* SqlAdmin.addUser({ username: "jack", passwordHash: bcrypt })
            const rows = yield* sql<{ readonly username: string; readonly password_hash: string }>`SELECT username,
              password_hash FROM auth_users WHERE username IN (${"ivy"}, ${"jack"}) ORDER BY username`
            expect(rows[0]?.password_hash.startsWith("$scrypt$ln=10,")).toBe(true)
            expect(rows[1]?.password_hash).toBe(bcrypt)
          })
        )

        it.effect("refuses a taken user name, invalid names, hashes and attributes", () =>
          Effect.gen(function* () {
            const password = Redacted.make("kim-password")
            yield* SqlAdmin.addUser({ username: "kim", password })
            const duplicate = yield* adminError(SqlAdmin.addUser({ username: "kim", password }))
            expect(duplicate.message).toContain("kim")
            expect(duplicate.message).not.toContain("kim-password")
            // A different case or padding is another name, but padding is not a valid user name.
            yield* SqlAdmin.addUser({ username: "Kim", password })
            for (const username of ["kim ", " kim", "k im", "k\u0000im", "kïm", "", "k".repeat(129), "a:b"]) {
              yield* adminError(SqlAdmin.addUser({ username, password }))
            }
            yield* SqlAdmin.addUser({ username: "k".repeat(128), password })
            yield* adminError(SqlAdmin.addUser({ username: "lee", passwordHash: "plain-text" }))
            yield* adminError(SqlAdmin.addUser({ username: "lee", passwordHash: "$2b$99$" + "a".repeat(53) }))
            yield* adminError(SqlAdmin.addUser({ username: "lee", password: Redacted.make("") }))
            yield* adminError(SqlAdmin.addUser({ username: "lee", password: Redacted.make("x".repeat(1025)) }))
            yield* adminError(
              SqlAdmin.addUser({ username: "lee", password, passwordHash: "$2b$10$" + "a".repeat(53) } as never)
            )
            yield* adminError(SqlAdmin.addUser({ username: "lee", password, id: "lee\n" }))
            yield* adminError(SqlAdmin.addUser({ username: "lee", password, email: " lee@example.com" }))
            yield* adminError(SqlAdmin.addUser({ username: "lee", password, attributes: [] as never }))
            yield* adminError(SqlAdmin.addUser({ username: "lee", password, attributes: { groups: ["admin"] } }))
            yield* adminError(SqlAdmin.addUser({ username: "lee", password, attributes: { n: 1n } }))
            yield* adminError(SqlAdmin.addUser({ username: "lee", password, attributes: { big: "x".repeat(70_000) } }))
            const sql = yield* SqlClient.SqlClient
            expect(yield* sql`SELECT username FROM auth_users WHERE username = ${"lee"}`).toEqual([])
          }).pipe(Effect.provide(FastHasher))
        )

        it.effect("removes a user once", () =>
          Effect.gen(function* () {
            yield* SqlAdmin.addUser({ username: "max", password: Redacted.make("max-password") })
            expect(yield* SqlAdmin.removeUser("Max")).toBe(false)
            expect(yield* SqlAdmin.removeUser("max")).toBe(true)
            expect(yield* SqlAdmin.removeUser("max")).toBe(false)
            yield* adminError(SqlAdmin.removeUser("max\u0000"))
            // The name is free again.
            yield* SqlAdmin.addUser({ username: "max", password: Redacted.make("max-password") })
          }).pipe(Effect.provide(FastHasher))
        )
      })

      describe("API keys", () => {
        it.effect("creates keys with random ids and refuses a taken id", () =>
          Effect.gen(function* () {
            const a = yield* SqlAdmin.createApiKey()
            const b = yield* SqlAdmin.createApiKey({ prefix: "sk-live-" })
            expect(a.keyId).toMatch(/^key_[0-9a-f]{24}$/)
            expect(b.keyId).toMatch(/^key_[0-9a-f]{24}$/)
            expect(a.keyId).not.toBe(b.keyId)
            expect(Redacted.value(b.key).startsWith("sk-live-")).toBe(true)
            expect(ApiKey.isValidKey(Redacted.value(a.key))).toBe(true)
            expect(Redacted.value(a.key)).not.toBe(Redacted.value(b.key))
            // Redacted: printing the answer does not show the key.
            expect(String(a.key)).not.toContain(Redacted.value(a.key))
            expect(JSON.stringify(a)).not.toContain(Redacted.value(a.key))
            yield* SqlAdmin.createApiKey({ keyId: "taken" })
            const error = yield* adminError(SqlAdmin.createApiKey({ keyId: "taken" }))
            expect(error.message).toContain("taken")
          })
        )

        it.effect("refuses invalid key ids, owners, rate limits, expiries and prefixes", () =>
          Effect.gen(function* () {
            for (const keyId of ["", "has space", "a.b", "k".repeat(129), "ключ", "a\u0000"]) {
              yield* adminError(SqlAdmin.createApiKey({ keyId }))
            }
            for (const rateLimitPerMinute of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
              yield* adminError(SqlAdmin.createApiKey({ rateLimitPerMinute }))
            }
            yield* adminError(SqlAdmin.createApiKey({ expiresAt: new Date(Number.NaN) }))
            yield* adminError(SqlAdmin.createApiKey({ owner: "owner\u001b[31m" }))
            yield* adminError(SqlAdmin.createApiKey({ description: "x".repeat(256) }))
            yield* adminError(SqlAdmin.createApiKey({ prefix: "sk.live." }))
            yield* SqlAdmin.createApiKey({ keyId: "k".repeat(128), rateLimitPerMinute: 1 })
          })
        )

        it.effect("revokes a key once", () =>
          Effect.gen(function* () {
            const created = yield* SqlAdmin.createApiKey({ keyId: "to-revoke" })
            expect(yield* SqlAdmin.revokeApiKey("To-Revoke")).toBe(false)
            expect(yield* SqlAdmin.revokeApiKey(created.keyId)).toBe(true)
            expect(yield* SqlAdmin.revokeApiKey(created.keyId)).toBe(false)
            expect(yield* SqlAdmin.revokeApiKey("never-created")).toBe(false)
            yield* adminError(SqlAdmin.revokeApiKey(""))
          })
        )

        it.effect("lists keys by id with their settings, never a hash or a key", () =>
          Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            const prefix = "listed_"
            yield* Migrations.run({ tablePrefix: prefix })
            const options = { tablePrefix: prefix }
            yield* TestClock.setTime(Date.parse("2031-05-06T07:08:09.010Z"))
            const expiresAt = new Date("2099-12-31T23:59:59.999Z")
            const b = yield* SqlAdmin.createApiKey(
              { keyId: "b-key", owner: "svc", description: "Second", expiresAt, rateLimitPerMinute: 7 },
              options
            )
            const a = yield* SqlAdmin.createApiKey({ keyId: "a-key" }, options)
            yield* SqlAdmin.revokeApiKey("a-key", options)
            const listed = yield* SqlAdmin.listApiKeys(options)
            expect(listed).toEqual([
              { keyId: "a-key", disabled: true, createdAt: new Date("2031-05-06T07:08:09.010Z") },
              {
                keyId: "b-key",
                owner: "svc",
                description: "Second",
                expiresAt,
                disabled: false,
                rateLimitPerMinute: 7,
                createdAt: new Date("2031-05-06T07:08:09.010Z")
              }
            ])
            const text = JSON.stringify(listed)
            for (const created of [a, b]) {
              expect(text).not.toContain(Redacted.value(created.key))
              expect(text).not.toContain(ApiKey.hash(Redacted.value(created.key)).slice(7))
            }
            expect(text).not.toContain("sha256")
            // The default tables were not touched.
            expect(yield* sql`SELECT key_id FROM auth_api_keys WHERE key_id = ${"b-key"}`).toEqual([])
          })
        )
      })
    })
  })
}
