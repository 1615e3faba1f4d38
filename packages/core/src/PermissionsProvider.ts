/**
 * Where a principal's permissions come from. The default reads the `permissions` claim, else the OAuth `scope` / Entra `scp` claim;
 * replace it with a layer: `PermissionsProvider.layerStatic` here, or the SQL store.
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
export const defaultClaims: ReadonlyArray<string> = ["permissions", "scope", "scp"]

/**
 * The service. It has a default (the claims), so an app that keeps permissions in its tokens provides nothing.
 *
 * @since 0.1.0
 */
export class PermissionsProvider extends Context.Reference<PermissionsProvider>()(
  "@effect-auth/core/PermissionsProvider",
  {
    defaultValue: (): GrantsLookup => Grants.fromCredential("permissions", defaultClaims)
  }
) {}

/**
 * Reads permissions from the named claims (first present wins): an array of strings or a space- or
 * comma-separated string.
 *
 * @since 0.1.0
 */
export const layerClaims = (claimNames: ReadonlyArray<string>): Layer.Layer<PermissionsProvider> =>
  Layer.succeed(PermissionsProvider, Grants.fromClaims(claimNames))

/**
 * A fixed map from principal id to permissions; ids not in the map have none.
 *
 * @example
 * ```ts
 * import { PermissionsProvider } from "@effect-auth/core"
 *
 * const permissions = PermissionsProvider.layerStatic({ alice: ["a", "b"] })
 * ```
 *
 * @since 0.1.0
 */
export const layerStatic = (
  byPrincipalId: Readonly<Record<string, ReadonlyArray<string>>>
): Layer.Layer<PermissionsProvider> => Layer.succeed(PermissionsProvider, Grants.fromStatic(byPrincipalId))
