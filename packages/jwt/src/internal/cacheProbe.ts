/**
 * The verified-token cache probes of the issuers this package builds, so `JwtProvider` can answer a cached
 * token before reading it. Kept out of the `Issuer` interface on purpose: a copy or a wrapper of an issuer
 * (`{ ...issuer, verify: withMoreChecks }`) is another object, so it is never probed and its added checks
 * are never skipped.
 */
import type { AuthError } from "@effect-auth/core"
import type * as Either from "effect/Either"
import type { Verified } from "../JwtVerifier.js"

/** The issuer's answer for a token its cache holds (then every check its `verify` adds), or `undefined`. */
export type CacheProbe = (
  token: string,
  nowMillis: number
) => Either.Either<Verified, AuthError.InvalidToken> | undefined

const probes = new WeakMap<object, CacheProbe>()

/** Records the probe of an issuer built here; returns the issuer. */
export const register = <I extends object>(issuer: I, probe: CacheProbe): I => {
  probes.set(issuer, probe)
  return issuer
}

/** The probe of an issuer built here, or `undefined` for any other object. */
export const probeOf = (issuer: object): CacheProbe | undefined => probes.get(issuer)
