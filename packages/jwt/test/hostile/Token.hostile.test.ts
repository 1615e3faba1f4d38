/**
 * Hostile tokens through a real `JwtProvider` on the test kit's issuers (RS256 and ES256 keys served as
 * JWKS over 127.0.0.1), generated with fast-check (seeded). Each token is a mutation of a token minted valid
 * (characters flipped in each segment, segments swapped or repeated, dots and padding added, standard
 * base64 spellings, Unicode, header and payload re-encoded without a new signature) or a token signed by the
 * issuer's own key around a payload that must still be refused (duplicate members, deep nesting, numbers
 * beyond double range, JSON that is not an object).
 *
 * Every token goes through the synchronous lane (`authenticateNow`), the Effect path of the authenticator,
 * the provider's own Effect path, and an authenticator whose verifier caches verified tokens: none may throw
 * or die, all must decide alike, and only a token byte for byte equal to one minted valid may be accepted.
 */
import { AuthError, Authenticator, Credential } from "@effect-auth/core"
import { JwtProvider } from "@effect-auth/jwt"
import { Issuer, Tokens } from "@effect-auth/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import fc from "fast-check"
import { Buffer } from "node:buffer"
import { performance } from "node:perf_hooks"

const SEED = 0x70ce11
const RUNS = 700
/** A decision needs no I/O once the keys are cached; an unknown kid costs one local JWKS fetch. */
const MAX_MILLIS_SYNC = 250
const MAX_MILLIS_EFFECT = 3_000

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64url")
const unb64 = (segment: string) => Buffer.from(segment, "base64url").toString("utf8")
const jsonObject = (text: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}
const base64urlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/** Decisions in comparable form: `accept:<id>` or `<tag>:<reason>`. */
type Decision = string

const decisionOf = (result: Either.Either<{ readonly id: string }, AuthError.AuthError>): Decision =>
  Either.isRight(result)
    ? `accept:${result.right.id}`
    : `${result.left._tag}:${"reason" in result.left ? result.left.reason : ""}`

/** Runs an Effect decision; a defect or an interruption fails the test with the token that caused it. */
const runDecision = async (
  effect: Effect.Effect<{ readonly id: string }, AuthError.AuthError>,
  token: string
): Promise<{ readonly decision: Decision; readonly millis: number }> => {
  const start = performance.now()
  const exit = await Effect.runPromiseExit(effect)
  const millis = performance.now() - start
  if (Exit.isSuccess(exit)) return { decision: decisionOf(Either.right(exit.value)), millis }
  const failure = Cause.failureOption(exit.cause)
  assert(failure._tag === "Some", `not a typed refusal for ${JSON.stringify(token)}: ${Cause.pretty(exit.cause)}`)
  return { decision: decisionOf(Either.left(failure.value)), millis }
}

// ---------------------------------------------------------------------------------------------------------
// Mutations of a valid token

type Mutation = (token: string) => string

const segmentsOf = (token: string) => token.split(".")
const onSegment =
  (index: number, change: (segment: string) => string): Mutation =>
  (token) =>
    segmentsOf(token)
      .map((segment, i) => (i === index ? change(segment) : segment))
      .join(".")

const segmentArb = fc.integer({ min: 0, max: 2 })
/** Where in a segment: anywhere, and the last character (whose unused low bits a lax decoder ignores). */
const positionArb = fc.oneof(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.constant(1))
const at = (segment: string, where: number) => Math.min(segment.length - 1, Math.floor(where * segment.length))

const replaceAt = (segment: string, index: number, text: string) =>
  `${segment.slice(0, index)}${text}${segment.slice(index + 1)}`

const mutationArb: fc.Arbitrary<{ readonly label: string; readonly apply: Mutation }> = fc.oneof(
  // Another base64url character at one place: a changed bit, or unused low bits in the last character.
  fc.tuple(segmentArb, positionArb, fc.integer({ min: 1, max: 63 })).map(([s, where, shift]) => ({
    label: `char ${s}@${where} +${shift}`,
    apply: onSegment(s, (seg) => {
      const i = at(seg, where)
      const next = base64urlAlphabet[(base64urlAlphabet.indexOf(seg[i]!) + shift) % 64]!
      return replaceAt(seg, i, next)
    })
  })),
  // One bit of the character code itself, which may leave the alphabet.
  fc.tuple(segmentArb, positionArb, fc.integer({ min: 0, max: 6 })).map(([s, where, bit]) => ({
    label: `bit ${s}@${where}^${bit}`,
    apply: onSegment(s, (seg) => {
      const i = at(seg, where)
      return replaceAt(seg, i, String.fromCharCode(seg.charCodeAt(i) ^ (1 << bit)))
    })
  })),
  // A byte of the decoded segment flipped and the segment re-encoded canonically.
  fc.tuple(segmentArb, positionArb, fc.integer({ min: 0, max: 7 })).map(([s, where, bit]) => ({
    label: `byte ${s}@${where}^${bit}`,
    apply: onSegment(s, (seg) => {
      const bytes = Buffer.from(seg, "base64url")
      const i = Math.min(bytes.length - 1, Math.floor(where * bytes.length))
      bytes[i] = bytes[i]! ^ (1 << bit)
      return bytes.toString("base64url")
    })
  })),
  fc
    .constantFrom<ReadonlyArray<number>>([1, 0, 2], [0, 2, 1], [2, 1, 0], [0, 0, 2], [0, 1, 1], [1, 1, 2])
    .map((order) => ({
      label: `segments ${order.join("")}`,
      apply: (token: string) => order.map((i) => segmentsOf(token)[i]).join(".")
    })),
  fc
    .constantFrom<Mutation>(
      (t) => `${t}.`,
      (t) => `.${t}`,
      (t) => `${t}..`,
      (t) => t.replace(".", ".."),
      (t) => `${t}.${segmentsOf(t)[2]}`,
      (t) => segmentsOf(t).slice(0, 2).join("."),
      (t) => `${segmentsOf(t).slice(0, 2).join(".")}.`,
      (t) => t.replace(/\.[^.]*$/, ".")
    )
    .map((apply) => ({ label: "dots", apply })),
  fc.tuple(segmentArb, fc.constantFrom("=", "==", "===", "%3D")).map(([s, pad]) => ({
    label: `padding ${s}${pad}`,
    apply: onSegment(s, (seg) => `${seg}${pad}`)
  })),
  // Standard base64 spellings of the same bytes, in one segment or all of them.
  fc.option(segmentArb, { nil: undefined }).map((s) => ({
    label: `standard base64 ${s ?? "all"}`,
    apply: (token: string) =>
      segmentsOf(token)
        .map((seg, i) => (s === undefined || s === i ? seg.replace(/-/g, "+").replace(/_/g, "/") : seg))
        .join(".")
  })),
  fc
    .tuple(segmentArb, positionArb, fc.constantFrom("é", "\u00a0", "\u200b", "Ａ", "\ud800", "\u0000", " "))
    .map(([s, where, text]) => ({
      label: `unicode ${s}@${where}`,
      apply: onSegment(s, (seg) => `${seg.slice(0, at(seg, where))}${text}${seg.slice(at(seg, where))}`)
    })),
  // Header or payload re-encoded around a change, with the original signature: it must not verify.
  fc
    .constantFrom<(json: Record<string, unknown>, segment: number) => string>(
      (json, s) => JSON.stringify(s === 0 ? { ...json, alg: "none" } : { ...json, sub: "admin" }),
      (json, s) => JSON.stringify(s === 0 ? { ...json, alg: "HS256" } : { ...json, exp: 9_999_999_999 }),
      (json, s) =>
        JSON.stringify(s === 0 ? { ...json, kid: `${String(json.kid)}x` } : { ...json, iss: "https://elsewhere.test" }),
      (json) => JSON.stringify(json, null, 1),
      (json) => `${JSON.stringify(json).slice(0, -1)},"sub":"admin"}`,
      (json) => ` ${JSON.stringify(json)}`
    )
    .chain((edit) =>
      fc.integer({ min: 0, max: 1 }).map((s) => ({
        label: `re-encoded ${s}`,
        apply: onSegment(s, (seg) => {
          const json = jsonObject(unb64(seg))
          // A segment that is no JSON object (a hostile payload) is changed by a leading space instead.
          return b64(json === undefined ? ` ${unb64(seg)}` : edit(json, s))
        })
      }))
    )
)

// ---------------------------------------------------------------------------------------------------------
// Payloads the issuer's own key signs that must be refused all the same

const deep = (depth: number, leaf: string) => `${"[".repeat(depth)}${leaf}${"]".repeat(depth)}`

const hostilePayloads = (issuer: string, now: number): ReadonlyArray<string> => {
  const base = `"iss":${JSON.stringify(issuer)},"aud":"api","iat":${now}`
  return [
    `{${base},"sub":"alice","exp":${now + 600},"sub":"admin"}`,
    `{${base},"sub":"alice","exp":${now + 600},"s\\u0075b":"admin"}`,
    `{${base},"sub":"alice","exp":${now + 600},"aud":"other"}`,
    `{${base},"sub":"alice","exp":1e400}`,
    `{${base},"sub":"alice","exp":${now + 600},"nbf":1e400}`,
    `{${base},"sub":"alice","exp":-1e400}`,
    `{"iss":${JSON.stringify(issuer)},"aud":"api","sub":"alice","exp":${now + 600},"iat":1e400}`,
    `{${base},"sub":"alice","exp":"${now + 600}"}`,
    `{${base},"sub":"alice","exp":1e-400}`,
    `{${base},"sub":"alice"}`,
    `{"iss":${JSON.stringify(issuer)},"aud":${deep(2_000, '"api"')},"sub":"alice","exp":${now + 600}}`,
    `{${base},"sub":"alice","exp":${deep(2_000, String(now + 600))}}`,
    `{${base},"sub":${deep(2_000, '"alice"')},"exp":${now + 600},"x":${deep(1_000, "{}")}}`,
    "[]",
    "null",
    "1",
    '"alice"',
    "true",
    `[{${base},"sub":"alice","exp":${now + 600}}]`,
    `{${base},"sub":"alice","exp":${now + 600}`,
    `{${base},"sub":"alice","exp":${now + 600}}\u0000`
  ]
}

// ---------------------------------------------------------------------------------------------------------

const withHttp = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.provide(self, NodeHttpClient.layerUndici)

describe("JWT decisions on hostile tokens (fast-check)", () => {
  it.scopedLive(
    "never throw or die, decide alike on every lane, and accept only tokens minted valid",
    () =>
      withHttp(
        Effect.gen(function* () {
          const rsa = yield* Issuer.scoped()
          const ec = yield* Issuer.scoped({ algorithm: "ES256", issuerPath: "/tenant-2" })
          const issuers = (cache: boolean) => [
            JwtProvider.issuer({
              issuer: rsa.issuer,
              audience: "api",
              name: "rsa",
              ...(cache ? { verifier: { cache: { maxEntries: 64 } } } : {})
            }),
            JwtProvider.issuer({
              issuer: ec.issuer,
              audience: "api",
              algorithms: ["ES256"],
              name: "ec",
              ...(cache ? { verifier: { cache: { maxEntries: 64 } } } : {})
            })
          ]
          const provider = yield* JwtProvider.provider(issuers(false))
          const cachedProvider = yield* JwtProvider.provider(issuers(true))
          const authenticator = yield* Authenticator.make({ providers: [provider] })
          const cached = yield* Authenticator.make({ providers: [cachedProvider] })

          const now = Math.floor(Date.now() / 1000)
          const valid = yield* Effect.promise(() =>
            Promise.all([
              rsa.mint({}, { audience: "api", subject: "alice" }),
              rsa.mint({ groups: ["admin"] }, { audience: "api", subject: "bob" }),
              ec.mint({}, { audience: "api", subject: "carol" }),
              ec.mint({ scope: "a b" }, { audience: "api", subject: "dave" })
            ])
          )
          // Good claims under a header the key signs, to show the header alone is refused.
          const claimsOf = (kit: Issuer.Issuer) => ({ iss: kit.issuer, aud: "api", sub: "alice", exp: now + 600 })
          const signedHostile = yield* Effect.promise(() =>
            Promise.all(
              [rsa, ec].flatMap((kit) => [
                ...hostilePayloads(kit.issuer, now).map((payload) =>
                  Tokens.sign(kit.currentKey, { alg: kit.currentKey.alg, kid: kit.currentKey.kid, typ: "JWT" }, payload)
                ),
                // Headers the key signs that are no valid header.
                Tokens.sign(
                  kit.currentKey,
                  `{"alg":"${kit.currentKey.alg}","kid":"${kit.currentKey.kid}","alg":"none"}`,
                  claimsOf(kit)
                ),
                Tokens.sign(
                  kit.currentKey,
                  `[${JSON.stringify({ alg: kit.currentKey.alg, kid: kit.currentKey.kid })}]`,
                  claimsOf(kit)
                ),
                Tokens.sign(
                  kit.currentKey,
                  `{"alg":"${kit.currentKey.alg}","kid":${deep(2_000, `"${kit.currentKey.kid}"`)}}`,
                  claimsOf(kit)
                )
              ])
            )
          )
          const validSet = new Set(valid)

          // Keys fetched once, so the synchronous lane can answer from here on.
          for (const token of valid) {
            expect(yield* authenticator.authenticate({ authorization: `Bearer ${token}` })).toBeDefined()
          }

          const tally = new Map<string, number>()
          let lanesAnswered = 0
          const property = fc.asyncProperty(
            fc.oneof(
              { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...valid), mutationArb) },
              { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...signedHostile), mutationArb) },
              { weight: 2, arbitrary: fc.constantFrom(...signedHostile).map((t) => [t, undefined] as const) },
              { weight: 1, arbitrary: fc.constantFrom(...valid).map((t) => [t, undefined] as const) }
            ),
            async ([original, mutation]) => {
              const token = mutation === undefined ? original : mutation.apply(original)
              const headers = { authorization: `Bearer ${token}` }

              const syncStart = performance.now()
              const now = authenticator.authenticateNow?.(headers, Date.now())
              expect(performance.now() - syncStart).toBeLessThan(MAX_MILLIS_SYNC)

              const viaAuthenticator = await runDecision(authenticator.authenticate(headers), token)
              const viaCache = await runDecision(cached.authenticate(headers), token)
              // The provider's own Effect path, without the authenticator's synchronous shortcut (for the tokens
              // it takes: one that is not JWT-shaped is left to other providers, here none).
              const credential = Credential.parse(headers)
              const viaProvider =
                credential instanceof AuthError.InvalidCredentials ||
                credential instanceof AuthError.MissingCredentials ||
                !provider.accepts(credential)
                  ? undefined
                  : await runDecision(
                      Effect.map(provider.authenticate(credential), (i) => ({ id: i.id })),
                      token
                    )

              const decision = viaAuthenticator.decision
              const context = `${mutation?.label ?? "unchanged"}: ${JSON.stringify(token.slice(0, 200))}`
              expect(viaAuthenticator.millis, context).toBeLessThan(MAX_MILLIS_EFFECT)
              expect(viaCache.decision, context).toBe(decision)
              if (viaProvider !== undefined) expect(viaProvider.decision, context).toBe(decision)
              if (now !== undefined) {
                lanesAnswered++
                expect(decisionOf(now), context).toBe(decision)
              }
              // Only a token minted valid, byte for byte, is ever accepted; and each of those is. What counts is
              // the token the parser hands on: whitespace around it is not part of it.
              const presented = credential._tag === "Bearer" ? Credential.bearerToken(credential) : undefined
              expect(decision.startsWith("accept:"), context).toBe(presented !== undefined && validSet.has(presented))
              if (presented !== undefined) expect(presented, context).toBe(presented.trim())
              tally.set(decision, (tally.get(decision) ?? 0) + 1)
            }
          )
          yield* Effect.promise(() => fc.assert(property, { seed: SEED, numRuns: RUNS }))

          // The arbitraries reach the parser, the signature check and the claim checks, not one refusal only.
          const reasons = [...tally.keys()]
          for (const expected of [
            "InvalidCredentials:malformed",
            "InvalidToken:malformed",
            "InvalidToken:bad-signature",
            "InvalidToken:unknown-key",
            "InvalidToken:unknown-issuer",
            "InvalidToken:invalid-claim",
            "InvalidToken:expired"
          ]) {
            expect(reasons, JSON.stringify([...tally])).toContain(expected)
          }
          expect(reasons.some((reason) => reason.startsWith("accept:"))).toBe(true)
          expect(tally.size).toBeGreaterThan(6)
          // Most decisions were made on the synchronous lane too, so the comparison above was exercised.
          expect(lanesAnswered).toBeGreaterThan(RUNS / 2)
        })
      ),
    60_000
  )
})
