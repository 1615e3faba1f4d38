import {
  AuthError,
  Authenticator,
  BasicAuth,
  Credential,
  CredentialsRepository,
  PasswordHasher,
  Principal
} from "@effect-auth/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"

const basic = (username: string, password: string): Credential.Headers => ({
  authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`
})

/** Users whose hashes are made by the `PasswordHasher` in context. */
const Users = Layer.unwrapEffect(
  Effect.gen(function* () {
    const hasher = yield* PasswordHasher.PasswordHasher
    return CredentialsRepository.layerMemory([
      {
        username: "alice",
        passwordHash: yield* hasher.hash(Redacted.make("alice-secret")),
        id: "user-1",
        name: "Alice Liddell",
        email: "alice@example.com",
        groups: ["admin", "ops"],
        roles: ["editor"],
        permissions: ["posts:write"],
        claims: { department: "wonderland", groups: ["overridden"] }
      },
      { username: "bob", passwordHash: yield* hasher.hash(Redacted.make("bob-secret")) }
    ])
  })
)

const Fast = PasswordHasher.layer({ ln: 10 })

const AuthLive = (options?: BasicAuth.Options) =>
  Authenticator.layer([BasicAuth.provider(options)]).pipe(Layer.provide(Users), Layer.provide(Fast))

interface Counts {
  readonly verify: Ref.Ref<number>
  readonly dummyVerify: Ref.Ref<number>
}

/** A real PasswordHasher that delegates to the one in context and counts what it is asked to do. */
const counting = (counts: Counts) =>
  Layer.effect(
    PasswordHasher.PasswordHasher,
    Effect.map(PasswordHasher.PasswordHasher, (base) =>
      PasswordHasher.PasswordHasher.of({
        ...base,
        verify: (password, hash) =>
          Effect.zipRight(
            Ref.update(counts.verify, (n) => n + 1),
            base.verify(password, hash)
          ),
        dummyVerify: (password) =>
          Effect.zipRight(
            Ref.update(counts.dummyVerify, (n) => n + 1),
            base.dummyVerify(password)
          )
      })
    )
  )

/** An authenticator over a counting hasher, and the counts. */
const countingAuthenticator = (hasherOptions: PasswordHasher.Options = { ln: 10 }) =>
  Effect.gen(function* () {
    const counts: Counts = { verify: yield* Ref.make(0), dummyVerify: yield* Ref.make(0) }
    const hasher = PasswordHasher.layer(hasherOptions)
    const authenticator = yield* Authenticator.Authenticator.pipe(
      Effect.provide(
        Authenticator.layer([BasicAuth.provider()]).pipe(
          Layer.provide(Users),
          Layer.provide(counting(counts).pipe(Layer.provide(hasher)))
        )
      )
    )
    const reset = Effect.zipRight(Ref.set(counts.verify, 0), Ref.set(counts.dummyVerify, 0))
    const read = Effect.all({ verify: Ref.get(counts.verify), dummyVerify: Ref.get(counts.dummyVerify) })
    return { authenticator, reset, read }
  })

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

describe("BasicAuth", () => {
  it.layer(AuthLive())((it) => {
    it.effect("authenticates a user with the right password", () =>
      Effect.gen(function* () {
        const authenticator = yield* Authenticator.Authenticator
        const principal = yield* authenticator.authenticate(basic("alice", "alice-secret"))
        expect(principal.id).toBe("user-1")
        expect(principal.kind).toBe("user")
        expect(principal.provider).toBe("basic")
        expect(principal.name).toBe("Alice Liddell")
        expect(principal.email).toBe("alice@example.com")
        expect(principal.claims).toEqual({
          department: "wonderland",
          groups: ["admin", "ops"],
          roles: ["editor"],
          permissions: ["posts:write"]
        })
        expect(yield* Principal.describe(principal)).toEqual({
          id: "user-1",
          kind: "user",
          provider: "basic",
          name: "Alice Liddell",
          email: "alice@example.com",
          groups: ["admin", "ops"],
          roles: ["editor"],
          permissions: ["posts:write"]
        })
      })
    )

    it.effect("uses the user name as id when the store has none", () =>
      Effect.gen(function* () {
        const authenticator = yield* Authenticator.Authenticator
        const principal = yield* authenticator.authenticate(basic("bob", "bob-secret"))
        expect(yield* Principal.describe(principal)).toEqual({
          id: "bob",
          kind: "user",
          provider: "basic",
          name: null,
          email: null,
          groups: [],
          roles: [],
          permissions: []
        })
        expect(principal.claims).toEqual({})
      })
    )

    it.effect("answers an unknown user and a wrong password with the same error", () =>
      Effect.gen(function* () {
        const authenticator = yield* Authenticator.Authenticator
        const unknown = yield* Effect.flip(authenticator.authenticate(basic("mallory", "alice-secret")))
        const wrong = yield* Effect.flip(authenticator.authenticate(basic("alice", "not-alice-secret")))
        for (const error of [unknown, wrong]) {
          expect(error._tag).toBe("InvalidCredentials")
          expect(error.reason).toBe("rejected")
          expect(error).toMatchObject({ scheme: "Basic" })
          expect(error.message).not.toMatch(/alice|mallory|secret|user name|username|password/i)
        }
        expect(unknown.message).toBe(wrong.message)
        expect(unknown.toJSON()).toEqual(wrong.toJSON())
      })
    )

    it.effect("refuses an empty password and a user name in another case", () =>
      Effect.gen(function* () {
        const authenticator = yield* Authenticator.Authenticator
        for (const headers of [basic("alice", ""), basic("ALICE", "alice-secret"), basic("alice", "alice-secret ")]) {
          const error = yield* Effect.flip(authenticator.authenticate(headers))
          expect(error._tag).toBe("InvalidCredentials")
          expect(error.reason).toBe("rejected")
        }
      })
    )

    it.effect("does not accept a Bearer credential", () =>
      Effect.gen(function* () {
        const authenticator = yield* Authenticator.Authenticator
        const error = yield* Effect.flip(authenticator.authenticate({ authorization: "Bearer abc.def.ghi" }))
        expect(error._tag).toBe("InvalidCredentials")
        expect(error.reason).toBe("unsupported-scheme")
        expect(authenticator.challenges).toEqual([{ scheme: "Basic", realm: "effect-auth" }])
      })
    )

    it.effect("the provider itself accepts only Basic credentials", () =>
      Effect.gen(function* () {
        const provider = yield* BasicAuth.provider()
        const bearer = Credential.Bearer({ token: Redacted.make("abc") })
        const apiKey = Credential.ApiKey({ key: Redacted.make("k"), header: "x-api-key" })
        expect(provider.accepts(bearer)).toBe(false)
        expect(provider.accepts(apiKey)).toBe(false)
        expect(provider.accepts(Credential.Basic({ username: "alice", password: Redacted.make("x") }))).toBe(true)
        const error = yield* Effect.flip(provider.authenticate(bearer))
        expect(error._tag).toBe("InvalidCredentials")
        expect(error.reason).toBe("unsupported-scheme")
        expect(provider.name).toBe("basic")
        expect(provider.challenge).toEqual({ scheme: "Basic", realm: "effect-auth" })
      }).pipe(Effect.provide(Users), Effect.provide(Fast))
    )
  })

  it.effect("takes a realm and a provider name", () =>
    Effect.gen(function* () {
      const authenticator = yield* Authenticator.Authenticator
      const principal = yield* authenticator.authenticate(basic("bob", "bob-secret"))
      expect(principal.provider).toBe("staff")
      expect(authenticator.challenges).toEqual([{ scheme: "Basic", realm: "Staff area" }])
    }).pipe(Effect.provide(AuthLive({ realm: "Staff area", name: "staff" })))
  )

  it.effect("does one dummy verification for an unknown user, one verification for a known one", () =>
    Effect.gen(function* () {
      const { authenticator, read, reset } = yield* countingAuthenticator()

      yield* Effect.flip(authenticator.authenticate(basic("mallory", "whatever")))
      expect(yield* read).toEqual({ verify: 0, dummyVerify: 1 })

      yield* reset
      yield* Effect.flip(authenticator.authenticate(basic("alice", "wrong")))
      expect(yield* read).toEqual({ verify: 1, dummyVerify: 0 })

      yield* reset
      yield* authenticator.authenticate(basic("alice", "alice-secret"))
      expect(yield* read).toEqual({ verify: 1, dummyVerify: 0 })
    })
  )

  it.effect("refuses an oversized password without hashing it", () =>
    Effect.gen(function* () {
      const { authenticator, read } = yield* countingAuthenticator()
      for (const username of ["alice", "mallory"]) {
        const error = yield* Effect.flip(authenticator.authenticate(basic(username, "x".repeat(1025))))
        expect(error._tag).toBe("InvalidCredentials")
        expect(error.reason).toBe("rejected")
      }
      // Multi-byte characters count in bytes: 400 × 3 bytes is over the limit.
      yield* Effect.flip(authenticator.authenticate(basic("alice", "\u20ac".repeat(400))))
      expect(yield* read).toEqual({ verify: 0, dummyVerify: 0 })
      // 1024 bytes is still accepted for checking.
      yield* Effect.flip(authenticator.authenticate(basic("alice", "x".repeat(1024))))
      expect(yield* read).toEqual({ verify: 1, dummyVerify: 0 })
    })
  )

  it.effect("passes a store outage through as ProviderUnavailable, never as a rejection", () =>
    Effect.gen(function* () {
      const authenticator = yield* Authenticator.Authenticator
      const error = yield* Effect.flip(authenticator.authenticate(basic("alice", "alice-secret")))
      expect(error._tag).toBe("ProviderUnavailable")
      expect(error.reason).toBe("unreachable")
    }).pipe(
      Effect.provide(
        Authenticator.layer([BasicAuth.provider()]).pipe(
          Layer.provide(
            Layer.succeed(CredentialsRepository.CredentialsRepository, {
              findByUsername: () =>
                Effect.fail(new AuthError.ProviderUnavailable({ reason: "unreachable", provider: "users-db" }))
            })
          ),
          Layer.provide(Fast)
        )
      )
    )
  )

  it.live("takes about as long for an unknown user as for a wrong password", () =>
    Effect.gen(function* () {
      // Large enough parameters that hashing, not noise, dominates each attempt.
      const { authenticator } = yield* countingAuthenticator({ ln: 13 })
      const time = (headers: Credential.Headers) =>
        Effect.gen(function* () {
          const started = performance.now()
          yield* Effect.flip(authenticator.authenticate(headers))
          return performance.now() - started
        })
      // Warm up, then interleave the two cases so that load changes affect both alike.
      yield* time(basic("alice", "warm-up"))
      const unknown: Array<number> = []
      const wrong: Array<number> = []
      for (let run = 0; run < 9; run++) {
        unknown.push(yield* time(basic(`mallory-${run}`, "guess")))
        wrong.push(yield* time(basic("alice", `guess-${run}`)))
      }
      const ratio = median(unknown) / median(wrong)
      expect(ratio).toBeGreaterThan(0.5)
      expect(ratio).toBeLessThan(2)
    })
  )
})
