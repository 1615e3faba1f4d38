/**
 * Minting JWTs for tests: well-formed tokens with sensible defaults (`mint`), and exact, hand-made
 * compact JWS (`sign`) for the malicious tokens a verifier must refuse.
 *
 * @since 0.1.0
 */
import { CompactSign, SignJWT } from "jose"
import type { CompactJWSHeaderParameters, CritOption, JWTPayload } from "jose"
import { Buffer } from "node:buffer"
import { joseCanSign, signParams } from "./internal/algorithms.js"
import type { SigningKey } from "./Keys.js"

/**
 * Options of `mint`.
 *
 * @since 0.1.0
 */
export interface MintOptions {
  readonly key: SigningKey
  /** Merged over the defaults (`iat`, `exp`, `iss`, `sub`, `aud`); a claim set to `undefined` is removed. */
  readonly claims?: Record<string, unknown> | undefined
  /** Merged over `{ alg: key.alg, kid: key.kid, typ: "JWT" }`; a member set to `undefined` is removed. */
  readonly header?: Record<string, unknown> | undefined
  readonly issuer?: string | undefined
  readonly audience?: string | ReadonlyArray<string> | undefined
  readonly subject?: string | undefined
  /** Seconds from `now` to `exp`, default 3600 (negative: already expired). */
  readonly expiresIn?: number | undefined
  /** Epoch seconds used for `iat` and `exp`, default the current time. */
  readonly now?: number | undefined
}

/**
 * Mints a signed JWT (compact JWS). Unusual headers jose would refuse to produce (an `alg` that is not
 * the key's, no `alg`, a malformed `crit`) are signed as given with the key's own algorithm instead.
 *
 * @example
 * const token = await Tokens.mint({ key, issuer: "https://issuer.test", audience: "api", claims: { scope: "read" } })
 * const noExp = await Tokens.mint({ key, claims: { exp: undefined } })
 *
 * @since 0.1.0
 */
export const mint = async (options: MintOptions): Promise<string> => {
  const { key } = options
  const now = options.now ?? Math.floor(Date.now() / 1000)
  const defaults: Record<string, unknown> = {
    iss: options.issuer,
    sub: options.subject,
    aud:
      typeof options.audience === "string" || options.audience === undefined ? options.audience : [...options.audience],
    iat: now,
    exp: now + (options.expiresIn ?? 3600)
  }
  const claims = defined({ ...defaults, ...options.claims })
  const header = defined({ alg: key.alg, kid: key.kid, typ: "JWT", ...options.header })
  if (!usesJose(key, header)) return sign(key, header, claims)
  const payload: JWTPayload = claims
  return new SignJWT(payload).setProtectedHeader(joseHeader(key, header)).sign(key.privateKey, critOption(header))
}

/**
 * Signs exactly this header and payload with `key`, no defaults added: the tool for malicious tokens
 * (`crit`, embedded `jwk`, `jku`, `alg` confusion, duplicate members...). An object payload is
 * serialised with `JSON.stringify`; a string (or bytes) is used verbatim as the payload, so it may
 * hold duplicate keys or invalid JSON. A string header is likewise used verbatim as the header JSON.
 * The signature is always made with the key's own algorithm, whatever the header claims.
 *
 * @example
 * const token = await Tokens.sign(key, { alg: key.alg, kid: key.kid }, '{"sub":"alice","sub":"admin"}')
 *
 * @since 0.1.0
 */
export const sign = async (
  key: SigningKey,
  header: Record<string, unknown> | string,
  payload: unknown
): Promise<string> => {
  const bytes = payloadBytes(payload)
  if (typeof header !== "string" && usesJose(key, header)) {
    return new CompactSign(bytes).setProtectedHeader(joseHeader(key, header)).sign(key.privateKey, critOption(header))
  }
  // jose will not produce this token (it validates what it signs), so build the JWS by hand.
  const encodedHeader = Buffer.from(typeof header === "string" ? header : JSON.stringify(header)).toString("base64url")
  const signingInput = `${encodedHeader}.${Buffer.from(bytes).toString("base64url")}`
  const signature = await crypto.subtle.sign(
    signParams(key.alg),
    key.privateKey,
    new TextEncoder().encode(signingInput)
  )
  return `${signingInput}.${Buffer.from(signature).toString("base64url")}`
}

const defined = (record: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined))

const payloadBytes = (payload: unknown): Uint8Array => {
  if (payload instanceof Uint8Array) return payload
  const text = typeof payload === "string" ? payload : JSON.stringify(payload)
  if (text === undefined) throw new TypeError("Tokens.sign: the payload cannot be serialised as JSON")
  return new TextEncoder().encode(text)
}

/** jose signs only well-formed JWS whose `alg` matches the key; anything else goes through WebCrypto. */
const usesJose = (key: SigningKey, header: Record<string, unknown>): boolean =>
  header.alg === key.alg && joseCanSign(key.privateKey) && critAcceptedByJose(header)

const critAcceptedByJose = (header: Record<string, unknown>): boolean => {
  const crit = header.crit
  if (crit === undefined) return true
  return (
    Array.isArray(crit) &&
    crit.length > 0 &&
    new Set(crit).size === crit.length &&
    crit.every((name) => typeof name === "string" && name.length > 0 && header[name] !== undefined) &&
    (!crit.includes("b64") || typeof header.b64 === "boolean")
  )
}

/** `usesJose` checked that the header's `alg` is the key's; this says so to the type checker. */
const joseHeader = (key: SigningKey, header: Record<string, unknown>): CompactJWSHeaderParameters => ({
  ...header,
  alg: key.alg
})

/** Tells jose every extension listed in `crit` is understood, so it signs the header as given. */
const critOption = (header: Record<string, unknown>): CritOption => {
  const crit = header.crit
  return Array.isArray(crit)
    ? { crit: Object.fromEntries(crit.filter((name) => typeof name === "string").map((name) => [name, true])) }
    : {}
}
