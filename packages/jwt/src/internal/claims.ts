/**
 * Reading claims. Callers read the claim themselves (`claims.sub`, `claims[mapping.id]`) and pass its value:
 * a property read in one helper for every claim name would see many names at one site, which V8 handles by
 * a slow generic lookup, on every request.
 */

/** Whether a value is a non-empty string (claims, and the names and lists of options). */
export const isNonEmptyString = (value: unknown): value is string => typeof value === "string" && value.length > 0

/** A claim's value when it is a non-empty string. */
export const nonEmptyString = (value: unknown): string | undefined => (isNonEmptyString(value) ? value : undefined)
