/**
 * The authenticated caller of one request: its {@link Identity} plus its groups, roles and permissions,
 * each loaded on first use only and at most once per request.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { AuthorizationError } from "./AuthError.js"
import { GroupsProvider } from "./GroupsProvider.js"
import * as Identity from "./Identity.js"
import { shared } from "./internal/shared.js"
import type { GrantsLookup, Kind } from "./Identity.js"
import { PermissionsProvider } from "./PermissionsProvider.js"
import { RolesProvider } from "./RolesProvider.js"

/**
 * @since 0.1.0
 */
export interface Principal extends Identity.Identity {
  /** Loaded from the `GroupsProvider` on first use, then remembered for the rest of the request. */
  readonly groups: Effect.Effect<ReadonlyArray<string>, AuthorizationError>
  /** Loaded from the `RolesProvider` on first use, then remembered for the rest of the request. */
  readonly roles: Effect.Effect<ReadonlyArray<string>, AuthorizationError>
  /** Loaded from the `PermissionsProvider` on first use, then remembered for the rest of the request. */
  readonly permissions: Effect.Effect<ReadonlyArray<string>, AuthorizationError>
}

/**
 * Turns an identity into a principal whose grants come from the providers in context (by default the
 * token's claims). Nothing is looked up until the principal's `groups`, `roles` or `permissions` run.
 *
 * @since 0.1.0
 */
export const make = (identity: Identity.Identity): Effect.Effect<Principal> =>
  Effect.flatMap(grantSources, (sources) => fromIdentity(identity, sources))

/**
 * The three places grants come from, as resolved once by an `Authenticator` when it is built.
 *
 * @since 0.1.0
 */
export interface GrantSources {
  readonly groups: GrantsLookup
  readonly roles: GrantsLookup
  readonly permissions: GrantsLookup
}

/**
 * Reads the grant providers from context (their defaults read claims).
 *
 * @since 0.1.0
 */
export const grantSources: Effect.Effect<GrantSources> = Effect.all({
  groups: GroupsProvider,
  roles: RolesProvider,
  permissions: PermissionsProvider
})

/**
 * Turns an identity into a principal with the given grant sources. Each run is one request: the three
 * lookups receive a copy of `identity` made for this request, so a provider that shares work between
 * the lookups of one request (keyed on that object, as `GrantStore.layerProviders` does) never shares it
 * with another request, also when the same identity object authenticates many requests.
 *
 * @since 0.1.0
 */
export const fromIdentity = (identity: Identity.Identity, sources: GrantSources): Effect.Effect<Principal> =>
  Effect.sync(() => forRequest(identity, sources))

/**
 * {@link fromIdentity}'s principal, built now: call it once per request (its grants are remembered for
 * the principal it returns).
 *
 * @since 0.1.0
 */
export const forRequest = (identity: Identity.Identity, sources: GrantSources): Principal => {
  const loads = new GrantLoads(identity, sources)
  return {
    id: identity.id,
    kind: identity.kind,
    provider: identity.provider,
    name: identity.name,
    email: identity.email,
    claims: identity.claims,
    grants: identity.grants,
    groups: Effect.suspend(() => loads.groups()),
    roles: Effect.suspend(() => loads.roles()),
    permissions: Effect.suspend(() => loads.permissions())
  }
}

/**
 * One request's grant loads, each made on its first read and shared by every later one, with the request's
 * copy of the identity made on the first. Nothing is built for a kind nobody reads: most requests read none
 * or one, and this runs on every request.
 */
class GrantLoads {
  #request: Identity.Identity | undefined
  #groups: Load | undefined
  #roles: Load | undefined
  #permissions: Load | undefined
  constructor(
    readonly identity: Identity.Identity,
    readonly sources: GrantSources
  ) {}
  groups(): Load {
    return (this.#groups ??= this.load(this.sources.groups))
  }
  roles(): Load {
    return (this.#roles ??= this.load(this.sources.roles))
  }
  permissions(): Load {
    return (this.#permissions ??= this.load(this.sources.permissions))
  }
  private load(source: GrantsLookup): Load {
    const request = (this.#request ??= Identity.clone(this.identity))
    return shared(Effect.suspend(() => source.lookup(request)))
  }
}

type Load = Effect.Effect<ReadonlyArray<string>, AuthorizationError>

/**
 * A principal as plain JSON data, with its grants loaded (what the gateway's `/whoami` answers).
 *
 * @since 0.1.0
 */
export interface Description {
  readonly id: string
  readonly kind: Kind
  readonly provider: string
  readonly name: string | null
  readonly email: string | null
  readonly groups: ReadonlyArray<string>
  readonly roles: ReadonlyArray<string>
  readonly permissions: ReadonlyArray<string>
}

/**
 * Loads the principal's grants and returns it as plain data (claims are left out: they may hold more
 * than the caller should see echoed back).
 *
 * @since 0.1.0
 */
export const describe = (principal: Principal): Effect.Effect<Description, AuthorizationError> =>
  Effect.map(
    Effect.all([principal.groups, principal.roles, principal.permissions], { concurrency: "unbounded" }),
    ([groups, roles, permissions]) => ({
      id: principal.id,
      kind: principal.kind,
      provider: principal.provider,
      name: principal.name ?? null,
      email: principal.email ?? null,
      groups,
      roles,
      permissions
    })
  )
