/**
 * Authorization rules as values: "in one of these groups", "has all of these permissions", combined with
 * `and`, `or`, `not` and custom predicates. Groups and roles are compared exactly; permissions follow the
 * {@link Permission} grammar (wildcards, denies). A policy only loads the grants it needs, in order, and stops
 * as soon as the answer is known.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { AuthorizationError } from "./AuthError.js"
import { Forbidden } from "./AuthError.js"
import type { Kind } from "./Identity.js"
import * as Permission from "./Permission.js"
import type { Principal } from "./Principal.js"

/**
 * A rule over a principal. `check` succeeds with `undefined` when the principal is allowed, or with the
 * `Forbidden` error that explains the refusal.
 *
 * @since 0.1.0
 */
export interface Policy<E = AuthorizationError, R = never> {
  readonly check: (principal: Principal) => Effect.Effect<Forbidden | undefined, E, R>
}

/**
 * Any-of (default) or all-of matching.
 *
 * @since 0.1.0
 */
export interface MatchOptions {
  /** Require every listed name instead of at least one. */
  readonly all?: boolean | undefined
}

const allowed = Effect.succeed(undefined)

const exactly = (held: ReadonlyArray<string>) => {
  const set = new Set(held)
  return (name: string) => set.has(name)
}

const byGrammar = (held: ReadonlyArray<string>) => (name: string) => Permission.allows(held, name)

const grants =
  (
    select: (principal: Principal) => Effect.Effect<ReadonlyArray<string>, AuthorizationError>,
    reason: Forbidden["reason"],
    holds: (held: ReadonlyArray<string>) => (name: string) => boolean
  ) =>
  (required: ReadonlyArray<string>, options?: MatchOptions): Policy => ({
    check: (principal) =>
      Effect.map(select(principal), (held) => {
        const has = holds(held)
        const ok = options?.all === true ? required.every(has) : required.some(has)
        return ok ? undefined : new Forbidden({ reason, required })
      })
  })

/**
 * At least one of the groups (or all of them with `{ all: true }`), compared exactly. An empty list never
 * matches in any-of mode, and always matches in all-of mode.
 *
 * @since 0.1.0
 */
export const groups = grants((principal) => principal.groups, "missing-groups", exactly)

/**
 * At least one of the roles (or all of them with `{ all: true }`), compared exactly.
 *
 * @since 0.1.0
 */
export const roles = grants((principal) => principal.roles, "missing-roles", exactly)

/**
 * At least one of the permissions (or all of them with `{ all: true }`), each decided by
 * `Permission.allows`: a held `documents.*` covers a required `documents.read`, and a held deny
 * (`!documents.delete`, `!documents.*`) refuses what it matches whatever else is held.
 *
 * @example
 * ```ts
 * import { Policy } from "@effect-auth/core"
 *
 * // Allowed for a principal holding ["documents.*"], refused if it also holds "!documents.delete".
 * const canDelete = Policy.permissions(["documents.delete"])
 * ```
 *
 * @since 0.1.0
 */
export const permissions = grants((principal) => principal.permissions, "missing-permissions", byGrammar)

/**
 * Any authenticated principal, or only those of one kind.
 *
 * @since 0.1.0
 */
export const authenticated = (options?: { readonly kind?: Kind | undefined }): Policy<never> => ({
  check: (principal) =>
    options?.kind === undefined || principal.kind === options.kind
      ? allowed
      : Effect.succeed(new Forbidden({ reason: "wrong-kind", required: [options.kind] }))
})

/**
 * A custom rule: return `true` to allow.
 *
 * @example
 * ```ts
 * import { Policy } from "@effect-auth/core"
 *
 * const ownsTenant = (tenant: string) => Policy.predicate((principal) => principal.claims["tenant"] === tenant)
 * ```
 *
 * @since 0.1.0
 */
export const predicate = <E = never, R = never>(
  test: (principal: Principal) => boolean | Effect.Effect<boolean, E, R>
): Policy<E, R> => ({
  check: (principal) => {
    const result = test(principal)
    const decide = (ok: boolean) => (ok ? undefined : new Forbidden({ reason: "policy" }))
    return typeof result === "boolean" ? Effect.succeed(decide(result)) : Effect.map(result, decide)
  }
})

type PolicyError<P> = P extends Policy<infer E, infer _R> ? E : never
type PolicyContext<P> = P extends Policy<infer _E, infer R> ? R : never

/**
 * Every policy must allow; checked in order, stopping at the first refusal (whose reason is kept).
 *
 * @since 0.1.0
 */
export const and = <const P extends ReadonlyArray<Policy<unknown, unknown>>>(
  ...policies: P
): Policy<PolicyError<P[number]>, PolicyContext<P[number]>> => ({
  check: (principal) =>
    Effect.suspend(() => {
      const loop = (index: number): Effect.Effect<Forbidden | undefined, unknown, unknown> =>
        index >= policies.length
          ? allowed
          : Effect.flatMap(policies[index]!.check(principal), (refused) =>
              refused === undefined ? loop(index + 1) : Effect.succeed(refused)
            )
      return loop(0) as Effect.Effect<Forbidden | undefined, PolicyError<P[number]>, PolicyContext<P[number]>>
    })
})

/**
 * At least one policy must allow; checked in order, stopping at the first that does. When all refuse,
 * the last refusal is kept.
 *
 * @since 0.1.0
 */
export const or = <const P extends ReadonlyArray<Policy<unknown, unknown>>>(
  ...policies: P
): Policy<PolicyError<P[number]>, PolicyContext<P[number]>> => ({
  check: (principal) =>
    Effect.suspend(() => {
      const loop = (index: number, last: Forbidden): Effect.Effect<Forbidden | undefined, unknown, unknown> =>
        index >= policies.length
          ? Effect.succeed(last)
          : Effect.flatMap(policies[index]!.check(principal), (refused) =>
              refused === undefined ? allowed : loop(index + 1, refused)
            )
      return loop(0, new Forbidden({ reason: "policy" })) as Effect.Effect<
        Forbidden | undefined,
        PolicyError<P[number]>,
        PolicyContext<P[number]>
      >
    })
})

/**
 * Allows exactly when the given policy refuses.
 *
 * @since 0.1.0
 */
export const not = <E, R>(policy: Policy<E, R>): Policy<E, R> => ({
  check: (principal) =>
    Effect.map(policy.check(principal), (refused) =>
      refused === undefined ? new Forbidden({ reason: "policy" }) : undefined
    )
})

/**
 * Runs a policy: succeeds when it allows, fails with `Forbidden` when it refuses.
 *
 * @since 0.1.0
 */
export const enforce = <E, R>(policy: Policy<E, R>, principal: Principal): Effect.Effect<void, Forbidden | E, R> =>
  Effect.flatMap(policy.check(principal), (refused) => (refused === undefined ? Effect.void : Effect.fail(refused)))
