import {
  AuthError,
  Authenticator,
  BasicAuth,
  type Credential,
  CredentialsRepository,
  PasswordHasher
} from "@effect-auth/core"
import { Migrations, SqlAdmin, SqlCredentialsRepository, SqlDatabase } from "@effect-auth/sql"
import { Databases, TcpProxy } from "@effect-auth/testing"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestServices from "effect/TestServices"

class DatabaseUrl extends Context.Tag("test/DatabaseUrl")<DatabaseUrl, string>() {}

/** A fresh, migrated database for this file, dropped when the suite ends. */
const TestDatabase = (dialect: Databases.Dialect) =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const db = yield* Effect.acquireRelease(
        Effect.promise(() => dialect.create()),
        (created) => Effect.promise(() => created.drop())
      )
      return Migrations.layerMigrated().pipe(
        Layer.provideMerge(SqlDatabase.layer({ url: Redacted.make(db.url) })),
        Layer.merge(Layer.succeed(DatabaseUrl, db.url))
      )
    })
  )

// Fast scrypt parameters: the tests check who is let in, not the hashing cost.
const Hasher = PasswordHasher.layer({ ln: 10 })

const basic = (username: string, password: string): Credential.Headers => ({
  authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`
})

/** An authenticator with the Basic provider over the SQL users, on the database in context. */
const authenticator = () =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const hasher = yield* PasswordHasher.PasswordHasher
    const context = yield* Layer.build(
      Authenticator.layer([BasicAuth.provider()]).pipe(
        Layer.provide(SqlCredentialsRepository.layer()),
        Layer.provide(Layer.succeed(PasswordHasher.PasswordHasher, hasher)),
        Layer.provide(Layer.succeed(SqlClient.SqlClient, sql))
      )
    )
    return Context.get(context, Authenticator.Authenticator)
  })

const captureLogs = () => {
  const lines: Array<string> = []
  return {
    lines,
    layer: Logger.replace(
      Logger.defaultLogger,
      Logger.make((options) => void lines.push(Logger.logfmtLogger.log(options)))
    )
  }
}

for (const dialect of Databases.all) {
  describe.runIf(await dialect.shouldRun())(dialect.name, () => {
    it.layer(Layer.merge(TestDatabase(dialect), Hasher), { timeout: "30 seconds" })((it) => {
      it.scoped("lets a user added through the admin API in with the right password", () =>
        Effect.gen(function* () {
          yield* SqlAdmin.addUser({
            username: "alice",
            password: Redacted.make("alice-secret"),
            id: "user-alice",
            name: "Alice Liddell",
            email: "alice@example.com",
            attributes: { department: "wonderland" }
          })
          const auth = yield* authenticator()
          const principal = yield* auth.authenticate(basic("alice", "alice-secret"))
          expect(principal.id).toBe("user-alice")
          expect(principal.kind).toBe("user")
          expect(principal.provider).toBe("basic")
          expect(principal.name).toBe("Alice Liddell")
          expect(principal.email).toBe("alice@example.com")
          expect(principal.claims).toMatchObject({ department: "wonderland" })
        })
      )

      it.scoped("gives a wrong password and an unknown user the same InvalidCredentials", () =>
        Effect.gen(function* () {
          yield* SqlAdmin.addUser({ username: "bob", password: Redacted.make("bob-secret") })
          const auth = yield* authenticator()
          const wrong = yield* Effect.flip(auth.authenticate(basic("bob", "not-bob-secret")))
          const unknown = yield* Effect.flip(auth.authenticate(basic("nobody", "bob-secret")))
          expect(wrong).toBeInstanceOf(AuthError.InvalidCredentials)
          expect(unknown).toBeInstanceOf(AuthError.InvalidCredentials)
          expect(wrong).toEqual(unknown)
          expect(wrong.message).toBe(unknown.message)
          // The right password still works: the user exists, only the password was wrong.
          expect((yield* auth.authenticate(basic("bob", "bob-secret"))).id).toBe("bob")
        })
      )

      it.scoped("finds user names byte for byte: Alice and 'carol ' are not alice and carol", () =>
        Effect.gen(function* () {
          yield* SqlAdmin.addUser({ username: "carol", password: Redacted.make("carol-secret") })
          const auth = yield* authenticator()
          for (const name of ["Carol", "CAROL", "carol ", " carol", "carol\u0000", "caro", "carol\u00a0"]) {
            const refused = yield* Effect.flip(auth.authenticate(basic(name, "carol-secret")))
            expect(refused._tag, JSON.stringify(name)).toBe("InvalidCredentials")
          }
          const repository = yield* SqlCredentialsRepository.make()
          expect(Option.isNone(yield* repository.findByUsername("Carol"))).toBe(true)
          expect(Option.isNone(yield* repository.findByUsername("carol "))).toBe(true)
          expect(Option.isNone(yield* repository.findByUsername("x".repeat(200)))).toBe(true)
          expect(Option.map(yield* repository.findByUsername("carol"), (user) => user.username)).toEqual(
            Option.some("carol")
          )
        })
      )

      it.scoped("refuses a disabled user, and lets it in again when enabled", () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* SqlAdmin.addUser({ username: "dave", password: Redacted.make("dave-secret") })
          const auth = yield* authenticator()
          expect((yield* auth.authenticate(basic("dave", "dave-secret"))).id).toBe("dave")
          yield* sql`UPDATE auth_users SET disabled = 1 WHERE username = ${"dave"}`
          const refused = yield* Effect.flip(auth.authenticate(basic("dave", "dave-secret")))
          expect(refused._tag).toBe("InvalidCredentials")
          const repository = yield* SqlCredentialsRepository.make()
          expect(Option.isNone(yield* repository.findByUsername("dave"))).toBe(true)
          yield* sql`UPDATE auth_users SET disabled = 0 WHERE username = ${"dave"}`
          expect((yield* auth.authenticate(basic("dave", "dave-secret"))).id).toBe("dave")
        })
      )

      it.scoped("maps the row: id defaults to the user name, the hash stays a string, null fields stay absent", () =>
        Effect.gen(function* () {
          const hasher = yield* PasswordHasher.PasswordHasher
          const hash = yield* hasher.hash(Redacted.make("erin-secret"))
          yield* SqlAdmin.addUser({ username: "erin@example.com", passwordHash: hash })
          const repository = yield* SqlCredentialsRepository.make()
          const erin = yield* repository.findByUsername("erin@example.com")
          expect(erin).toEqual(
            Option.some({
              username: "erin@example.com",
              passwordHash: hash,
              id: "erin@example.com",
              name: undefined,
              email: undefined,
              claims: undefined
            })
          )
        })
      )

      it.scoped("ignores attributes that are not a JSON object, logging the user but not the value", () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const logs = captureLogs()
          yield* SqlAdmin.addUser({ username: "frank", password: Redacted.make("frank-secret") })
          const repository = yield* SqlCredentialsRepository.make()
          for (const attributes of ['["secret-array"]', '"secret-string"', "42", "null", "{not json secret"]) {
            yield* sql`UPDATE auth_users SET attributes = ${attributes} WHERE username = ${"frank"}`
            const found = yield* repository.findByUsername("frank").pipe(Effect.provide(logs.layer))
            expect(Option.map(found, (user) => user.claims)).toEqual(Option.some(undefined))
          }
          expect(logs.lines.length).toBe(5)
          expect(logs.lines.every((line) => line.includes("frank") && !line.includes("secret"))).toBe(true)
          // Grants come from the grant tables only: grant names in attributes are dropped.
          yield* sql`UPDATE auth_users SET attributes = ${'{"team":"blue","groups":["admin"]}'} WHERE username = ${"frank"}`
          const found = yield* repository.findByUsername("frank")
          expect(Option.map(found, (user) => user.claims)).toEqual(Option.some({ team: "blue" }))
          const auth = yield* authenticator()
          const principal = yield* auth.authenticate(basic("frank", "frank-secret"))
          expect(principal.claims).toEqual({ team: "blue" })
          expect(yield* principal.groups).toEqual([])
        })
      )

      it.effect("fails to build with an invalid table prefix", () =>
        Effect.gen(function* () {
          const error = yield* Effect.flip(SqlCredentialsRepository.make({ tablePrefix: "Auth; DROP" }))
          expect(error._op).toBe("InvalidData")
        })
      )

      if (dialect.name === "pg") {
        it.scoped("answers ProviderUnavailable while the database is away, and recovers by itself", () =>
          TestServices.provideLive(
            Effect.gen(function* () {
              const url = yield* DatabaseUrl
              yield* SqlAdmin.addUser({ username: "grace", password: Redacted.make("grace-secret") })
              const proxy = yield* TcpProxy.scoped({ host: dialect.host ?? "127.0.0.1", port: dialect.port ?? 5432 })
              const proxied = url.replace(`:${dialect.port ?? 5432}/`, `:${proxy.port}/`)
              expect(proxied).not.toBe(url)
              const hasher = yield* PasswordHasher.PasswordHasher
              const context = yield* Layer.build(
                Authenticator.layer([BasicAuth.provider()]).pipe(
                  Layer.provide(SqlCredentialsRepository.layer({ queryTimeout: "1 second" })),
                  Layer.provide(Layer.succeed(PasswordHasher.PasswordHasher, hasher)),
                  Layer.provide(SqlDatabase.layer({ url: Redacted.make(proxied), connectTimeout: "1 second" }))
                )
              )
              const auth = Context.get(context, Authenticator.Authenticator)
              expect((yield* auth.authenticate(basic("grace", "grace-secret"))).id).toBe("grace")

              yield* Effect.promise(() => proxy.cut())
              for (const headers of [basic("grace", "grace-secret"), basic("grace", "wrong"), basic("nobody", "x")]) {
                const error = yield* Effect.flip(auth.authenticate(headers))
                expect(error._tag).toBe("ProviderUnavailable")
              }

              yield* Effect.promise(() => proxy.restore())
              const back = yield* untilOk(auth.authenticate(basic("grace", "grace-secret")))
              expect(back.id).toBe("grace")
              expect((yield* Effect.flip(auth.authenticate(basic("grace", "wrong"))))._tag).toBe("InvalidCredentials")
            })
          )
        )

        it.scoped("answers ProviderUnavailable within the query timeout when the database hangs", () =>
          TestServices.provideLive(
            Effect.gen(function* () {
              const url = yield* DatabaseUrl
              const proxy = yield* TcpProxy.scoped({ host: dialect.host ?? "127.0.0.1", port: dialect.port ?? 5432 })
              const proxied = url.replace(`:${dialect.port ?? 5432}/`, `:${proxy.port}/`)
              const context = yield* Layer.build(
                SqlCredentialsRepository.layer({ queryTimeout: "300 millis" }).pipe(
                  Layer.provide(SqlDatabase.layer({ url: Redacted.make(proxied), connectTimeout: "1 second" }))
                )
              )
              const repository = Context.get(context, CredentialsRepository.CredentialsRepository)
              yield* repository.findByUsername("anyone")
              yield* Effect.promise(() => proxy.stall())
              const started = Date.now()
              const error = yield* Effect.flip(repository.findByUsername("anyone"))
              expect(error._tag).toBe("ProviderUnavailable")
              expect(error.reason).toBe("timeout")
              expect(Date.now() - started).toBeLessThan(2_000)
              yield* Effect.promise(() => proxy.restore())
              expect(Option.isNone(yield* untilOk(repository.findByUsername("anyone")))).toBe(true)
            })
          )
        )
      }
    })
  })
}

const untilOk = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 100; i++) {
      const result = yield* Effect.either(effect)
      if (result._tag === "Right") return result.right
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.dieMessage("the database did not come back within 10 seconds")
  })
