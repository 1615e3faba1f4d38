/**
 * The current request's principal, as a service. Code that needs a caller requires `Authenticated` in
 * its context, so it does not compile until an authenticating layer or middleware provides one.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type { Principal } from "./Principal.js"

/**
 * @example
 * ```ts
 * import { Authenticated } from "@effect-auth/core"
 * import { Effect } from "effect"
 *
 * const hello = Effect.map(Authenticated, (principal) => `hello ${principal.id}`)
 * ```
 *
 * @since 0.1.0
 */
export class Authenticated extends Context.Tag("@effect-auth/core/Authenticated")<Authenticated, Principal>() {}

/**
 * Provides a known principal (tests, background jobs acting for a user).
 *
 * @since 0.1.0
 */
export const layer = (principal: Principal): Layer.Layer<Authenticated> => Layer.succeed(Authenticated, principal)
