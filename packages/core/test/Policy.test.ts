import { AuthError, GroupsProvider, Identity, Policy, Principal, RolesProvider } from "@effect-auth/core"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"

/** A principal whose grants come from its claims (the default providers). */
const principal = (claims: Record<string, unknown>, kind: Identity.Kind = "user") =>
  Principal.make(Identity.make({ id: "alice", kind, provider: "test", claims }))

/** A predicate that records how often it ran. */
const counting = (allow: boolean) => {
  const state = { calls: 0 }
  const policy = Policy.predicate(() => {
    state.calls++
    return allow
  })
  return { policy, state }
}

const expectAllowed = (refusal: AuthError.Forbidden | undefined) => expect(refusal).toBeUndefined()

const expectRefused = (
  refusal: AuthError.Forbidden | undefined,
  reason: AuthError.Forbidden["reason"],
  required?: ReadonlyArray<string>
) => {
  assert(refusal instanceof AuthError.Forbidden, "expected a refusal")
  expect(refusal.reason).toBe(reason)
  if (required !== undefined) expect(refusal.required).toStrictEqual(required)
}

describe("Policy.groups / roles / permissions", () => {
  it.effect("any-of by default: one listed group is enough", () =>
    Effect.gen(function* () {
      const onlyB = yield* principal({ groups: ["b"] })
      expectAllowed(yield* Policy.groups(["a", "b"]).check(onlyB))

      const onlyC = yield* principal({ groups: ["c"] })
      expectRefused(yield* Policy.groups(["a", "b"]).check(onlyC), "missing-groups", ["a", "b"])
    })
  )

  it.effect("{ all: true } needs every listed group", () =>
    Effect.gen(function* () {
      const onlyB = yield* principal({ groups: ["b"] })
      expectRefused(yield* Policy.groups(["a", "b"], { all: true }).check(onlyB), "missing-groups", ["a", "b"])

      const both = yield* principal({ groups: ["b", "a", "c"] })
      expectAllowed(yield* Policy.groups(["a", "b"], { all: true }).check(both))
    })
  )

  it.effect("an empty list never matches any-of and always matches all-of", () =>
    Effect.gen(function* () {
      const alice = yield* principal({ groups: ["a"] })
      expectRefused(yield* Policy.groups([]).check(alice), "missing-groups", [])
      expectAllowed(yield* Policy.groups([], { all: true }).check(alice))
    })
  )

  it.effect("a principal with no groups is refused", () =>
    Effect.gen(function* () {
      const nobody = yield* principal({})
      expectRefused(yield* Policy.groups(["a"]).check(nobody), "missing-groups", ["a"])
    })
  )

  it.effect("roles: any-of and all-of, reason missing-roles", () =>
    Effect.gen(function* () {
      const editor = yield* principal({ roles: ["editor"] })
      expectAllowed(yield* Policy.roles(["admin", "editor"]).check(editor))
      expectRefused(yield* Policy.roles(["admin", "editor"], { all: true }).check(editor), "missing-roles", [
        "admin",
        "editor"
      ])
      expectRefused(yield* Policy.roles(["admin"]).check(editor), "missing-roles", ["admin"])
    })
  )

  it.effect("permissions from a space-separated scope claim, reason missing-permissions", () =>
    Effect.gen(function* () {
      const reader = yield* principal({ scope: "read write" })
      expectAllowed(yield* Policy.permissions(["write"]).check(reader))
      expectAllowed(yield* Policy.permissions(["read", "write"], { all: true }).check(reader))
      expectRefused(yield* Policy.permissions(["read", "delete"], { all: true }).check(reader), "missing-permissions", [
        "read",
        "delete"
      ])
      expectRefused(yield* Policy.permissions(["delete"]).check(reader), "missing-permissions", ["delete"])
      // A grant is a whole name, not a substring of the scope string.
      expectRefused(yield* Policy.permissions(["rea"]).check(reader), "missing-permissions", ["rea"])
    })
  )

  it.effect("permissions follow the Permission grammar: wildcards match further segments, denies win", () =>
    Effect.gen(function* () {
      const editor = yield* principal({ permissions: ["documents.*", "reports.read", "!documents.delete"] })
      expectAllowed(yield* Policy.permissions(["documents.write"]).check(editor))
      expectAllowed(yield* Policy.permissions(["documents.read.own", "reports.read"], { all: true }).check(editor))
      expectRefused(yield* Policy.permissions(["documents"]).check(editor), "missing-permissions", ["documents"])
      expectRefused(yield* Policy.permissions(["reports.write"]).check(editor), "missing-permissions")
      expectRefused(yield* Policy.permissions(["documents.delete"]).check(editor), "missing-permissions", [
        "documents.delete"
      ])
      expectRefused(
        yield* Policy.permissions(["documents.write", "documents.delete"], { all: true }).check(editor),
        "missing-permissions"
      )
      expectAllowed(yield* Policy.permissions(["documents.delete", "documents.write"]).check(editor))
      // A refusal by deny is an ordinary refusal: or() goes on to the next policy.
      expectAllowed(
        yield* Policy.or(Policy.permissions(["documents.delete"]), Policy.permissions(["reports.read"])).check(editor)
      )
    })
  )

  it.effect("groups and roles are compared exactly, never as wildcards", () =>
    Effect.gen(function* () {
      const alice = yield* principal({ groups: ["*", "staff.*"], roles: ["*"] })
      expectRefused(yield* Policy.groups(["staff.eu"]).check(alice), "missing-groups")
      expectRefused(yield* Policy.roles(["admin"]).check(alice), "missing-roles")
      expectAllowed(yield* Policy.groups(["staff.*"]).check(alice))
    })
  )

  it.effect("groups, roles and permissions are separate: a group does not grant a role", () =>
    Effect.gen(function* () {
      const alice = yield* principal({ groups: ["admin"] })
      expectAllowed(yield* Policy.groups(["admin"]).check(alice))
      expectRefused(yield* Policy.roles(["admin"]).check(alice), "missing-roles")
      expectRefused(yield* Policy.permissions(["admin"]).check(alice), "missing-permissions")
    })
  )

  it.effect("a failing lookup fails the check instead of allowing or refusing", () =>
    Effect.gen(function* () {
      const unavailable = new AuthError.ProviderUnavailable({ reason: "timeout", provider: "groups-db" })
      const alice = yield* principal({ groups: ["a"] }).pipe(
        Effect.provideService(GroupsProvider.GroupsProvider, { lookup: () => Effect.fail(unavailable) })
      )
      const error = yield* Effect.flip(Policy.groups(["a"]).check(alice))
      expect(error).toBe(unavailable)
    })
  )
})

describe("Policy.authenticated", () => {
  it.effect("without a kind allows users and machines", () =>
    Effect.gen(function* () {
      expectAllowed(yield* Policy.authenticated().check(yield* principal({}, "user")))
      expectAllowed(yield* Policy.authenticated().check(yield* principal({}, "machine")))
    })
  )

  it.effect("with a kind refuses the other kind with reason wrong-kind", () =>
    Effect.gen(function* () {
      const machine = yield* principal({}, "machine")
      expectRefused(yield* Policy.authenticated({ kind: "user" }).check(machine), "wrong-kind", ["user"])
      expectAllowed(yield* Policy.authenticated({ kind: "machine" }).check(machine))
    })
  )
})

class Tenant extends Context.Tag("test/Tenant")<Tenant, string>() {}

describe("Policy.predicate", () => {
  it.effect("a boolean predicate allows on true and refuses with reason policy on false", () =>
    Effect.gen(function* () {
      const alice = yield* principal({ tenant: "acme" })
      const ownsAcme = Policy.predicate((p) => p.claims["tenant"] === "acme")
      const ownsGlobex = Policy.predicate((p) => p.claims["tenant"] === "globex")
      expectAllowed(yield* ownsAcme.check(alice))
      expectRefused(yield* ownsGlobex.check(alice), "policy", [])
    })
  )

  it.effect("an effectful predicate may use services and fail", () =>
    Effect.gen(function* () {
      const alice = yield* principal({ tenant: "acme" })
      const sameTenant = Policy.predicate((p) => Effect.map(Tenant, (tenant) => p.claims["tenant"] === tenant))
      expectAllowed(yield* sameTenant.check(alice).pipe(Effect.provideService(Tenant, "acme")))
      expectRefused(yield* sameTenant.check(alice).pipe(Effect.provideService(Tenant, "globex")), "policy")

      const failing = Policy.predicate(() => Effect.fail("lookup failed" as const))
      const error = yield* Effect.flip(failing.check(alice))
      expect(error).toBe("lookup failed")
    })
  )
})

describe("Policy.and", () => {
  it.effect("allows when every policy allows", () =>
    Effect.gen(function* () {
      const alice = yield* principal({ groups: ["a"], roles: ["r"] })
      expectAllowed(yield* Policy.and(Policy.groups(["a"]), Policy.roles(["r"]), Policy.authenticated()).check(alice))
    })
  )

  it.effect("keeps the first refusal and never evaluates what follows it", () =>
    Effect.gen(function* () {
      const alice = yield* principal({ groups: ["a"] })
      const before = counting(true)
      const after = counting(true)
      const policy = Policy.and(before.policy, Policy.roles(["missing"]), after.policy, Policy.groups(["nope"]))
      expectRefused(yield* policy.check(alice), "missing-roles", ["missing"])
      expect(before.state.calls).toBe(1)
      expect(after.state.calls).toBe(0)
    })
  )

  it.effect("does not load grants a refused policy made unnecessary", () =>
    Effect.gen(function* () {
      let roleLookups = 0
      const alice = yield* principal({ groups: ["a"], roles: ["r"] }).pipe(
        Effect.provideService(RolesProvider.RolesProvider, {
          lookup: () =>
            Effect.sync(() => {
              roleLookups++
              return ["r"]
            })
        })
      )
      expectRefused(yield* Policy.and(Policy.groups(["b"]), Policy.roles(["r"])).check(alice), "missing-groups")
      expect(roleLookups).toBe(0)
      expectAllowed(yield* Policy.and(Policy.groups(["a"]), Policy.roles(["r"])).check(alice))
      expect(roleLookups).toBe(1)
    })
  )

  it.effect("with no policies allows", () =>
    Effect.gen(function* () {
      expectAllowed(yield* Policy.and().check(yield* principal({})))
    })
  )
})

describe("Policy.or", () => {
  it.effect("allows at the first allowing policy and never evaluates what follows it", () =>
    Effect.gen(function* () {
      const alice = yield* principal({ groups: ["a"] })
      const before = counting(false)
      const after = counting(false)
      expectAllowed(yield* Policy.or(before.policy, Policy.groups(["a"]), after.policy).check(alice))
      expect(before.state.calls).toBe(1)
      expect(after.state.calls).toBe(0)
    })
  )

  it.effect("when every policy refuses, keeps the last refusal", () =>
    Effect.gen(function* () {
      const alice = yield* principal({ groups: ["a"] }, "machine")
      expectRefused(yield* Policy.or(Policy.groups(["x"]), Policy.roles(["y"])).check(alice), "missing-roles", ["y"])
      expectRefused(yield* Policy.or(Policy.roles(["y"]), Policy.groups(["x"])).check(alice), "missing-groups", ["x"])
      expectRefused(
        yield* Policy.or(Policy.groups(["x"]), Policy.authenticated({ kind: "user" })).check(alice),
        "wrong-kind",
        ["user"]
      )
    })
  )

  it.effect("evaluates every policy when all refuse", () =>
    Effect.gen(function* () {
      const first = counting(false)
      const second = counting(false)
      expectRefused(yield* Policy.or(first.policy, second.policy).check(yield* principal({})), "policy")
      expect(first.state.calls).toBe(1)
      expect(second.state.calls).toBe(1)
    })
  )

  it.effect("with no policies refuses", () =>
    Effect.gen(function* () {
      expectRefused(yield* Policy.or().check(yield* principal({ groups: ["a"] })), "policy")
    })
  )
})

describe("Policy.not", () => {
  it.effect("inverts a policy", () =>
    Effect.gen(function* () {
      const alice = yield* principal({ groups: ["banned"] })
      expectRefused(yield* Policy.not(Policy.groups(["banned"])).check(alice), "policy")
      expectAllowed(yield* Policy.not(Policy.groups(["other"])).check(alice))
    })
  )

  it.effect("combines with and/or", () =>
    Effect.gen(function* () {
      const notBanned = Policy.and(Policy.groups(["staff"]), Policy.not(Policy.groups(["banned"])))
      expectAllowed(yield* notBanned.check(yield* principal({ groups: ["staff"] })))
      expectRefused(yield* notBanned.check(yield* principal({ groups: ["staff", "banned"] })), "policy")
      expectRefused(yield* notBanned.check(yield* principal({ groups: [] })), "missing-groups")
    })
  )
})

describe("Policy.enforce", () => {
  it.effect("succeeds when the policy allows", () =>
    Effect.gen(function* () {
      const alice = yield* principal({ groups: ["a"] })
      const result = yield* Effect.either(Policy.enforce(Policy.groups(["a"]), alice))
      expect(result._tag).toBe("Right")
    })
  )

  it.effect("fails with the policy's Forbidden when it refuses", () =>
    Effect.gen(function* () {
      const alice = yield* principal({ groups: ["a"] })
      const error = yield* Effect.flip(Policy.enforce(Policy.groups(["x", "y"], { all: true }), alice))
      assert(error._tag === "Forbidden")
      expect(error.reason).toBe("missing-groups")
      expect(error.required).toStrictEqual(["x", "y"])
    })
  )
})
