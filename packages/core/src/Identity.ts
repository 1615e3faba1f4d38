/**
 * Who a caller was proven to be, as a provider established it: the data part of a `Principal`,
 * without the lazily loaded groups, roles and permissions.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { AuthorizationError } from "./AuthError.js"

/**
 * A human (`user`) or a program acting for itself (`machine`, e.g. an OAuth client-credentials token or
 * an API key).
 *
 * @since 0.1.0
 */
export type Kind = "user" | "machine"

/**
 * @since 0.1.0
 */
export interface Identity {
  /** Stable identifier, unique within its provider (a token's `sub`, a user name, a key id). */
  readonly id: string
  readonly kind: Kind
  /** The provider that authenticated the caller (`basic`, `jwt`, `cognito`, `api-key`, …). */
  readonly provider: string
  readonly name?: string | undefined
  readonly email?: string | undefined
  /** The verified token claims or the store's attributes. */
  readonly claims: Readonly<Record<string, unknown>>
}

/**
 * Builds an identity, filling `claims` when omitted.
 *
 * @since 0.1.0
 */
export const make = (
  identity: Omit<Identity, "claims"> & { readonly claims?: Readonly<Record<string, unknown>> | undefined }
): Identity => ({ ...identity, claims: identity.claims ?? {} })

/**
 * Looks up names granted to an identity (its groups, roles or permissions): the shape of
 * `GroupsProvider`, `RolesProvider` and `PermissionsProvider`.
 *
 * @since 0.1.0
 */
export interface GrantsLookup {
  readonly lookup: (identity: Identity) => Effect.Effect<ReadonlyArray<string>, AuthorizationError>
}
