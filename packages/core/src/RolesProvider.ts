/**
 * Where a principal's roles come from. The default reads the `roles` claim (as Entra ID and many issuers send it);
 * replace it with a layer: `RolesProvider.layerStatic` here, or the SQL store.
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
export const defaultClaims: ReadonlyArray<string> = ["roles"]

/**
 * The service. It has a default (the claims), so an app that keeps roles in its tokens provides nothing.
 *
 * @since 0.1.0
 */
export class RolesProvider extends Context.Reference<RolesProvider>()("@effect-auth/core/RolesProvider", {
  defaultValue: (): GrantsLookup => Grants.fromCredential("roles", defaultClaims)
}) {}

/**
 * Reads roles from the named claims (first present wins): an array of strings or a space- or
 * comma-separated string.
 *
 * @since 0.1.0
 */
export const layerClaims = (claimNames: ReadonlyArray<string>): Layer.Layer<RolesProvider> =>
  Layer.succeed(RolesProvider, Grants.fromClaims(claimNames))

/**
 * A fixed map from principal id to roles; ids not in the map have none.
 *
 * @example
 * ```ts
 * import { RolesProvider } from "@effect-auth/core"
 *
 * const roles = RolesProvider.layerStatic({ alice: ["a", "b"] })
 * ```
 *
 * @since 0.1.0
 */
export const layerStatic = (
  byPrincipalId: Readonly<Record<string, ReadonlyArray<string>>>
): Layer.Layer<RolesProvider> => Layer.succeed(RolesProvider, Grants.fromStatic(byPrincipalId))
