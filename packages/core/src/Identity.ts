/**
 * Who a caller was proven to be, as a provider established it: the data part of a `Principal`,
 * without the lazily loaded groups, roles and permissions.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { AuthorizationError, GrantKind } from "./AuthError.js"

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
  /** Grants the provider read from the credential itself (e.g. a token's mapped claims). */
  readonly grants?: Grants | undefined
}

/**
 * Names a provider read from the credential with its own claim mapping (Cognito's `cognito:groups`,
 * Entra's `scp`). The default, claim-based `GroupsProvider`, `RolesProvider` and `PermissionsProvider`
 * use these before the raw claims.
 *
 * @since 0.1.0
 */
export interface Grants {
  readonly groups?: ReadonlyArray<string> | undefined
  readonly roles?: ReadonlyArray<string> | undefined
  readonly permissions?: ReadonlyArray<string> | undefined
  /** Grants the credential could not carry: reading them from it fails with `IncompleteGrants`. */
  readonly incomplete?: ReadonlyArray<typeof GrantKind.Type> | undefined
}

/**
 * Builds an identity, filling `claims` when omitted.
 *
 * @since 0.1.0
 */
export const make = (
  identity: Omit<Identity, "claims"> & { readonly claims?: Readonly<Record<string, unknown>> | undefined }
): Identity => copy(identity, identity.claims ?? {})

/**
 * The identity's fields in a fixed order, whatever object they came from: a spread of an object built by
 * another spread is several times slower, and this runs on every request.
 */
const copy = (identity: Omit<Identity, "claims">, claims: Readonly<Record<string, unknown>>): Identity => ({
  id: identity.id,
  kind: identity.kind,
  provider: identity.provider,
  name: identity.name,
  email: identity.email,
  claims,
  grants: identity.grants
})

/**
 * A copy of an identity (same fields, new object), as cheap as building one.
 *
 * @since 0.1.0
 */
export const clone = (identity: Identity): Identity => copy(identity, identity.claims)

const noNames: ReadonlyArray<string> = []

/**
 * Reads names (groups, roles, permissions) from the first present claim: an array of strings, or one
 * space- or comma-separated string (OAuth `scope` style). Other values are ignored: claims are data the
 * issuer signed, not code.
 *
 * @since 0.1.0
 */
export const namesFromClaims = (
  claims: Readonly<Record<string, unknown>>,
  names: ReadonlyArray<string>
): ReadonlyArray<string> => {
  for (const name of names) {
    const value = claims[name]
    if (typeof value === "string") return value.split(/[\s,]+/).filter((part) => part.length > 0)
    if (Array.isArray(value)) return value.filter((part): part is string => typeof part === "string")
  }
  return noNames
}

/**
 * Looks up names granted to an identity (its groups, roles or permissions): the shape of
 * `GroupsProvider`, `RolesProvider` and `PermissionsProvider`.
 *
 * @since 0.1.0
 */
export interface GrantsLookup {
  readonly lookup: (identity: Identity) => Effect.Effect<ReadonlyArray<string>, AuthorizationError>
}
