import {
  AuthError,
  Authenticated,
  Authenticator,
  GrantStore,
  Guard,
  Identity,
  Policy,
  Principal
} from "@effect-auth/core"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"

const model: GrantStore.Model = {
  principals: {
    alice: { groups: ["staff"], permissions: ["!documents.delete"] },
    bob: { roles: ["viewer"] },
    root: { roles: ["admin"] }
  },
  groups: { staff: { roles: ["editor"] } },
  roles: {
    admin: { permissions: ["*", "!billing.*"] },
    editor: { permissions: ["documents.*"], inherits: ["viewer"] },
    viewer: { permissions: ["reports.read"] }
  }
}

const aliceGrants: GrantStore.EffectiveGrants = {
  groups: ["staff"],
  roles: ["editor", "viewer"],
  permissions: ["documents.*", "reports.read", "!documents.delete"]
}

/** The model after alice was moved out of staff and lost her grants. */
const revoked: GrantStore.Model = { ...model, principals: { ...model.principals, alice: { groups: ["former-staff"] } } }

const revokedGrants: GrantStore.EffectiveGrants = { groups: ["former-staff"], roles: [], permissions: [] }

const outage = new AuthError.ProviderUnavailable({ reason: "unreachable", provider: "grant-store" })

/**
 * A memory store that records every load, can be given a new model, and can be taken down: loads fail
 * with `ProviderUnavailable` while it is down, as a store whose database is unreachable does.
 */
const observed = (initial: GrantStore.Model, options?: { readonly delay?: `${number} millis` }) => {
  const state = { model: initial, down: false, loads: [] as Array<string> }
  const store: GrantStore.GrantStore = {
    load: (principalId) =>
      Effect.suspend(() => {
        state.loads.push(principalId)
        const load = state.down ? Effect.fail(outage) : GrantStore.makeMemory(state.model).load(principalId)
        return options?.delay === undefined ? load : Effect.delay(load, options.delay)
      }),
    invalidate: () => Effect.void,
    invalidateAll: Effect.void
  }
  return { state, store }
}

/** Lets forked readers run until the store has been asked `count` loads in all. */
const untilLoads = (state: { readonly loads: ReadonlyArray<string> }, count: number) =>
  Effect.repeat(Effect.yieldNow(), { until: () => state.loads.length >= count })

const providersOver = (store: GrantStore.GrantStore) =>
  GrantStore.layerProviders.pipe(Layer.provide(Layer.succeed(GrantStore.GrantStore, store)))

const identity = (id: string) => Identity.make({ id, kind: "user", provider: "test", claims: { groups: ["claims"] } })

const as =
  (principal: Principal.Principal) =>
  <A, E>(guard: Effect.Effect<A, E, Authenticated.Authenticated>): Effect.Effect<A, E> =>
    Effect.provide(guard, Authenticated.layer(principal))

describe("GrantStore.layerProviders", () => {
  it.effect("one request reading groups, roles and permissions in turn loads once", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model)
      const alice = yield* Effect.provide(Principal.make(identity("alice")), providersOver(store))
      expect(yield* alice.groups).toStrictEqual(aliceGrants.groups)
      expect(yield* alice.roles).toStrictEqual(aliceGrants.roles)
      expect(yield* alice.permissions).toStrictEqual(aliceGrants.permissions)
      expect(yield* alice.groups).toStrictEqual(aliceGrants.groups)
      expect(state.loads).toStrictEqual(["alice"])
    })
  )

  it.effect("concurrent readers (Principal.describe) share one slow load", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model, { delay: "50 millis" })
      const alice = yield* Effect.provide(Principal.make(identity("alice")), providersOver(store))
      const fiber = yield* Effect.fork(
        Effect.all([Principal.describe(alice), Principal.describe(alice)], { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("50 millis")
      const [first, second] = yield* Fiber.join(fiber)
      expect(first).toMatchObject(aliceGrants)
      expect(second).toStrictEqual(first)
      expect(state.loads).toStrictEqual(["alice"])
    })
  )

  it.effect("a request that reads no grant loads nothing", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model)
      const alice = yield* Effect.provide(Principal.make(identity("alice")), providersOver(store))
      expect((yield* as(alice)(Guard.requireUser())).id).toBe("alice")
      expect(yield* as(alice)(Guard.requirePolicy(Policy.predicate((p) => p.id === "alice")))).toBe(alice)
      expect(state.loads).toStrictEqual([])
    })
  )

  it.effect("each request loads its own grants, also when a provider reuses one identity object", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model)
      const sources = yield* Effect.provide(Principal.grantSources, providersOver(store))
      const fixed = identity("alice")

      const first = yield* Principal.fromIdentity(fixed, sources)
      expect(yield* Principal.describe(first)).toMatchObject(aliceGrants)
      expect(state.loads).toStrictEqual(["alice"])

      // The grants changed between the requests: the second request must not answer the first one's.
      state.model = { ...model, principals: { ...model.principals, alice: { groups: ["former-staff"] } } }
      const second = yield* Principal.fromIdentity(fixed, sources)
      expect(yield* Principal.describe(second)).toMatchObject({ groups: ["former-staff"], roles: [], permissions: [] })
      expect(state.loads).toStrictEqual(["alice", "alice"])

      const bob = yield* Principal.fromIdentity(identity("bob"), sources)
      expect(yield* bob.roles).toStrictEqual(["viewer"])
      expect(state.loads).toStrictEqual(["alice", "alice", "bob"])
    })
  )

  it.effect("a later request reusing the identity object never reads an earlier request's load", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model)
      const cache = yield* GrantStore.cached(store, { timeToLive: "1 hour" })
      const sources = yield* Effect.provide(Principal.grantSources, providersOver(cache))
      const fixed = identity("alice")

      // The first request reads only groups; the second reads permissions after a revocation.
      const first = yield* Principal.fromIdentity(fixed, sources)
      expect(yield* first.groups).toStrictEqual(aliceGrants.groups)
      state.model = revoked
      yield* cache.invalidate("alice")

      const second = yield* Principal.fromIdentity(fixed, sources)
      expect(yield* second.permissions).toStrictEqual([])
      expect(yield* second.roles).toStrictEqual([])
      expect(state.loads).toStrictEqual(["alice", "alice"])
    })
  )

  it.effect("Authenticator.layerDisabled's fixed identity loads fresh grants for every request", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model)
      const authenticator = yield* Effect.provide(
        Authenticator.Authenticator,
        Authenticator.layerDisabled(identity("alice")).pipe(Layer.provide(providersOver(store)))
      ).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["NODE_ENV", "development"]]))))

      const first = yield* authenticator.authenticate({})
      expect(yield* first.groups).toStrictEqual(aliceGrants.groups)
      state.model = revoked
      const second = yield* authenticator.authenticate({})
      expect(yield* second.permissions).toStrictEqual([])
      // Within one request the three kinds still share one load.
      expect(yield* second.groups).toStrictEqual(revokedGrants.groups)
      expect(state.loads).toStrictEqual(["alice", "alice"])
    })
  )

  it.effect("a failed load is not kept for a later request reusing the identity object", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model)
      const sources = yield* Effect.provide(Principal.grantSources, providersOver(store))
      const fixed = identity("alice")

      state.down = true
      const during = yield* Principal.fromIdentity(fixed, sources)
      expect(yield* Effect.flip(during.groups)).toStrictEqual(outage)

      state.down = false
      const after = yield* Principal.fromIdentity(fixed, sources)
      expect(yield* after.permissions).toStrictEqual(aliceGrants.permissions)
      expect(state.loads).toStrictEqual(["alice", "alice"])
    })
  )

  it.effect("grants come from the store, not the token's claims, keyed on the identity's id", () =>
    Effect.gen(function* () {
      const { store } = observed(model)
      const stranger = yield* Effect.provide(Principal.make(identity("mallory")), providersOver(store))
      expect(yield* Principal.describe(stranger)).toMatchObject({ groups: [], roles: [], permissions: [] })
    })
  )

  it.effect("a store failure reaches the guard as ProviderUnavailable (503), never a refusal or a pass", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model)
      state.down = true
      const layer = providersOver(store)
      const alice = yield* Effect.provide(Principal.make(identity("alice")), layer)
      for (const guard of [
        Guard.requirePermissions(["documents.read"]),
        Guard.requireGroups(["staff"]),
        Guard.requireRoles(["editor"])
      ]) {
        const error = yield* Effect.flip(as(alice)(guard))
        expect(error).toMatchObject({ _tag: "ProviderUnavailable", reason: "unreachable", provider: "grant-store" })
      }

      // The store is back: the next request is answered from it.
      state.down = false
      const next = yield* Effect.provide(Principal.make(identity("alice")), layer)
      expect((yield* as(next)(Guard.requirePermissions(["documents.read"]))).id).toBe("alice")
    })
  )
})

describe("Guard.requirePermissions over a grant store", () => {
  const principal = (id: string) => Effect.provide(Principal.make(identity(id)), GrantStore.layerMemory(model))

  it.effect("a role's wildcard grants what it matches, the principal's deny refuses it", () =>
    Effect.gen(function* () {
      const alice = yield* principal("alice")
      expect((yield* as(alice)(Guard.requirePermissions(["documents.read"]))).id).toBe("alice")
      expect(
        (yield* as(alice)(Guard.requirePermissions(["documents.read.own", "reports.read"], { all: true }))).id
      ).toBe("alice")
      const denied = yield* Effect.flip(as(alice)(Guard.requirePermissions(["documents.delete"])))
      expect(denied).toMatchObject({ _tag: "Forbidden", reason: "missing-permissions", required: ["documents.delete"] })
      // All-of fails when one of them is denied; any-of passes on the other.
      const allOf = yield* Effect.flip(
        as(alice)(Guard.requirePermissions(["documents.read", "documents.delete"], { all: true }))
      )
      expect(allOf).toMatchObject({ _tag: "Forbidden", reason: "missing-permissions" })
      expect((yield* as(alice)(Guard.requirePermissions(["documents.delete", "documents.read"]))).id).toBe("alice")
    })
  )

  it.effect("`*` grants everything but what a wildcard deny matches; groups and roles stay exact", () =>
    Effect.gen(function* () {
      const root = yield* principal("root")
      expect((yield* as(root)(Guard.requirePermissions(["anything.at.all"]))).id).toBe("root")
      const denied = yield* Effect.flip(as(root)(Guard.requirePermissions(["billing.refund"])))
      expect(denied).toMatchObject({ _tag: "Forbidden", reason: "missing-permissions" })
      const roles = yield* Effect.flip(as(root)(Guard.requireRoles(["adm*"])))
      expect(roles).toMatchObject({ _tag: "Forbidden", reason: "missing-roles" })
      expect((yield* as(root)(Guard.requireRoles(["admin"]))).id).toBe("root")
    })
  )

  it.effect("layerMemory also provides the store", () =>
    Effect.gen(function* () {
      const store = yield* Effect.provide(GrantStore.GrantStore, GrantStore.layerMemory(model))
      expect(yield* store.load("alice")).toStrictEqual(aliceGrants)
    })
  )
})

describe("GrantStore.cached", () => {
  it.effect("serves loaded grants for the time to live, then loads again", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model)
      const cache = yield* GrantStore.cached(store, { timeToLive: "1 minute" })
      expect(yield* cache.load("alice")).toStrictEqual(aliceGrants)

      state.model = { principals: { alice: { groups: ["former-staff"] } } }
      yield* TestClock.adjust("59 seconds")
      expect(yield* cache.load("alice")).toStrictEqual(aliceGrants)
      expect(state.loads).toStrictEqual(["alice"])

      yield* TestClock.adjust("2 seconds")
      expect(yield* cache.load("alice")).toStrictEqual({ groups: ["former-staff"], roles: [], permissions: [] })
      expect(state.loads).toStrictEqual(["alice", "alice"])
    })
  )

  it.effect("invalidate reloads one principal, invalidateAll every principal", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model)
      const cache = yield* GrantStore.cached(store, { timeToLive: "1 hour" })
      yield* cache.load("alice")
      yield* cache.load("bob")
      state.model = { principals: { alice: { roles: ["a2"] }, bob: { roles: ["b2"] } } }

      yield* cache.invalidate("alice")
      expect((yield* cache.load("alice")).roles).toStrictEqual(["a2"])
      expect((yield* cache.load("bob")).roles).toStrictEqual(["viewer"])
      expect(state.loads).toStrictEqual(["alice", "bob", "alice"])

      yield* cache.invalidateAll
      expect((yield* cache.load("bob")).roles).toStrictEqual(["b2"])
      yield* cache.load("alice")
      expect(state.loads).toStrictEqual(["alice", "bob", "alice", "bob", "alice"])
    })
  )

  it.effect("invalidate during an in-flight load wins: the finished load is not cached", () =>
    Effect.gen(function* () {
      // The store reads its model when the load starts and answers 50 ms later.
      const { state, store } = observed(model, { delay: "50 millis" })
      const cache = yield* GrantStore.cached(store, { timeToLive: "1 hour" })
      const inFlight = yield* Effect.fork(cache.load("alice"))
      yield* untilLoads(state, 1)

      state.model = revoked
      yield* cache.invalidate("alice")
      yield* TestClock.adjust("50 millis")
      // The reader that was already waiting gets the load it joined ...
      expect(yield* Fiber.join(inFlight)).toStrictEqual(aliceGrants)
      // ... but the next one never sees it again.
      const next = yield* Effect.fork(cache.load("alice"))
      yield* TestClock.adjust("50 millis")
      expect(yield* Fiber.join(next)).toStrictEqual(revokedGrants)
      expect(yield* cache.load("alice")).toStrictEqual(revokedGrants)
      expect(state.loads).toStrictEqual(["alice", "alice"])
    })
  )

  it.effect("invalidateAll during in-flight loads wins too", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model, { delay: "50 millis" })
      const cache = yield* GrantStore.cached(store, { timeToLive: "1 hour" })
      const inFlight = yield* Effect.fork(Effect.all([cache.load("alice"), cache.load("bob")], { concurrency: 2 }))
      yield* untilLoads(state, 2)

      state.model = { principals: { alice: { roles: ["a2"] }, bob: { roles: ["b2"] } } }
      yield* cache.invalidateAll
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(inFlight)

      const next = yield* Effect.fork(Effect.all([cache.load("alice"), cache.load("bob")], { concurrency: 2 }))
      yield* TestClock.adjust("50 millis")
      const [alice, bob] = yield* Fiber.join(next)
      expect([alice.roles, bob.roles]).toStrictEqual([["a2"], ["b2"]])
      expect(state.loads).toHaveLength(4)
    })
  )

  it.effect("a load started after invalidate does not join the load in flight before it", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model, { delay: "50 millis" })
      const cache = yield* GrantStore.cached(store, { timeToLive: "1 hour" })
      const before = yield* Effect.fork(cache.load("alice"))
      yield* untilLoads(state, 1)
      state.model = revoked
      yield* cache.invalidate("alice")
      const after = yield* Effect.fork(cache.load("alice"))
      yield* untilLoads(state, 2)
      yield* TestClock.adjust("50 millis")
      expect(yield* Fiber.join(before)).toStrictEqual(aliceGrants)
      expect(yield* Fiber.join(after)).toStrictEqual(revokedGrants)
      expect(yield* cache.load("alice")).toStrictEqual(revokedGrants)
      expect(state.loads).toStrictEqual(["alice", "alice"])
    })
  )

  it.effect("a reader that stops waiting does not cancel the load others wait for", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model, { delay: "50 millis" })
      const cache = yield* GrantStore.cached(store, { timeToLive: "1 hour" })
      const impatient = yield* Effect.fork(Effect.timeout(cache.load("alice"), "10 millis"))
      const patient = yield* Effect.fork(cache.load("alice"))
      yield* TestClock.adjust("10 millis")
      expect((yield* Effect.flip(Fiber.join(impatient)))._tag).toBe("TimeoutException")
      yield* TestClock.adjust("40 millis")
      expect(yield* Fiber.join(patient)).toStrictEqual(aliceGrants)
      expect(yield* cache.load("alice")).toStrictEqual(aliceGrants)
      expect(state.loads).toStrictEqual(["alice"])
    })
  )

  it.effect("a failure is answered but never cached: the next load after recovery succeeds", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model)
      const cache = yield* GrantStore.cached(store, { timeToLive: "1 hour" })
      state.down = true
      expect(yield* Effect.flip(cache.load("alice"))).toStrictEqual(outage)
      expect(yield* Effect.flip(cache.load("alice"))).toStrictEqual(outage)

      // No time passes (TestClock): only forgetting the failure lets the recovered store answer.
      state.down = false
      expect(yield* cache.load("alice")).toStrictEqual(aliceGrants)
      expect(state.loads).toStrictEqual(["alice", "alice", "alice"])

      // And the success is cached as usual.
      state.down = true
      expect(yield* cache.load("alice")).toStrictEqual(aliceGrants)
      expect(state.loads).toHaveLength(3)
    })
  )

  it.effect("a failure reaches the guard through cached providers and is not remembered", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model)
      const cache = yield* GrantStore.cached(store, { timeToLive: "1 hour" })
      const layer = providersOver(cache)
      state.down = true
      const during = yield* Effect.provide(Principal.make(identity("alice")), layer)
      const error = yield* Effect.flip(as(during)(Guard.requirePermissions(["documents.read"])))
      expect(error).toMatchObject({ _tag: "ProviderUnavailable", reason: "unreachable" })

      state.down = false
      const after = yield* Effect.provide(Principal.make(identity("alice")), layer)
      expect((yield* as(after)(Guard.requirePermissions(["documents.read"]))).id).toBe("alice")
    })
  )

  it.effect("concurrent loads of one principal share one store load", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model, { delay: "10 millis" })
      const cache = yield* GrantStore.cached(store, { timeToLive: "1 minute" })
      const fiber = yield* Effect.fork(
        Effect.all(
          Array.from({ length: 5 }, () => cache.load("alice")),
          { concurrency: 5 }
        )
      )
      yield* TestClock.adjust("10 millis")
      expect(yield* Fiber.join(fiber)).toStrictEqual(Array.from({ length: 5 }, () => aliceGrants))
      expect(state.loads).toStrictEqual(["alice"])
    })
  )

  it.effect("keeps at most `capacity` principals, dropping the least recently used", () =>
    Effect.gen(function* () {
      const { state, store } = observed(model)
      const cache = yield* GrantStore.cached(store, { timeToLive: "1 hour", capacity: 2 })
      yield* cache.load("alice")
      yield* cache.load("bob")
      yield* cache.load("root")
      expect(state.loads).toStrictEqual(["alice", "bob", "root"])

      // bob and root are still cached; alice was dropped to make room.
      yield* cache.load("root")
      yield* cache.load("bob")
      expect(state.loads).toStrictEqual(["alice", "bob", "root"])
      yield* cache.load("alice")
      expect(state.loads).toStrictEqual(["alice", "bob", "root", "alice"])
    })
  )

  it.effect("refuses a capacity that is not a positive integer", () =>
    Effect.gen(function* () {
      for (const capacity of [0, -1, 1.5, Number.NaN]) {
        const exit = yield* Effect.exit(
          GrantStore.cached(GrantStore.makeMemory(model), { timeToLive: "1 minute", capacity })
        )
        expect(exit._tag, String(capacity)).toBe("Failure")
      }
    })
  )
})

describe("GrantStore.resolve", () => {
  it("a long chain stops at the default depth of 8", () => {
    const roles = Object.fromEntries(
      Array.from({ length: 1000 }, (_, i) => [`r${i}`, { permissions: [`level.${i}`], inherits: [`r${i + 1}`] }])
    )
    const grants = GrantStore.resolve({ principals: { alice: { roles: ["r0"] } }, roles }, "alice")
    expect(grants.roles).toHaveLength(GrantStore.defaultMaxDepth + 1)
    expect(grants.roles).toContain("r8")
    expect(grants.roles).not.toContain("r9")
  })

  it("cycles terminate even without a depth bound", () => {
    const size = 500
    const roles = Object.fromEntries(
      Array.from({ length: size }, (_, i) => [
        `r${i}`,
        { permissions: [`p.${i}`], inherits: [`r${(i + 1) % size}`, "r0"] }
      ])
    )
    const grants = GrantStore.resolve({ principals: { alice: { roles: ["r7"] } }, roles }, "alice", {
      maxDepth: Number.POSITIVE_INFINITY
    })
    expect(grants.roles).toHaveLength(size)
    expect(grants.permissions).toHaveLength(size)
  })

  it("a malformed maxDepth follows no inheritance (fail closed)", () => {
    const grants = GrantStore.resolve(model, "bob", { maxDepth: Number.NaN })
    expect(grants.roles).toStrictEqual(["viewer"])
    expect(GrantStore.resolve(model, "alice", { maxDepth: -3 }).roles).toStrictEqual(["editor"])
  })
})
