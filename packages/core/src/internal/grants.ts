import * as Effect from "effect/Effect"
import type { GrantsLookup } from "../Identity.js"

const empty: ReadonlyArray<string> = []

/**
 * Reads names from the first present claim: an array of strings, or one space- or comma-separated string
 * (OAuth `scope` style). Other values are ignored: claims are data the issuer signed, not code.
 */
export const namesFromClaims = (claims: Readonly<Record<string, unknown>>, names: ReadonlyArray<string>) => {
  for (const name of names) {
    const value = claims[name]
    if (typeof value === "string") return value.split(/[\s,]+/).filter((part) => part.length > 0)
    if (Array.isArray(value)) return value.filter((part): part is string => typeof part === "string")
  }
  return empty
}

export const fromClaims = (claimNames: ReadonlyArray<string>): GrantsLookup => ({
  lookup: (identity) => Effect.succeed(namesFromClaims(identity.claims, claimNames))
})

export const fromStatic = (byPrincipalId: Readonly<Record<string, ReadonlyArray<string>>>): GrantsLookup => {
  const map = new Map(Object.entries(byPrincipalId))
  return { lookup: (identity) => Effect.succeed(map.get(identity.id) ?? empty) }
}
