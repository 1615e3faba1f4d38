/**
 * Where a principal's groups come from. The default uses the groups the identity provider read from the token (`Identity.grants`, e.g. Cognito's
 * `cognito:groups`), else the `groups` claim;
 * replace it with a layer: `GroupsProvider.layerStatic` here, or the SQL store.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type { GrantsLookup } from "./Identity.js"
import * as Grants from "./internal/grants.js"

/**
 * The claims read by default, first present wins.
 *
 * @since 0.1.0
 */
export const defaultClaims: ReadonlyArray<string> = ["groups"]

/**
 * The service. It has a default (the claims), so an app that keeps groups in its tokens provides nothing.
 *
 * @since 0.1.0
 */
export class GroupsProvider extends Context.Reference<GroupsProvider>()("@effect-auth/core/GroupsProvider", {
  defaultValue: (): GrantsLookup => Grants.fromCredential("groups", defaultClaims)
}) {}

/**
 * Reads groups from the named claims (first present wins): an array of strings or a space- or
 * comma-separated string.
 *
 * @since 0.1.0
 */
export const layerClaims = (claimNames: ReadonlyArray<string>): Layer.Layer<GroupsProvider> =>
  Layer.succeed(GroupsProvider, Grants.fromClaims(claimNames))

/**
 * A fixed map from principal id to groups; ids not in the map have none.
 *
 * @example
 * ```ts
 * import { GroupsProvider } from "@effect-auth/core"
 *
 * const groups = GroupsProvider.layerStatic({ alice: ["a", "b"] })
 * ```
 *
 * @since 0.1.0
 */
export const layerStatic = (
  byPrincipalId: Readonly<Record<string, ReadonlyArray<string>>>
): Layer.Layer<GroupsProvider> => Layer.succeed(GroupsProvider, Grants.fromStatic(byPrincipalId))
