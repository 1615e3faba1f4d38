import * as Effect from "effect/Effect"
import { IncompleteGrants } from "../AuthError.js"
import type { GrantKind } from "../AuthError.js"
import { namesFromClaims } from "../Identity.js"
import type { GrantsLookup } from "../Identity.js"

const empty: ReadonlyArray<string> = []

export const fromClaims = (claimNames: ReadonlyArray<string>): GrantsLookup => ({
  lookup: (identity) => Effect.succeed(namesFromClaims(identity.claims, claimNames))
})

/**
 * The default lookup: what the provider read from the credential (`identity.grants`), else the claims.
 * A grant the credential could not carry fails instead of reading as "none".
 */
export const fromCredential = (kind: typeof GrantKind.Type, claimNames: ReadonlyArray<string>): GrantsLookup => ({
  lookup: (identity) => {
    if (identity.grants?.incomplete?.includes(kind) === true) {
      return Effect.fail(new IncompleteGrants({ grant: kind, provider: identity.provider }))
    }
    return Effect.succeed(identity.grants?.[kind] ?? namesFromClaims(identity.claims, claimNames))
  }
})

export const fromStatic = (byPrincipalId: Readonly<Record<string, ReadonlyArray<string>>>): GrantsLookup => {
  const map = new Map(Object.entries(byPrincipalId))
  return { lookup: (identity) => Effect.succeed(map.get(identity.id) ?? empty) }
}
