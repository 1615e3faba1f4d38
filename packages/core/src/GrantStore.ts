/**
 * A store of groups, roles and permissions that resolves all three grant kinds of a principal in one
 * load: the port, the reference semantics ({@link resolve}), an in-memory store, a TTL cache, and the
 * `GroupsProvider` / `RolesProvider` / `PermissionsProvider` layer that reads a store at most once per
 * request. The SQL store in `@effect-auth/sql` implements the same port.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
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
import { shared } from "./internal/shared.js"
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
 * One cached principal: the load's result, shared by every reader, and until when it may be answered
 * (`Infinity` while the load runs). The entry object itself is the generation: a finished load is kept
 * only while its entry is still the one in the map.
 */
interface CacheEntry {
  readonly result: Deferred.Deferred<EffectiveGrants, ProviderUnavailable>
  expiresAt: number
}

/**
 * Wraps a store with a TTL cache. Only successful loads are kept: a failure is answered to the readers
 * waiting for that load and then forgotten, so an outage is never remembered. `invalidate` and
 * `invalidateAll` drop cached grants (call them after changing a principal's grants for the change to
 * apply before the TTL runs out); a load still running when they are called answers the readers already
 * waiting for it, but is not kept, and later readers start a new load.
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
    const timeToLive = Duration.toMillis(Duration.decode(options.timeToLive))
    // Insertion order is recency order: a hit moves its entry to the end, eviction takes the first.
    const entries = new Map<string, CacheEntry>()

    const settle = (principalId: string, entry: CacheEntry, exit: Exit.Exit<EffectiveGrants, ProviderUnavailable>) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        // Invalidated (or evicted) while loading: the result is only for the readers already waiting.
        if (entries.get(principalId) !== entry) return
        if (Exit.isSuccess(exit)) entry.expiresAt = now + timeToLive
        else entries.delete(principalId)
      })

    const start = (principalId: string): CacheEntry => {
      const entry: CacheEntry = { result: Deferred.unsafeMake(FiberId.none), expiresAt: Number.POSITIVE_INFINITY }
      entries.set(principalId, entry)
      for (const oldest of entries.keys()) {
        if (entries.size <= capacity) break
        entries.delete(oldest)
      }
      return entry
    }

    const load = (principalId: string): Effect.Effect<EffectiveGrants, ProviderUnavailable> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const current = entries.get(principalId)
          entries.delete(principalId)
          if (current !== undefined && now < current.expiresAt) {
            entries.set(principalId, current)
            return restore(Deferred.await(current.result))
          }
          const entry = start(principalId)
          // The load runs in its own fiber, so a reader that stops waiting does not cancel it for others.
          const run = Effect.flatMap(Effect.exit(Effect.interruptible(store.load(principalId))), (exit) =>
            Effect.zipRight(settle(principalId, entry, exit), Deferred.done(entry.result, exit))
          )
          return Effect.zipRight(Effect.forkDaemon(run), restore(Deferred.await(entry.result)))
        })
      )

    return Effect.succeed<GrantStore>({
      load,
      invalidate: (principalId) =>
        Effect.zipRight(
          Effect.sync(() => entries.delete(principalId)),
          store.invalidate(principalId)
        ),
      invalidateAll: Effect.zipRight(
        Effect.sync(() => entries.clear()),
        store.invalidateAll
      )
    })
  })

/**
 * The three providers over one store, sharing one load per `Identity` object. `Principal.fromIdentity`
 * passes the three lookups a fresh object for every request, so a request's load is never answered to
 * another request, also when a provider hands out one fixed identity object. A failed load is forgotten
 * at once, so a retry within the request reaches the store again.
 */
const makeProviders = (store: GrantStore) => {
  const loads = new WeakMap<Identity, Effect.Effect<EffectiveGrants, ProviderUnavailable>>()

  const loadFor = (identity: Identity) =>
    Effect.suspend(() => {
      const existing = loads.get(identity)
      if (existing !== undefined) return existing
      const grants = shared(
        Effect.tapError(store.load(identity.id), () =>
          Effect.sync(() => {
            if (loads.get(identity) === grants) loads.delete(identity)
          })
        )
      )
      loads.set(identity, grants)
      return grants
    })

  const lookup = (kind: typeof GrantKind.Type): GrantsLookup => ({
    lookup: (identity) => Effect.map(loadFor(identity), (grants) => grants[kind])
  })

  return Context.make(GroupsProvider, lookup("groups")).pipe(
    Context.add(RolesProvider, lookup("roles")),
    Context.add(PermissionsProvider, lookup("permissions"))
  )
}

/**
 * `GroupsProvider`, `RolesProvider` and `PermissionsProvider` backed by the `GrantStore` in context:
 * one `load` per request, shared by the three (keyed on the per-request `Identity` object that
 * `Principal.fromIdentity` passes them), and none when the request reads no grant. Provide it to the `Authenticator` layer. A store failure reaches guards
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
