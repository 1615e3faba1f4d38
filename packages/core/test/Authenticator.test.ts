import {
  AuthError,
  Authenticator,
  type AuthProvider,
  Credential,
  GroupsProvider,
  Identity,
  RolesProvider
} from "@effect-auth/core"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { Buffer } from "node:buffer"

const TOKEN = "good-token-0123456789"

/** Accepts Bearer credentials; authenticates only `token`, as the identity `id`. */
const bearerProvider = (
  options: { readonly name?: string; readonly token?: string; readonly realm?: string } = {}
): AuthProvider.AuthProvider & { readonly calls: { authenticate: number } } => {
  const calls = { authenticate: 0 }
  const name = options.name ?? "static"
  return {
    name,
    calls,
    accepts: Credential.is("Bearer"),
    authenticate: (credential) =>
      Effect.suspend(() => {
        calls.authenticate++
        return credential._tag === "Bearer" && Redacted.value(credential.token) === (options.token ?? TOKEN)
          ? Effect.succeed(
              Identity.make({ id: `${name}-user`, kind: "user", provider: name, claims: { groups: ["from-token"] } })
            )
          : Effect.fail(new AuthError.InvalidCredentials({ reason: "rejected", scheme: "Bearer" }))
      }),
    challenge: { scheme: "Bearer", realm: options.realm ?? "api" }
  }
}

const apiKeyProvider: AuthProvider.AuthProvider = {
  name: "api-key",
  accepts: Credential.is("ApiKey"),
  authenticate: (credential) =>
    credential._tag === "ApiKey" && Redacted.value(credential.key) === "ak_1"
      ? Effect.succeed(Identity.make({ id: "service", kind: "machine", provider: "api-key" }))
      : Effect.fail(new AuthError.InvalidCredentials({ reason: "rejected", scheme: "ApiKey" })),
  challenge: { scheme: "ApiKey" }
}

const basicHeader = `Basic ${Buffer.from("alice:pw").toString("base64")}`

describe("Authenticator.make", () => {
  it.effect("authenticates a request from its headers", () =>
    Effect.gen(function* () {
      const authenticator = yield* Authenticator.make({ providers: [bearerProvider()] })
      const principal = yield* authenticator.authenticate({ authorization: `Bearer ${TOKEN}` })
      expect(principal).toMatchObject({ id: "static-user", kind: "user", provider: "static" })
      expect(yield* principal.groups).toStrictEqual(["from-token"])
    })
  )

  it.effect("passes a provider's refusal through", () =>
    Effect.gen(function* () {
      const authenticator = yield* Authenticator.make({ providers: [bearerProvider()] })
      const error = yield* Effect.flip(authenticator.authenticate({ authorization: "Bearer wrong-token" }))
      expect(error).toMatchObject({ _tag: "InvalidCredentials", reason: "rejected" })
    })
  )

  it.effect("fails on unreadable headers before any provider runs", () =>
    Effect.gen(function* () {
      const provider = bearerProvider()
      const authenticator = yield* Authenticator.make({ providers: [provider] })
      const missing = yield* Effect.flip(authenticator.authenticate({}))
      expect(missing).toMatchObject({ _tag: "MissingCredentials", reason: "absent" })
      const malformed = yield* Effect.flip(authenticator.authenticate({ authorization: ["Bearer a", "Bearer b"] }))
      expect(malformed).toMatchObject({ _tag: "InvalidCredentials", reason: "multiple-headers" })
      expect(provider.calls.authenticate).toBe(0)
    })
  )

  it.effect("with no providers refuses everything (fail closed)", () =>
    Effect.gen(function* () {
      const authenticator = yield* Authenticator.make({ providers: [] })
      expect(authenticator.challenges).toStrictEqual([])

      for (const headers of [
        { authorization: `Bearer ${TOKEN}` },
        { authorization: basicHeader },
        { "x-api-key": "ak_1" }
      ]) {
        const error = yield* Effect.flip(authenticator.authenticate(headers))
        expect(error).toMatchObject({ _tag: "InvalidCredentials", reason: "unsupported-scheme" })
      }
      const none = yield* Effect.flip(authenticator.authenticate({}))
      expect(none).toMatchObject({ _tag: "MissingCredentials", reason: "absent" })

      const direct = yield* Effect.flip(
        authenticator.authenticateCredential(Credential.Bearer({ token: Redacted.make(TOKEN) }))
      )
      expect(direct).toMatchObject({ _tag: "InvalidCredentials", reason: "unsupported-scheme", scheme: "Bearer" })
    })
  )

  it.effect("refuses a credential no configured provider accepts", () =>
    Effect.gen(function* () {
      const authenticator = yield* Authenticator.make({ providers: [bearerProvider()] })
      const error = yield* Effect.flip(authenticator.authenticate({ authorization: basicHeader }))
      expect(error).toMatchObject({ _tag: "InvalidCredentials", reason: "unsupported-scheme", scheme: "Basic" })
    })
  )

  it.effect("the first accepting provider decides, even when it refuses", () =>
    Effect.gen(function* () {
      const first = bearerProvider({ name: "first", token: "first-token" })
      const second = bearerProvider({ name: "second", token: "second-token" })
      const authenticator = yield* Authenticator.make({ providers: [first, second] })

      const principal = yield* authenticator.authenticate({ authorization: "Bearer first-token" })
      expect(principal.provider).toBe("first")

      // The second provider would accept this token, but the first accepting provider decides.
      const error = yield* Effect.flip(authenticator.authenticate({ authorization: "Bearer second-token" }))
      expect(error).toMatchObject({ _tag: "InvalidCredentials", reason: "rejected" })
      expect(first.calls.authenticate).toBe(2)
      expect(second.calls.authenticate).toBe(0)
    })
  )

  it.effect("providers that do not accept a credential are skipped", () =>
    Effect.gen(function* () {
      const bearer = bearerProvider()
      const authenticator = yield* Authenticator.make({ providers: [apiKeyProvider, bearer] })
      expect((yield* authenticator.authenticate({ authorization: `Bearer ${TOKEN}` })).provider).toBe("static")
      const service = yield* authenticator.authenticate({ "x-api-key": "ak_1" })
      expect(service).toMatchObject({ id: "service", kind: "machine", provider: "api-key" })
      expect(bearer.calls.authenticate).toBe(1)
    })
  )

  it.effect("authenticateCredential takes a credential already read", () =>
    Effect.gen(function* () {
      const authenticator = yield* Authenticator.make({ providers: [bearerProvider()] })
      const principal = yield* authenticator.authenticateCredential(Credential.Bearer({ token: Redacted.make(TOKEN) }))
      expect(principal.id).toBe("static-user")
    })
  )

  it.effect("challenges list each scheme and realm once, in provider order", () =>
    Effect.gen(function* () {
      const authenticator = yield* Authenticator.make({
        providers: [
          bearerProvider({ realm: "api" }),
          apiKeyProvider,
          bearerProvider({ name: "other", realm: "api" }),
          bearerProvider({ realm: "admin" }),
          apiKeyProvider
        ]
      })
      expect(authenticator.challenges).toStrictEqual([
        { scheme: "Bearer", realm: "api" },
        { scheme: "ApiKey" },
        { scheme: "Bearer", realm: "admin" }
      ])
    })
  )

  it.effect("credential options are applied when reading headers", () =>
    Effect.gen(function* () {
      const authenticator = yield* Authenticator.make({
        providers: [apiKeyProvider],
        credentials: { apiKeyHeader: "x-service-key", maxHeaderBytes: 64 }
      })
      expect((yield* authenticator.authenticate({ "x-service-key": "ak_1" })).id).toBe("service")
      const ignored = yield* Effect.flip(authenticator.authenticate({ "x-api-key": "ak_1" }))
      expect(ignored).toMatchObject({ _tag: "MissingCredentials", reason: "absent" })
      const tooLarge = yield* Effect.flip(authenticator.authenticate({ "x-service-key": "k".repeat(65) }))
      expect(tooLarge).toMatchObject({ _tag: "InvalidCredentials", reason: "too-large" })
    })
  )

  it.effect("each request gets its own principal", () =>
    Effect.gen(function* () {
      let lookups = 0
      const authenticator = yield* Authenticator.make({ providers: [bearerProvider()] }).pipe(
        Effect.provideService(GroupsProvider.GroupsProvider, {
          lookup: () =>
            Effect.sync(() => {
              lookups++
              return [`lookup-${lookups}`]
            })
        })
      )
      const first = yield* authenticator.authenticate({ authorization: `Bearer ${TOKEN}` })
      const second = yield* authenticator.authenticate({ authorization: `Bearer ${TOKEN}` })
      expect(yield* first.groups).toStrictEqual(["lookup-1"])
      expect(yield* first.groups).toStrictEqual(["lookup-1"])
      expect(yield* second.groups).toStrictEqual(["lookup-2"])
    })
  )
})

class TokenStore extends Context.Tag("test/TokenStore")<TokenStore, { readonly token: string }>() {}

describe("Authenticator.layer", () => {
  it.effect("builds from providers given as effects", () =>
    Effect.gen(function* () {
      const authenticator = yield* Authenticator.Authenticator.pipe(
        Effect.provide(Authenticator.layer([Effect.succeed(bearerProvider())]))
      )
      const principal = yield* authenticator.authenticate({ authorization: `Bearer ${TOKEN}` })
      expect(principal.id).toBe("static-user")
      expect(authenticator.challenges).toStrictEqual([{ scheme: "Bearer", realm: "api" }])
    })
  )

  it.effect("providers may need services, supplied to the layer", () =>
    Effect.gen(function* () {
      const provider = Effect.map(TokenStore, (store) => bearerProvider({ name: "stored", token: store.token }))
      const live = Authenticator.layer([provider]).pipe(Layer.provide(Layer.succeed(TokenStore, { token: "t-42" })))
      const authenticator = yield* Effect.provide(Authenticator.Authenticator, live)
      expect((yield* authenticator.authenticate({ authorization: "Bearer t-42" })).provider).toBe("stored")
    })
  )

  it.effect("a provider that fails to build fails the layer", () =>
    Effect.gen(function* () {
      const broken = Effect.fail("no signing keys" as const)
      const error = yield* Effect.flip(
        Effect.provide(Authenticator.Authenticator, Authenticator.layer([Effect.succeed(bearerProvider()), broken]))
      )
      expect(error).toBe("no signing keys")
    })
  )

  it.effect("grant providers come from the context the layer is built in", () =>
    Effect.gen(function* () {
      const headers = { authorization: `Bearer ${TOKEN}` }
      const live = Authenticator.layer([Effect.succeed(bearerProvider())])

      const withClaims = yield* Effect.provide(Authenticator.Authenticator, live)
      expect(yield* (yield* withClaims.authenticate(headers)).groups).toStrictEqual(["from-token"])

      const withStatic = yield* Effect.provide(
        Authenticator.Authenticator,
        live.pipe(
          Layer.provide(
            Layer.merge(
              GroupsProvider.layerStatic({ "static-user": ["admins"] }),
              RolesProvider.layerStatic({ "static-user": ["owner"] })
            )
          )
        )
      )
      const principal = yield* withStatic.authenticate(headers)
      expect(yield* principal.groups).toStrictEqual(["admins"])
      expect(yield* principal.roles).toStrictEqual(["owner"])
    })
  )

  it.effect("grant providers in context at request time do not replace those resolved at build", () =>
    Effect.gen(function* () {
      const authenticator = yield* Effect.provide(
        Authenticator.Authenticator,
        Authenticator.layer([Effect.succeed(bearerProvider())]).pipe(
          Layer.provide(GroupsProvider.layerStatic({ "static-user": ["admins"] }))
        )
      )
      const principal = yield* authenticator
        .authenticate({ authorization: `Bearer ${TOKEN}` })
        .pipe(Effect.provide(GroupsProvider.layerStatic({ "static-user": ["injected"] })))
      expect(
        yield* principal.groups.pipe(Effect.provide(GroupsProvider.layerStatic({ "static-user": ["late"] })))
      ).toStrictEqual(["admins"])
    })
  )
})

describe("Authenticator synchronous lane", () => {
  /** A provider whose synchronous lane decides `now` tokens and leaves every other token to `authenticate`. */
  const laneProvider = () => {
    const calls = { now: 0, authenticate: 0, times: [] as Array<number> }
    const identity = (lane: string) => Identity.make({ id: `${lane}-user`, kind: "user", provider: "lane" })
    const provider: AuthProvider.AuthProvider = {
      name: "lane",
      accepts: Credential.is("Bearer"),
      challenge: { scheme: "Bearer" },
      authenticateNow: (credential, nowMillis) => {
        calls.now++
        calls.times.push(nowMillis)
        if (credential._tag !== "Bearer") return undefined
        const token = Redacted.value(credential.token)
        if (token === "now-good-token-0123") return Either.right(identity("now"))
        if (token === "now-bad-token-01234") {
          return Either.left(new AuthError.InvalidCredentials({ reason: "rejected", scheme: "Bearer" }))
        }
        return undefined
      },
      authenticate: (credential) =>
        Effect.suspend(() => {
          calls.authenticate++
          return credential._tag === "Bearer" && Redacted.value(credential.token) === "later-token-0123456"
            ? Effect.succeed(identity("later"))
            : Effect.fail(new AuthError.InvalidCredentials({ reason: "rejected", scheme: "Bearer" }))
        })
    }
    return { provider, calls }
  }

  it.effect("authenticate takes the provider's lane when it decides, and authenticate when it does not", () =>
    Effect.gen(function* () {
      const { calls, provider } = laneProvider()
      const authenticator = yield* Authenticator.make({ providers: [provider] })
      yield* TestClock.setTime(1_750_000_000_000)
      const decided = yield* authenticator.authenticate({ authorization: "Bearer now-good-token-0123" })
      expect(decided.id).toBe("now-user")
      expect(calls).toMatchObject({ now: 1, authenticate: 0 })
      // The lane reads the fiber's Clock, so a TestClock drives both lanes alike.
      expect(calls.times).toEqual([1_750_000_000_000])
      const refused = yield* Effect.flip(authenticator.authenticate({ authorization: "Bearer now-bad-token-01234" }))
      expect(refused._tag).toBe("InvalidCredentials")
      expect(calls.authenticate).toBe(0)
      const later = yield* authenticator.authenticate({ authorization: "Bearer later-token-0123456" })
      expect(later.id).toBe("later-user")
      expect(calls).toMatchObject({ now: 3, authenticate: 1 })
    })
  )

  it.effect("authenticateNow gives the same decisions without a fiber, and undefined when it cannot decide", () =>
    Effect.gen(function* () {
      const { provider } = laneProvider()
      const authenticator = yield* Authenticator.make({ providers: [provider, apiKeyProvider] })
      const now = authenticator.authenticateNow
      if (now === undefined) return yield* Effect.die(new Error("no authenticateNow"))
      const decided = now({ authorization: "Bearer now-good-token-0123" }, 0)
      expect(decided !== undefined && Either.isRight(decided) ? decided.right.id : decided).toBe("now-user")
      const principal = decided !== undefined && Either.isRight(decided) ? decided.right : undefined
      // A real principal: its grants load like any other's.
      expect(principal === undefined ? undefined : yield* principal.groups).toEqual([])
      const refused = now({ authorization: "Bearer now-bad-token-01234" }, 0)
      expect(refused !== undefined && Either.isLeft(refused) ? refused.left._tag : refused).toBe("InvalidCredentials")
      // Parsing and provider selection are decided here too; a provider without a lane is left to authenticate.
      const missing = now({}, 0)
      expect(missing !== undefined && Either.isLeft(missing) ? missing.left._tag : missing).toBe("MissingCredentials")
      expect(now({ authorization: "Bearer later-token-0123456" }, 0)).toBeUndefined()
      expect(now({ "x-api-key": "ak_1" }, 0)).toBeUndefined()
    })
  )

  it.effect("once the layer's scope closes, the lane stops answering", () =>
    Effect.gen(function* () {
      const { provider } = laneProvider()
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Authenticator.layer([Effect.succeed(provider)]), scope)
      const authenticator = Context.get(context, Authenticator.Authenticator)
      const headers = { authorization: "Bearer now-good-token-0123" }
      expect(authenticator.authenticateNow?.(headers, 0)).toBeDefined()
      yield* Scope.close(scope, Exit.void)
      expect(authenticator.authenticateNow?.(headers, 0)).toBeUndefined()
    })
  )
})
