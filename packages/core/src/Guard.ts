/**
 * Guards for handlers: each reads the request's principal from `Authenticated`, checks a policy, and
 * returns the principal or fails with `Forbidden` (403).
 *
 * @example
 * ```ts
 * import { Guard } from "@effect-auth/core"
 * import { Effect } from "effect"
 *
 * const deleteUser = Effect.gen(function* () {
 *   const admin = yield* Guard.requireGroups(["admin"])
 *   return `deleted by ${admin.id}`
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { AuthorizationError, Forbidden } from "./AuthError.js"
import { Authenticated } from "./Authenticated.js"
import type { Kind } from "./Identity.js"
import * as Policy from "./Policy.js"
import type { Principal } from "./Principal.js"

/**
 * The principal, when the policy allows it.
 *
 * @since 0.1.0
 */
export const requirePolicy = <E, R>(
  policy: Policy.Policy<E, R>
): Effect.Effect<Principal, Forbidden | E, R | Authenticated> =>
  Effect.flatMap(Authenticated, (principal) => Effect.as(Policy.enforce(policy, principal), principal))

/**
 * The principal of any authenticated caller, or only of one kind (`{ kind: "user" }` refuses machines).
 *
 * @since 0.1.0
 */
export const requireUser = (options?: {
  readonly kind?: Kind | undefined
}): Effect.Effect<Principal, Forbidden, Authenticated> => requirePolicy(Policy.authenticated(options))

/**
 * Membership of at least one of the groups (all of them with `{ all: true }`), compared exactly.
 *
 * @since 0.1.0
 */
export const requireGroups = (
  groups: ReadonlyArray<string>,
  options?: Policy.MatchOptions
): Effect.Effect<Principal, Forbidden | AuthorizationError, Authenticated> =>
  requirePolicy(Policy.groups(groups, options))

/**
 * At least one of the roles (all of them with `{ all: true }`), compared exactly.
 *
 * @since 0.1.0
 */
export const requireRoles = (
  roles: ReadonlyArray<string>,
  options?: Policy.MatchOptions
): Effect.Effect<Principal, Forbidden | AuthorizationError, Authenticated> =>
  requirePolicy(Policy.roles(roles, options))

/**
 * At least one of the permissions (all of them with `{ all: true }`), each decided by
 * `Permission.allows`: held wildcards (`documents.*`, `*`) cover what they match, and a held deny
 * (`!documents.delete`) refuses it whatever else is held.
 *
 * @since 0.1.0
 */
export const requirePermissions = (
  permissions: ReadonlyArray<string>,
  options?: Policy.MatchOptions
): Effect.Effect<Principal, Forbidden | AuthorizationError, Authenticated> =>
  requirePolicy(Policy.permissions(permissions, options))
