/**
 * A store of groups, roles and permissions that resolves all three grant kinds of a principal in one
 * load: the port, the reference semantics ({@link resolve}), an in-memory store, a TTL cache, and the
 * `GroupsProvider` / `RolesProvider` / `PermissionsProvider` layer that reads a store at most once per
 * request. The SQL store in `@effect-auth/sql` implements the same port.
 *
 * @since 0.1.0
 */
import * as Cache from "effect/Cache"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import type { GrantKind, ProviderUnavailable } from "./AuthError.js"
import { GroupsProvider } from "./GroupsProvider.js"
import type { GrantsLookup, Identity } from "./Identity.js"
import * as Permission from "./Permission.js"
import { PermissionsProvider } from "./PermissionsProvider.js"
import { RolesProvider } from "./RolesProvider.js"

/**
 * A principal's effective grants as a store resolved them.
 *
 * @since 0.1.0
 */
export interface EffectiveGrants {
  /** Direct groups, deduplicated, sorted. */
  readonly groups: ReadonlyArray<string>
  /** Direct roles, roles of the groups and the roles they inherit, deduplicated, sorted. */
  readonly roles: ReadonlyArray<string>
  /** `Permission.normalize` of the direct permissions and those of every effective role. */
  readonly permissions: ReadonlyArray<string>
}

/**
 * The port a grant store implements.
 *
 * @since 0.1.0
 */
export interface GrantStore {
  /** All three grant kinds of one principal id, in as few round trips as the store allows. */
  readonly load: (principalId: string) => Effect.Effect<EffectiveGrants, ProviderUnavailable>
  /** Forget cached grants of one principal (no-op for uncached stores). */
  readonly invalidate: (principalId: string) => Effect.Effect<void>
  /** Forget every cached grant (no-op for uncached stores). */
  readonly invalidateAll: Effect.Effect<void>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 */
export const GrantStore: Context.Tag<GrantStore, GrantStore> =
  Context.GenericTag<GrantStore>("@effect-auth/core/GrantStore")

/**
 * How many role inheritance levels are followed by default. Roles further away are ignored: a chain
 * too long to follow grants less, never more.
 *
 * @since 0.1.0
 */
export const defaultMaxDepth = 8

/**
 * The grants of one principal, as held by the memory store.
 *
 * @since 0.1.0
 */
export interface PrincipalGrants {
  readonly groups?: ReadonlyArray<string>
  readonly roles?: ReadonlyArray<string>
  /** Grants and denies (`!documents.delete`), in the {@link Permission} grammar. */
  readonly permissions?: ReadonlyArray<string>
}

/**
 * The model the memory store holds: principals (by id), groups (by name) and roles (by name).
 *
 * @since 0.1.0
 */
export interface Model {
  readonly principals?: Readonly<Record<string, PrincipalGrants>>
  readonly groups?: Readonly<Record<string, { readonly roles?: ReadonlyArray<string> }>>
  readonly roles?: Readonly<
    Record<string, { readonly permissions?: ReadonlyArray<string>; readonly inherits?: ReadonlyArray<string> }>
  >
}

/**
 * Options of the stores.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Role inheritance levels followed (default {@link defaultMaxDepth}); `0` follows none. */
  readonly maxDepth?: number | undefined
}

const none: ReadonlyArray<string> = []

// Own properties only: a principal named `constructor` or `__proto__` must not read `Object.prototype`.
const entryOf = <A>(record: Readonly<Record<string, A>> | undefined, key: string): A | undefined =>
  record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const sorted = (names: Iterable<string>): ReadonlyArray<string> => Array.from(new Set(names)).sort(byCodeUnit)

const depthOf = (maxDepth: number | undefined): number =>
  maxDepth === undefined ? defaultMaxDepth : Number.isNaN(maxDepth) ? 0 : Math.max(0, Math.floor(maxDepth))

/**
 * The reference semantics every store implements: a principal's roles are its direct roles and those of
 * its groups, closed under `inherits` for at most `maxDepth` steps (a role inherited by a direct role is
 * one step away); cycles end the walk. Its permissions are its direct ones and those of every effective
 * role, normalised with `Permission.normalize` (so a deny anywhere wins). Names are compared exactly.
 *
 * @example
 * ```ts
 * import { GrantStore } from "@effect-auth/core"
 *
 * const grants = GrantStore.resolve(
 *   { principals: { alice: { roles: ["editor"] } }, roles: { editor: { permissions: ["documents.*"] } } },
 *   "alice"
 * )
 * // { groups: [], roles: ["editor"], permissions: ["documents.*"] }
 * ```
 *
 * @since 0.1.0
 */
export const resolve = (model: Model, principalId: string, options?: Options): EffectiveGrants => {
  const principal = entryOf(model.principals, principalId)
  const groups = sorted(principal?.groups ?? none)

  const roles = new Set<string>(principal?.roles ?? none)
  for (const group of groups) for (const role of entryOf(model.groups, group)?.roles ?? none) roles.add(role)

  // Breadth first, so every role is reached at its shortest distance and the depth bound is exact.
  let frontier = Array.from(roles)
  for (let depth = 1; depth <= depthOf(options?.maxDepth) && frontier.length > 0; depth++) {
    const next: Array<string> = []
    for (const role of frontier) {
      for (const inherited of entryOf(model.roles, role)?.inherits ?? none) {
        if (!roles.has(inherited)) {
          roles.add(inherited)
          next.push(inherited)
        }
      }
    }
    frontier = next
  }

  const permissions: Array<string> = [...(principal?.permissions ?? none)]
  for (const role of roles) permissions.push(...(entryOf(model.roles, role)?.permissions ?? none))

  return { groups, roles: sorted(roles), permissions: Permission.normalize(permissions) }
}

/**
 * A store over a fixed model, resolved on every load (tests, small apps, fixtures).
 *
 * @example
 * ```ts
 * import { GrantStore } from "@effect-auth/core"
 *
 * const store = GrantStore.makeMemory({
 *   principals: { alice: { groups: ["staff"], permissions: ["!documents.delete"] } },
 *   groups: { staff: { roles: ["editor"] } },
 *   roles: { editor: { permissions: ["documents.*"], inherits: ["viewer"] }, viewer: { permissions: ["reports.read"] } }
 * })
 * ```
 *
 * @since 0.1.0
 */
export const makeMemory = (model: Model, options?: Options): GrantStore => ({
  load: (principalId) => Effect.sync(() => resolve(model, principalId, options)),
  invalidate: () => Effect.void,
  invalidateAll: Effect.void
})

/**
 * Options of {@link cached}.
 *
 * @since 0.1.0
 */
export interface CacheOptions {
  /** How long loaded grants are served before the store is asked again. */
  readonly timeToLive: Duration.DurationInput
  /** Most principals kept (default 10 000); the least recently used go first. */
  readonly capacity?: number | undefined
}

/**
 * The default {@link CacheOptions.capacity}.
 *
 * @since 0.1.0
 */
export const defaultCapacity = 10_000

/**
 * Wraps a store with a TTL cache. Only successful loads are kept: a failure is answered to the readers
 * waiting for that load and then forgotten, so an outage is never remembered. `invalidate` and
 * `invalidateAll` drop cached grants (call them after changing a principal's grants for the change to
 * apply before the TTL runs out).
 *
 * @example
 * ```ts
 * import { GrantStore } from "@effect-auth/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const store = yield* GrantStore.cached(GrantStore.makeMemory({}), { timeToLive: "1 minute" })
 *   const grants = yield* store.load("alice")
 *   yield* store.invalidate("alice") // after changing alice's grants
 *   return grants
 * })
 * ```
 *
 * @since 0.1.0
 */
export const cached = (store: GrantStore, options: CacheOptions): Effect.Effect<GrantStore> =>
  Effect.suspend(() => {
    const capacity = options.capacity ?? defaultCapacity
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      return Effect.dieMessage("GrantStore.cached: capacity must be a positive integer")
    }
    const timeToLive = Duration.decode(options.timeToLive)
    return Effect.map(
      Cache.makeWith({
        capacity,
        lookup: store.load,
        timeToLive: Exit.match({ onFailure: () => Duration.zero, onSuccess: () => timeToLive })
      }),
      (cache): GrantStore => ({
        load: (principalId) =>
          // The cache answers an entry until its expiry has passed, so a zero TTL alone would still answer
          // a failure for the rest of the millisecond: drop it at once.
          Effect.tapError(cache.get(principalId), () => cache.invalidate(principalId)),
        invalidate: (principalId) => Effect.zipRight(cache.invalidate(principalId), store.invalidate(principalId)),
        invalidateAll: Effect.zipRight(cache.invalidateAll, store.invalidateAll)
      })
    )
  })

/**
 * Runs `load` once, on first use, in its own fiber, and answers its result (success or failure) to
 * every reader. Created synchronously, so concurrent first readers cannot start two loads; a reader
 * that is interrupted stops waiting without cancelling the load others wait for.
 */
const shared = <A, E>(load: Effect.Effect<A, E>): Effect.Effect<A, E> => {
  let result: Deferred.Deferred<A, E> | undefined
  return Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      if (result !== undefined) return restore(Deferred.await(result))
      const deferred = Deferred.unsafeMake<A, E>(FiberId.none)
      result = deferred
      return Effect.zipRight(
        Effect.forkDaemon(Effect.intoDeferred(Effect.interruptible(load), deferred)),
        restore(Deferred.await(deferred))
      )
    })
  )
}

interface RequestLoad {
  readonly grants: Effect.Effect<EffectiveGrants, ProviderUnavailable>
  /** The grant kinds already answered from this load. */
  readonly taken: Set<typeof GrantKind.Type>
}

/**
 * The three providers over one store. A `Principal` asks each provider at most once per request, with
 * the same `Identity` object, so the three share one load per identity object. A kind asked again for
 * an identity it was already answered for means a new request reusing the object (a fixed identity):
 * that starts a fresh load instead of answering old grants. A failed load is forgotten at once.
 */
const makeProviders = (store: GrantStore) => {
  const loads = new WeakMap<Identity, RequestLoad>()

  const loadFor = (kind: typeof GrantKind.Type, identity: Identity) =>
    Effect.suspend(() => {
      let current = loads.get(identity)
      if (current === undefined || current.taken.has(kind)) {
        const request: RequestLoad = {
          grants: shared(
            Effect.tapError(store.load(identity.id), () =>
              Effect.sync(() => {
                if (loads.get(identity) === request) loads.delete(identity)
              })
            )
          ),
          taken: new Set()
        }
        loads.set(identity, request)
        current = request
      }
      current.taken.add(kind)
      return current.grants
    })

  const lookup = (kind: typeof GrantKind.Type): GrantsLookup => ({
    lookup: (identity) => Effect.map(loadFor(kind, identity), (grants) => grants[kind])
  })

  return Context.make(GroupsProvider, lookup("groups")).pipe(
    Context.add(RolesProvider, lookup("roles")),
    Context.add(PermissionsProvider, lookup("permissions"))
  )
}

/**
 * `GroupsProvider`, `RolesProvider` and `PermissionsProvider` backed by the `GrantStore` in context:
 * one `load` per request, shared by the three (keyed on the request's `Identity` object), and none when
 * the request reads no grant. Provide it to the `Authenticator` layer. A store failure reaches guards
 * as `ProviderUnavailable` (503).
 *
 * @example
 * ```ts
 * import { GrantStore } from "@effect-auth/core"
 * import { Effect, Layer } from "effect"
 *
 * const grants = GrantStore.layerProviders.pipe(
 *   Layer.provideMerge(
 *     Layer.effect(GrantStore.GrantStore, GrantStore.cached(GrantStore.makeMemory({}), { timeToLive: "1 minute" }))
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layerProviders: Layer.Layer<GroupsProvider | RolesProvider | PermissionsProvider, never, GrantStore> =
  Layer.effectContext(Effect.map(GrantStore, makeProviders))

/**
 * A memory store over a fixed model with its three providers, exposing the `GrantStore` too.
 *
 * @example
 * ```ts
 * import { GrantStore } from "@effect-auth/core"
 *
 * const grants = GrantStore.layerMemory({
 *   principals: { alice: { roles: ["editor"] } },
 *   roles: { editor: { permissions: ["documents.*", "!documents.delete"] } }
 * })
 * ```
 *
 * @since 0.1.0
 */
export const layerMemory = (
  model: Model,
  options?: Options
): Layer.Layer<GrantStore | GroupsProvider | RolesProvider | PermissionsProvider> =>
  Layer.provideMerge(layerProviders, Layer.succeed(GrantStore, makeMemory(model, options)))
