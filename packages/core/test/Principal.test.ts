import { AuthError, GroupsProvider, Identity, PermissionsProvider, Principal, RolesProvider } from "@effect-auth/core"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"

const alice = Identity.make({
  id: "alice",
  kind: "user",
  provider: "test",
  name: "Alice",
  email: "alice@example.com",
  claims: { groups: ["from-claims"], roles: ["claim-role"], scope: "read write", secret: "do-not-echo" }
})

/** A lookup that counts its calls and answers `names`. */
const counting = (names: ReadonlyArray<string>) => {
  const state = { calls: 0 }
  const lookup = (_identity: Identity.Identity) =>
    Effect.sync(() => {
      state.calls++
      return names
    })
  return { lookup, state }
}

describe("Principal lazy grants", () => {
  it.effect("building a principal and never reading its grants looks nothing up", () =>
    Effect.gen(function* () {
      const groups = counting(["g"])
      const roles = counting(["r"])
      const permissions = counting(["p"])
      const principal = yield* Principal.make(alice).pipe(
        Effect.provideService(GroupsProvider.GroupsProvider, { lookup: groups.lookup }),
        Effect.provideService(RolesProvider.RolesProvider, { lookup: roles.lookup }),
        Effect.provideService(PermissionsProvider.PermissionsProvider, { lookup: permissions.lookup })
      )
      expect(principal.id).toBe("alice")
      expect(principal.claims).toStrictEqual(alice.claims)
      expect([groups.state.calls, roles.state.calls, permissions.state.calls]).toStrictEqual([0, 0, 0])
    })
  )

  it.effect("reading groups twice looks them up exactly once", () =>
    Effect.gen(function* () {
      const groups = counting(["g1", "g2"])
      const principal = yield* Principal.make(alice).pipe(
        Effect.provide(Layer.succeed(GroupsProvider.GroupsProvider, { lookup: groups.lookup }))
      )
      expect(yield* principal.groups).toStrictEqual(["g1", "g2"])
      expect(yield* principal.groups).toStrictEqual(["g1", "g2"])
      expect(groups.state.calls).toBe(1)
    })
  )

  it.effect("concurrent readers share one lookup", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const state = { calls: 0, readers: 0 }
      const principal = yield* Principal.fromIdentity(alice, {
        groups: {
          lookup: () => Effect.sync(() => state.calls++).pipe(Effect.zipRight(Deferred.await(gate)), Effect.as(["g"]))
        },
        roles: counting([]),
        permissions: counting([])
      })
      const read = Effect.zipRight(
        Effect.sync(() => state.readers++),
        principal.groups
      )
      const fiber = yield* Effect.fork(Effect.all([read, read, read, read], { concurrency: "unbounded" }))
      // Let every reader start and reach the lookup before the first lookup finishes.
      while (state.readers < 4) yield* Effect.yieldNow()
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      expect(state.calls).toBe(1)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(fiber)).toStrictEqual([["g"], ["g"], ["g"], ["g"]])
      expect(state.calls).toBe(1)
    })
  )

  it.effect("groups, roles and permissions load independently", () =>
    Effect.gen(function* () {
      const groups = counting(["g"])
      const roles = counting(["r"])
      const permissions = counting(["p"])
      const principal = yield* Principal.fromIdentity(alice, { groups, roles, permissions })

      expect(yield* principal.groups).toStrictEqual(["g"])
      expect([groups.state.calls, roles.state.calls, permissions.state.calls]).toStrictEqual([1, 0, 0])
      expect(yield* principal.roles).toStrictEqual(["r"])
      expect(yield* principal.roles).toStrictEqual(["r"])
      expect([groups.state.calls, roles.state.calls, permissions.state.calls]).toStrictEqual([1, 1, 0])
      expect(yield* principal.permissions).toStrictEqual(["p"])
      expect(yield* principal.permissions).toStrictEqual(["p"])
      expect([groups.state.calls, roles.state.calls, permissions.state.calls]).toStrictEqual([1, 1, 1])
    })
  )

  it.effect("each principal has its own cache", () =>
    Effect.gen(function* () {
      const groups = counting(["g"])
      const sources = { groups, roles: counting([]), permissions: counting([]) }
      const first = yield* Principal.fromIdentity(alice, sources)
      const second = yield* Principal.fromIdentity(alice, sources)
      yield* first.groups
      yield* second.groups
      yield* first.groups
      expect(groups.state.calls).toBe(2)
    })
  )

  it.effect("the lookup receives the principal's identity", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const principal = yield* Principal.make(alice).pipe(
        Effect.provideService(GroupsProvider.GroupsProvider, {
          lookup: (identity) =>
            Effect.sync(() => {
              seen.push(identity.id)
              return [`group-of-${identity.id}`]
            })
        })
      )
      expect(yield* principal.groups).toStrictEqual(["group-of-alice"])
      expect(seen).toStrictEqual(["alice"])
    })
  )

  it.effect("the three lookups of one request share one identity object, a new request gets another", () =>
    Effect.gen(function* () {
      const seen: Array<Identity.Identity> = []
      const recording = {
        lookup: (identity: Identity.Identity) =>
          Effect.sync(() => {
            seen.push(identity)
            return []
          })
      }
      const sources = { groups: recording, roles: recording, permissions: recording }
      // One identity object for every request, as a disabled authenticator's fixed identity is.
      const request = Principal.fromIdentity(alice, sources)
      const first = yield* request
      const second = yield* request
      yield* Principal.describe(first)
      yield* second.permissions
      expect(seen).toHaveLength(4)
      const [groups, roles, permissions, later] = seen
      expect(roles).toBe(groups)
      expect(permissions).toBe(groups)
      expect(later).not.toBe(groups)
      expect(later).toStrictEqual(alice)
    })
  )

  it.effect("grant providers are read when the principal is built, not when grants are read", () =>
    Effect.gen(function* () {
      const principal = yield* Principal.make(alice).pipe(Effect.provide(GroupsProvider.layerStatic({ alice: ["x"] })))
      const groups = yield* principal.groups.pipe(
        Effect.provideService(GroupsProvider.GroupsProvider, { lookup: () => Effect.succeed(["late"]) })
      )
      expect(groups).toStrictEqual(["x"])
    })
  )

  it.effect("a read interrupted mid-lookup (a timeout, a failed sibling) does not poison other or later reads", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const state = { calls: 0 }
      const principal = yield* Principal.fromIdentity(alice, {
        groups: {
          lookup: () =>
            Effect.suspend(() => {
              state.calls++
              // The lookup is slow: it answers only once the gate opens.
              return Deferred.succeed(started, undefined).pipe(Effect.zipRight(Deferred.await(gate)), Effect.as(["g"]))
            })
        },
        roles: counting([]),
        permissions: counting([])
      })
      const interrupted = yield* Effect.fork(principal.groups)
      const sibling = yield* Effect.fork(principal.groups)
      yield* Deferred.await(started)
      yield* Fiber.interrupt(interrupted)
      yield* Deferred.succeed(gate, undefined)

      const siblingExit = yield* Fiber.await(sibling)
      if (Exit.isFailure(siblingExit)) {
        assert.fail(`a concurrent reader should get the groups, got: ${Cause.pretty(siblingExit.cause)}`)
      }
      expect(siblingExit.value).toStrictEqual(["g"])
      const exit = yield* Effect.exit(principal.groups)
      if (Exit.isFailure(exit)) {
        assert.fail(`a later read should get the groups, got: ${Cause.pretty(exit.cause)}`)
      }
      expect(exit.value).toStrictEqual(["g"])
      // The interrupted reader did not cancel the lookup, so it ran once for everybody.
      expect(state.calls).toBe(1)
    })
  )

  it.effect("a failing lookup fails the read with ProviderUnavailable", () =>
    Effect.gen(function* () {
      const principal = yield* Principal.make(alice).pipe(
        Effect.provideService(GroupsProvider.GroupsProvider, {
          lookup: () => Effect.fail(new AuthError.ProviderUnavailable({ reason: "timeout", provider: "groups-db" }))
        })
      )
      const error = yield* Effect.flip(principal.groups)
      expect(error).toMatchObject({ _tag: "ProviderUnavailable", reason: "timeout", provider: "groups-db" })
      // The other grants are unaffected.
      expect(yield* principal.roles).toStrictEqual(["claim-role"])
    })
  )
})

describe("default grant providers read claims", () => {
  it.effect("groups from `groups`, roles from `roles`, permissions from `scope`", () =>
    Effect.gen(function* () {
      const principal = yield* Principal.make(alice)
      expect(yield* principal.groups).toStrictEqual(["from-claims"])
      expect(yield* principal.roles).toStrictEqual(["claim-role"])
      expect(yield* principal.permissions).toStrictEqual(["read", "write"])
    })
  )

  it.effect("permissions prefer `permissions`, then `scope`, then `scp`", () =>
    Effect.gen(function* () {
      const make = (claims: Record<string, unknown>) =>
        Effect.flatMap(
          Principal.make(Identity.make({ id: "c", kind: "machine", provider: "test", claims })),
          (principal) => principal.permissions
        )
      expect(yield* make({ permissions: ["p"], scope: "s", scp: "x" })).toStrictEqual(["p"])
      expect(yield* make({ scope: "s1 s2", scp: "x" })).toStrictEqual(["s1", "s2"])
      expect(yield* make({ scp: "x y" })).toStrictEqual(["x", "y"])
      expect(yield* make({})).toStrictEqual([])
    })
  )
})

describe("grants the provider read from the credential", () => {
  const mapped = (grants: Identity.Grants) =>
    Principal.make(
      Identity.make({ id: "m", kind: "user", provider: "cognito", claims: { groups: ["raw-claim"] }, grants })
    )

  it.effect("come before the raw claims in the default providers", () =>
    Effect.gen(function* () {
      const principal = yield* mapped({ groups: ["from-cognito-groups"], permissions: [] })
      expect(yield* principal.groups).toStrictEqual(["from-cognito-groups"])
      expect(yield* principal.permissions).toStrictEqual([])
      // Not mapped: the claims still answer.
      expect(yield* principal.roles).toStrictEqual([])
    })
  )

  it.effect("an incomplete grant fails with IncompleteGrants instead of reading as none", () =>
    Effect.gen(function* () {
      const principal = yield* mapped({ incomplete: ["groups"], roles: ["reader"] })
      const error = yield* Effect.flip(principal.groups)
      expect(error).toMatchObject({ _tag: "IncompleteGrants", grant: "groups", provider: "cognito" })
      expect(AuthError.isAuthError(error)).toBe(true)
      expect(yield* principal.roles).toStrictEqual(["reader"])
    })
  )

  it.effect("a layer that looks grants up replaces the credential's (incomplete) grants", () =>
    Effect.gen(function* () {
      const principal = yield* mapped({ incomplete: ["groups"] }).pipe(
        Effect.provide(GroupsProvider.layerStatic({ m: ["looked-up"] }))
      )
      expect(yield* principal.groups).toStrictEqual(["looked-up"])
    })
  )
})

describe("GroupsProvider.layerStatic", () => {
  it.effect("maps principal ids to groups; unknown ids have none", () =>
    Effect.gen(function* () {
      const layer = GroupsProvider.layerStatic({ alice: ["a", "b"], bob: ["c"] })
      const build = (id: string) =>
        Principal.make(Identity.make({ id, kind: "user", provider: "test", claims: { groups: ["ignored"] } })).pipe(
          Effect.provide(layer)
        )
      expect(yield* (yield* build("alice")).groups).toStrictEqual(["a", "b"])
      expect(yield* (yield* build("bob")).groups).toStrictEqual(["c"])
      expect(yield* (yield* build("carol")).groups).toStrictEqual([])
    })
  )

  it.effect("roles and permissions have the same static layers", () =>
    Effect.gen(function* () {
      const principal = yield* Principal.make(alice).pipe(
        Effect.provide(
          Layer.mergeAll(
            RolesProvider.layerStatic({ alice: ["admin"] }),
            PermissionsProvider.layerStatic({ alice: ["delete"] })
          )
        )
      )
      expect(yield* principal.roles).toStrictEqual(["admin"])
      expect(yield* principal.permissions).toStrictEqual(["delete"])
      // Groups still come from the default claims provider.
      expect(yield* principal.groups).toStrictEqual(["from-claims"])
    })
  )
})

describe("GroupsProvider.layerClaims", () => {
  const groupsFrom = (claimNames: ReadonlyArray<string>, claims: Record<string, unknown>) =>
    Effect.flatMap(
      Principal.make(Identity.make({ id: "u", kind: "user", provider: "test", claims })).pipe(
        Effect.provide(GroupsProvider.layerClaims(claimNames))
      ),
      (principal) => principal.groups
    )

  it.effect("reads a custom claim name holding an array", () =>
    Effect.gen(function* () {
      expect(
        yield* groupsFrom(["cognito:groups"], { "cognito:groups": ["admins", "devs"], groups: ["no"] })
      ).toStrictEqual(["admins", "devs"])
    })
  )

  it.effect("splits a space- or comma-separated string claim", () =>
    Effect.gen(function* () {
      expect(yield* groupsFrom(["team"], { team: "  red  blue\tgreen " })).toStrictEqual(["red", "blue", "green"])
      expect(yield* groupsFrom(["team"], { team: "red,blue, green" })).toStrictEqual(["red", "blue", "green"])
      expect(yield* groupsFrom(["team"], { team: "" })).toStrictEqual([])
    })
  )

  it.effect("ignores non-string entries of an array claim", () =>
    Effect.gen(function* () {
      expect(
        yield* groupsFrom(["team"], { team: ["red", 1, null, { name: "x" }, ["nested"], true, "blue"] })
      ).toStrictEqual(["red", "blue"])
    })
  )

  it.effect("the first present claim wins", () =>
    Effect.gen(function* () {
      expect(yield* groupsFrom(["primary", "fallback"], { primary: ["p"], fallback: ["f"] })).toStrictEqual(["p"])
      expect(yield* groupsFrom(["primary", "fallback"], { fallback: ["f"] })).toStrictEqual(["f"])
      expect(yield* groupsFrom(["primary", "fallback"], { other: ["o"] })).toStrictEqual([])
    })
  )

  it.effect("no longer reads the default `groups` claim", () =>
    Effect.gen(function* () {
      expect(yield* groupsFrom(["team"], { groups: ["admins"] })).toStrictEqual([])
    })
  )
})

describe("Principal.describe", () => {
  it.effect("returns plain data with loaded grants and no claims", () =>
    Effect.gen(function* () {
      const principal = yield* Principal.make(alice)
      const description = yield* Principal.describe(principal)
      expect(description).toStrictEqual({
        id: "alice",
        kind: "user",
        provider: "test",
        name: "Alice",
        email: "alice@example.com",
        groups: ["from-claims"],
        roles: ["claim-role"],
        permissions: ["read", "write"]
      })
      expect(description).not.toHaveProperty("claims")
      expect(JSON.stringify(description)).not.toContain("do-not-echo")
      // Plain data: it survives a JSON round trip unchanged.
      expect(JSON.parse(JSON.stringify(description))).toStrictEqual(description)
    })
  )

  it.effect("uses null for a missing name and email", () =>
    Effect.gen(function* () {
      const principal = yield* Principal.make(Identity.make({ id: "svc", kind: "machine", provider: "api-key" }))
      const description = yield* Principal.describe(principal)
      expect(description).toStrictEqual({
        id: "svc",
        kind: "machine",
        provider: "api-key",
        name: null,
        email: null,
        groups: [],
        roles: [],
        permissions: []
      })
    })
  )

  it.effect("reuses grants already loaded", () =>
    Effect.gen(function* () {
      const groups = counting(["g"])
      const principal = yield* Principal.fromIdentity(alice, { groups, roles: counting([]), permissions: counting([]) })
      yield* principal.groups
      const description = yield* Principal.describe(principal)
      expect(description.groups).toStrictEqual(["g"])
      expect(groups.state.calls).toBe(1)
    })
  )
})
