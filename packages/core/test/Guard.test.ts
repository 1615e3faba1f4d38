import { AuthError, Authenticated, GroupsProvider, Guard, Identity, Policy, Principal } from "@effect-auth/core"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const identity = (claims: Record<string, unknown>, kind: Identity.Kind = "user") =>
  Identity.make({ id: `${kind}-1`, kind, provider: "test", claims })

/** Runs a guard for a caller whose grants come from its claims, provided as `Authenticated`. */
const as =
  (claims: Record<string, unknown>, kind: Identity.Kind = "user") =>
  <A, E>(guard: Effect.Effect<A, E, Authenticated.Authenticated>): Effect.Effect<A, E> =>
    Effect.flatMap(Principal.make(identity(claims, kind)), (principal) =>
      Effect.provideService(guard, Authenticated.Authenticated, principal)
    )

describe("Guard.requireGroups", () => {
  it.effect("any-of: allows a caller in one of the groups and returns the principal", () =>
    Effect.gen(function* () {
      const principal = yield* as({ groups: ["b"] })(Guard.requireGroups(["a", "b"]))
      expect(principal.id).toBe("user-1")
      expect(yield* principal.groups).toStrictEqual(["b"])
    })
  )

  it.effect("any-of: refuses a caller in none of them with missing-groups and the required list", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(as({ groups: ["c"] })(Guard.requireGroups(["a", "b"])))
      expect(error._tag).toBe("Forbidden")
      expect(error).toMatchObject({ reason: "missing-groups", required: ["a", "b"] })
    })
  )

  it.effect("{ all: true } requires every group", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(as({ groups: ["b"] })(Guard.requireGroups(["a", "b"], { all: true })))
      expect(error).toMatchObject({ _tag: "Forbidden", reason: "missing-groups", required: ["a", "b"] })

      const principal = yield* as({ groups: ["a", "b"] })(Guard.requireGroups(["a", "b"], { all: true }))
      expect(principal.id).toBe("user-1")
    })
  )

  it.effect("works with Authenticated.layer and grants from a GroupsProvider", () =>
    Effect.gen(function* () {
      const principal = yield* Principal.make(identity({})).pipe(
        Effect.provide(GroupsProvider.layerStatic({ "user-1": ["admin"] }))
      )
      const allowed = yield* Guard.requireGroups(["admin"]).pipe(Effect.provide(Authenticated.layer(principal)))
      expect(allowed).toBe(principal)

      const error = yield* Effect.flip(
        Guard.requireGroups(["root"]).pipe(Effect.provide(Authenticated.layer(principal)))
      )
      expect(error).toMatchObject({ _tag: "Forbidden", reason: "missing-groups", required: ["root"] })
    })
  )

  it.effect("a failing groups lookup fails with ProviderUnavailable, never Forbidden or success", () =>
    Effect.gen(function* () {
      const principal = yield* Principal.make(identity({ groups: ["a"] })).pipe(
        Effect.provideService(GroupsProvider.GroupsProvider, {
          lookup: () => Effect.fail(new AuthError.ProviderUnavailable({ reason: "unreachable", provider: "ldap" }))
        })
      )
      const error = yield* Effect.flip(Guard.requireGroups(["a"]).pipe(Effect.provide(Authenticated.layer(principal))))
      expect(error).toMatchObject({ _tag: "ProviderUnavailable", reason: "unreachable", provider: "ldap" })
    })
  )
})

describe("Guard.requireRoles", () => {
  it.effect("any-of allows, all-of refuses with missing-roles", () =>
    Effect.gen(function* () {
      const principal = yield* as({ roles: ["editor"] })(Guard.requireRoles(["admin", "editor"]))
      expect(principal.id).toBe("user-1")

      const allOf = yield* Effect.flip(
        as({ roles: ["editor"] })(Guard.requireRoles(["admin", "editor"], { all: true }))
      )
      expect(allOf).toMatchObject({ _tag: "Forbidden", reason: "missing-roles", required: ["admin", "editor"] })

      const none = yield* Effect.flip(as({ roles: ["viewer"] })(Guard.requireRoles(["admin", "editor"])))
      expect(none).toMatchObject({ _tag: "Forbidden", reason: "missing-roles", required: ["admin", "editor"] })
    })
  )
})

describe("Guard.requirePermissions", () => {
  it.effect("reads permissions from a scope claim string", () =>
    Effect.gen(function* () {
      const scoped = as({ scope: "read write" })
      expect((yield* scoped(Guard.requirePermissions(["write"]))).id).toBe("user-1")
      expect((yield* scoped(Guard.requirePermissions(["read", "write"], { all: true }))).id).toBe("user-1")

      const error = yield* Effect.flip(scoped(Guard.requirePermissions(["read", "admin"], { all: true })))
      expect(error).toMatchObject({ _tag: "Forbidden", reason: "missing-permissions", required: ["read", "admin"] })
    })
  )

  it.effect("any-of refuses when none is held", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(as({ permissions: ["read"] })(Guard.requirePermissions(["write", "admin"])))
      expect(error).toMatchObject({ _tag: "Forbidden", reason: "missing-permissions", required: ["write", "admin"] })
    })
  )
})

describe("Guard.requirePermissions with wildcards and denies", () => {
  it.effect("a held wildcard covers what it matches, and nothing above it", () =>
    Effect.gen(function* () {
      const caller = as({ permissions: ["documents.*"] })
      expect((yield* caller(Guard.requirePermissions(["documents.read"]))).id).toBe("user-1")
      expect((yield* caller(Guard.requirePermissions(["documents.read.own"]))).id).toBe("user-1")
      const error = yield* Effect.flip(caller(Guard.requirePermissions(["documents"])))
      expect(error).toMatchObject({ _tag: "Forbidden", reason: "missing-permissions", required: ["documents"] })
      const other = yield* Effect.flip(caller(Guard.requirePermissions(["Documents.read"])))
      expect(other).toMatchObject({ _tag: "Forbidden", reason: "missing-permissions" })
    })
  )

  it.effect("a held deny refuses what it matches, whatever else is held", () =>
    Effect.gen(function* () {
      const caller = as({ permissions: ["*", "documents.delete", "!documents.delete", "!billing.*"] })
      expect((yield* caller(Guard.requirePermissions(["documents.read"]))).id).toBe("user-1")
      for (const required of ["documents.delete", "billing.refund", "billing.*"]) {
        const error = yield* Effect.flip(caller(Guard.requirePermissions([required])))
        expect(error).toMatchObject({ _tag: "Forbidden", reason: "missing-permissions", required: [required] })
      }
      const allOf = yield* Effect.flip(
        caller(Guard.requirePermissions(["documents.read", "documents.delete"], { all: true }))
      )
      expect(allOf).toMatchObject({ _tag: "Forbidden", reason: "missing-permissions" })
      expect((yield* caller(Guard.requirePermissions(["documents.delete", "documents.read"]))).id).toBe("user-1")
    })
  )

  it.effect("groups and roles are never wildcards", () =>
    Effect.gen(function* () {
      const groups = yield* Effect.flip(as({ groups: ["*"] })(Guard.requireGroups(["admin"])))
      expect(groups).toMatchObject({ _tag: "Forbidden", reason: "missing-groups" })
      const roles = yield* Effect.flip(as({ roles: ["admin.*"] })(Guard.requireRoles(["admin.read"])))
      expect(roles).toMatchObject({ _tag: "Forbidden", reason: "missing-roles" })
    })
  )
})

describe("Guard.requireUser", () => {
  it.effect("without options allows any principal, user or machine", () =>
    Effect.gen(function* () {
      expect((yield* as({}, "user")(Guard.requireUser())).kind).toBe("user")
      expect((yield* as({}, "machine")(Guard.requireUser())).kind).toBe("machine")
    })
  )

  it.effect("{ kind: 'user' } refuses a machine with wrong-kind", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(as({}, "machine")(Guard.requireUser({ kind: "user" })))
      expect(error).toMatchObject({ _tag: "Forbidden", reason: "wrong-kind", required: ["user"] })
      expect((yield* as({}, "user")(Guard.requireUser({ kind: "user" }))).kind).toBe("user")
    })
  )
})

describe("Guard.requirePolicy", () => {
  it.effect("enforces a composed policy against the current principal", () =>
    Effect.gen(function* () {
      const policy = Policy.or(
        Policy.groups(["admin"]),
        Policy.and(Policy.roles(["editor"]), Policy.permissions(["publish"]))
      )
      const editor = { roles: ["editor"], scope: "publish" }
      expect((yield* as(editor)(Guard.requirePolicy(policy))).id).toBe("user-1")
      expect((yield* as({ groups: ["admin"] })(Guard.requirePolicy(policy))).id).toBe("user-1")

      const error = yield* Effect.flip(as({ roles: ["editor"] })(Guard.requirePolicy(policy)))
      expect(error).toMatchObject({ _tag: "Forbidden", reason: "missing-permissions", required: ["publish"] })
    })
  )

  it.effect("reads the principal from the layer it is run with", () =>
    Effect.gen(function* () {
      const alice = yield* Principal.make(Identity.make({ id: "alice", kind: "user", provider: "test" }))
      const bob = yield* Principal.make(Identity.make({ id: "bob", kind: "user", provider: "test" }))
      const onlyAlice = Guard.requirePolicy(Policy.predicate((p) => p.id === "alice"))
      expect((yield* Effect.provide(onlyAlice, Layer.succeed(Authenticated.Authenticated, alice))).id).toBe("alice")
      const error = yield* Effect.flip(Effect.provide(onlyAlice, Authenticated.layer(bob)))
      expect(error).toMatchObject({ _tag: "Forbidden", reason: "policy" })
    })
  )

  it("guards require Authenticated in their context", () => {
    expectTypeOf(Guard.requireUser()).toEqualTypeOf<
      Effect.Effect<Principal.Principal, AuthError.Forbidden, Authenticated.Authenticated>
    >()
    expectTypeOf(Guard.requireGroups(["a"])).toEqualTypeOf<
      Effect.Effect<
        Principal.Principal,
        AuthError.Forbidden | AuthError.AuthorizationError,
        Authenticated.Authenticated
      >
    >()
    // A type test, which is why the directive stays: the build fails if this line ever compiles, that is,
    // if a guard could run without an `Authenticated` principal. expectTypeOf cannot assert "does not compile".
    // @ts-expect-error running a guard with no principal (Authenticated not provided) must not compile
    expectTypeOf(() => Effect.runPromise(Guard.requireUser())).toBeFunction()
  })
})
