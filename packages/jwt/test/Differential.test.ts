/**
 * Differential test of the verifier's `node:crypto` fast path. The same tokens (the security suite's and a
 * generated corpus) go through the fast path, the jose engine and bare `jose.jwtVerify` with equivalent
 * options: the two engines must decide every token alike, with the same reason, and the fast path may
 * accept only what jose accepts. Where jose accepts and the fast path refuses, the token is listed below
 * with the stricter rule that refuses it, so a new difference fails the test.
 */
import type { AuthError } from "@effect-auth/core"
import { JwtVerifier, KeySet } from "@effect-auth/jwt"
import { Keys } from "@effect-auth/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import { createLocalJWKSet, jwtVerify } from "jose"
import type { JSONWebKeySet, JWTVerifyOptions } from "jose"
import { constants, createPublicKey, generateKeyPairSync, KeyObject, sign, verify } from "node:crypto"
import * as Security from "./fixtures/securityCases.js"
import * as Corpus from "./fixtures/tokenCorpus.js"

/** Both fixtures verify at the same instant. */
const T0 = Security.T0

interface Subject {
  readonly label: string
  readonly token: string
  readonly options: JwtVerifier.Options
  readonly jwks: JSONWebKeySet
}

const subjects: ReadonlyArray<Subject> = [
  ...Security.cases.map((c) => ({
    label: `security: ${c.name}`,
    token: c.token,
    options: Security.verifierOptions[c.verifier ?? "default"],
    jwks: Security.jwks
  })),
  ...Corpus.tokens.map((t) => ({ label: t.label, token: t.token, options: Corpus.options, jwks: Corpus.jwks }))
]

/** `accept`, or the refusal reason (an error tag for anything but `InvalidToken`). */
type Decision = string

/**
 * How the node engine gets its keys: `"now"` through `keysForNow` (the synchronous lane every in-memory
 * key set takes), `"effect"` through `keysFor` only (the lane a source that must wait takes).
 */
type Lane = "now" | "effect"

/** `accept`, or the refusal's reason. */
const decisionOf = (
  verification: Effect.Effect<unknown, AuthError.InvalidToken | AuthError.ProviderUnavailable>
): Effect.Effect<Decision> =>
  verification.pipe(
    Effect.as("accept"),
    Effect.catchAll((error) => Effect.succeed(error._tag === "InvalidToken" ? error.reason : error._tag))
  )

/** Every subject's decision by one engine, at T0. */
const decideAll = (engine: "node" | "jose", lane: Lane = "now") =>
  Effect.gen(function* () {
    yield* TestClock.setTime(T0 * 1000)
    const keySets = new Map<unknown, KeySet.KeySet>()
    const verifiers = new Map<JwtVerifier.Options, JwtVerifier.JwtVerifier>()
    const decisions = new Map<string, Decision>()
    for (const { jwks, label, options, token } of subjects) {
      let keys = keySets.get(jwks)
      if (keys === undefined) {
        keys = yield* KeySet.fromJwks(jwks)
        keySets.set(jwks, keys)
      }
      let verifier = verifiers.get(options)
      if (verifier === undefined) {
        verifier = yield* JwtVerifier.make({ ...options, engine })
        verifiers.set(options, verifier)
      }
      const source: KeySet.KeySource = lane === "now" ? keys : { keysFor: keys.keysFor }
      decisions.set(label, yield* decisionOf(verifier.verify(token, source)))
    }
    return decisions
  })

const seconds = (input: Duration.DurationInput): number => Duration.toSeconds(Duration.decode(input))

/** The verifier's options spelt for `jose.jwtVerify`. */
const joseOptions = (options: JwtVerifier.Options): JWTVerifyOptions => {
  const list = (value: string | ReadonlyArray<string>): Array<string> =>
    typeof value === "string" ? [value] : [...value]
  if (typeof options.issuer === "function") throw new Error("an issuer predicate has no jose equivalent")
  if (options.typ !== undefined && typeof options.typ !== "string") throw new Error("jose takes one typ")
  return {
    algorithms: [...options.algorithms],
    issuer: list(options.issuer),
    ...(options.audience === undefined ? {} : { audience: list(options.audience) }),
    clockTolerance: seconds(options.clockTolerance ?? JwtVerifier.defaultClockTolerance),
    currentDate: new Date(T0 * 1000),
    ...(options.typ === undefined ? {} : { typ: options.typ }),
    requiredClaims: ["exp", ...(options.requiredClaims ?? [])],
    ...(options.maxAge === undefined ? {} : { maxTokenAge: seconds(options.maxAge) }),
    crit: Object.fromEntries((options.understoodCriticalHeaders ?? []).map((name) => [name, true]))
  }
}

const isJoseError = (error: unknown): error is { readonly code: string; readonly [Symbol.asyncIterator]?: unknown } =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"

/** Bare jose's decision: `accept` or its error code. Several keys for one kid are each tried, as jose documents. */
const joseDecision = async (subject: Subject, getKey: ReturnType<typeof createLocalJWKSet>): Promise<Decision> => {
  const options = joseOptions(subject.options)
  try {
    await jwtVerify(subject.token, getKey, options)
    return "accept"
  } catch (error) {
    if (!isJoseError(error)) return `thrown: ${String(error)}`
    if (error.code !== "ERR_JWKS_MULTIPLE_MATCHING_KEYS" || !isAsyncIterable(error)) return error.code
    let last = error.code
    for await (const key of error) {
      try {
        await jwtVerify(subject.token, key, options)
        return "accept"
      } catch (inner) {
        last = isJoseError(inner) ? inner.code : String(inner)
      }
    }
    return last
  }
}

const isAsyncIterable = (u: object): u is AsyncIterable<CryptoKey> =>
  Symbol.asyncIterator in u && typeof u[Symbol.asyncIterator] === "function"

/**
 * Tokens jose accepts and the fast path refuses, each by a documented stricter rule of this package:
 * a size limit checked before parsing (`too-large`); strict base64url (jose skips whitespace and accepts
 * unused bits set), no duplicate JSON members, no byte-order mark (`malformed`); finite non-negative
 * dates, string `sub` and `aud` entries (`invalid-claim`); `kid` at most 256 characters (`malformed`);
 * the key binding rules of `KeySet` (`unknown-key`); `iat` in the future refused even without `maxAge`
 * (`issued-in-future`); no `crit` extension unless the application lists it, `b64` included
 * (`unsupported-critical-header`).
 */
const stricterThanJose: Readonly<Record<string, string>> = {
  'security: crit ["b64"] (jose itself understands b64)': "unsupported-critical-header",
  "security: iat in the future": "issued-in-future",
  "security: oversized (> 8 KiB), validly signed": "too-large",
  "security: exp 1e400 (Infinity once parsed)": "invalid-claim",
  "security: non-canonical base64url (unused bits set)": "malformed",
  "security: payload with a byte-order mark": "malformed",
  "security: duplicate claims in the raw JSON": "malformed",
  "security: duplicate alg in the header": "malformed",
  "security: RSA key with e = 1, signature forged without a private key (the key is skipped)": "unknown-key",
  ...Object.fromEntries(
    Corpus.algorithms.flatMap((alg) => [
      [`${alg} exp 1e400`, "invalid-claim"],
      [`${alg} nbf negative`, "invalid-claim"],
      [`${alg} sub a number`, "invalid-claim"],
      [`${alg} aud list with a number`, "invalid-claim"],
      [`${alg} payload with a byte-order mark`, "malformed"],
      [`${alg} header with a byte-order mark`, "malformed"],
      [`${alg} duplicate sub`, "malformed"],
      [`${alg} duplicate iss, the last one ours`, "malformed"],
      [`${alg} duplicate kid in the header`, "malformed"],
      [`${alg} duplicate member in a nested object`, "malformed"],
      [`${alg} payload spelt non-canonically`, "malformed"],
      [`${alg} a space in the signature`, "malformed"]
    ])
  ),
  "EdDSA kid of 300 characters naming a published key": "malformed",
  "RS256 key published with a leading zero byte in e": "unknown-key"
}

const listed = (labels: ReadonlyArray<string>, decisions?: ReadonlyMap<string, Decision>) =>
  labels.map((label) => `  ${label}${decisions ? ` (${decisions.get(label)})` : ""}`).join("\n")

/** Claims valid at T0, for the hand-made tokens below. */
const claimsJson = JSON.stringify({ iss: Security.ISSUER, aud: Security.AUDIENCE, sub: "u", iat: T0, exp: T0 + 60 })
const b64 = (data: string | Uint8Array) => Buffer.from(data).toString("base64url")

/** One token's decision by one engine over `source`, allowing `alg` only. */
const decideOne = (engine: "node" | "jose", alg: KeySet.Algorithm, token: string, source: KeySet.KeySource) =>
  Effect.flatMap(
    JwtVerifier.make({ issuer: Security.ISSUER, audience: Security.AUDIENCE, algorithms: [alg], engine }),
    (verifier) => decisionOf(verifier.verify(token, source))
  )

describe("Differential", () => {
  it("has a few hundred tokens with distinct labels", () => {
    expect(subjects.length).toBeGreaterThanOrEqual(300)
    expect(new Set(subjects.map((s) => s.label)).size).toBe(subjects.length)
  })

  it.effect("the node and jose engines make the same decision, for the same reason, on every token", () =>
    Effect.gen(function* () {
      const node = yield* decideAll("node")
      const jose = yield* decideAll("jose")
      const disagreements = subjects
        .map((s) => s.label)
        .filter((label) => node.get(label) !== jose.get(label))
        .map((label) => `${label}: node ${node.get(label)}, jose ${jose.get(label)}`)
      expect(disagreements.length, `${disagreements.length} disagreements:\n${disagreements.join("\n")}`).toBe(0)
    })
  )

  it.effect("the node engine decides alike with keys at hand (no fiber) and keys awaited (Effect)", () =>
    Effect.gen(function* () {
      const now = yield* decideAll("node", "now")
      const awaited = yield* decideAll("node", "effect")
      const disagreements = subjects
        .map((s) => s.label)
        .filter((label) => now.get(label) !== awaited.get(label))
        .map((label) => `${label}: keysForNow ${now.get(label)}, keysFor ${awaited.get(label)}`)
      expect(disagreements.length, `${disagreements.length} disagreements:\n${disagreements.join("\n")}`).toBe(0)
      expect([...now.values()].filter((decision) => decision === "accept").length).toBeGreaterThan(0)
    })
  )

  it.effect("the fast path accepts only what bare jose accepts, and refuses more only by its stricter rules", () =>
    Effect.gen(function* () {
      const node = yield* decideAll("node")
      const getKeys = new Map<unknown, ReturnType<typeof createLocalJWKSet>>()
      const jose = new Map<string, Decision>()
      for (const subject of subjects) {
        let getKey = getKeys.get(subject.jwks)
        if (getKey === undefined) {
          getKey = createLocalJWKSet(subject.jwks)
          getKeys.set(subject.jwks, getKey)
        }
        const key = getKey
        jose.set(subject.label, yield* Effect.promise(() => joseDecision(subject, key)))
      }
      const labels = subjects.map((s) => s.label)
      const acceptedByNodeOnly = labels.filter((l) => node.get(l) === "accept" && jose.get(l) !== "accept")
      expect(
        acceptedByNodeOnly.length,
        `${acceptedByNodeOnly.length} tokens the fast path accepts and jose refuses:\n${listed(acceptedByNodeOnly, jose)}`
      ).toBe(0)
      const refusedByNodeOnly = Object.fromEntries(
        labels
          .filter((l) => jose.get(l) === "accept" && node.get(l) !== "accept")
          .map((l) => [l, node.get(l) ?? "none"])
      )
      expect(refusedByNodeOnly).toEqual(stricterThanJose)
    })
  )

  it.effect("the corpus covers every algorithm and category, and each token gets the decision it was built for", () =>
    Effect.gen(function* () {
      const node = yield* decideAll("node")
      const accepted = new Set(Corpus.tokens.filter((t) => node.get(t.label) === "accept").map((t) => t.alg))
      expect([...accepted].sort()).toEqual([...Corpus.algorithms].sort())
      const categories = new Set(Corpus.tokens.map((t) => t.category))
      const refusedCategories = new Set(
        Corpus.tokens.filter((t) => node.get(t.label) !== "accept").map((t) => t.category)
      )
      expect([...categories].filter((c) => c !== "valid" && !refusedCategories.has(c))).toEqual([])
      expect(categories.size).toBeGreaterThanOrEqual(35)
      const unexpected = Corpus.tokens
        .filter((t) => (node.get(t.label) === "accept") !== (t.expected === "accept"))
        .map((t) => t.label)
      expect(unexpected.length, `decided against their construction:\n${listed(unexpected, node)}`).toBe(0)
    })
  )

  // `KeySource` is public: an application's own source may hand over a key whose type does not fit the
  // algorithm it is offered for. `KeySet` never does; the signature check must not rely on that.
  describe("a key source offering a key of another type", () => {
    const ecKey = Keys.generate("ES256", { kid: "mixed" })
    const mixed: ReadonlyArray<{
      readonly label: string
      readonly alg: KeySet.Algorithm
      readonly key: "ec" | "rsa"
      readonly sign: (input: Buffer, keys: { readonly ec: KeyObject; readonly rsa: KeyObject }) => Buffer
    }> = [
      {
        label: "EdDSA header, P-256 key, DER ECDSA signature",
        alg: "EdDSA",
        key: "ec",
        sign: (i, k) => sign("sha256", i, k.ec)
      },
      {
        label: "RS256 header, P-256 key, DER ECDSA signature",
        alg: "RS256",
        key: "ec",
        sign: (i, k) => sign("sha256", i, k.ec)
      },
      {
        label: "EdDSA header, RSA key, PKCS#1 v1.5 signature",
        alg: "EdDSA",
        key: "rsa",
        sign: (i, k) => sign("sha256", i, k.rsa)
      },
      {
        label: "PS256 header, P-256 key, DER ECDSA signature",
        alg: "PS256",
        key: "ec",
        sign: (i, k) => sign("sha256", i, k.ec)
      },
      {
        label: "ES256 header, RSA key, PKCS#1 v1.5 signature",
        alg: "ES256",
        key: "rsa",
        sign: (i, k) => sign("sha256", i, { key: k.rsa, padding: constants.RSA_PKCS1_PADDING })
      }
    ]

    it.effect("both engines refuse, for the same reason", () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(T0 * 1000)
        const ec = yield* Effect.promise(() => ecKey)
        const privateKeys = { ec: KeyObject.from(ec.privateKey), rsa: KeyObject.from(Security.rsa.privateKey) }
        const publicKeys = {
          ec: createPublicKey({ key: { ...ec.publicJwk }, format: "jwk" }),
          rsa: createPublicKey({ key: { ...Security.rsa.publicJwk }, format: "jwk" })
        }
        const outcomes: Array<string> = []
        for (const { alg, key, label, sign: signWith } of mixed) {
          const source: KeySet.KeySource = {
            keysFor: () => Effect.succeed([{ kid: "mixed", alg, key: publicKeys[key], jwk: {} }])
          }
          const input = `${b64(JSON.stringify({ alg, kid: "mixed" }))}.${b64(claimsJson)}`
          const token = `${input}.${b64(signWith(Buffer.from(input), privateKeys))}`
          const node = yield* decideOne("node", alg, token, source)
          const jose = yield* decideOne("jose", alg, token, source)
          if (node !== jose || node === "accept") outcomes.push(`${label}: node ${node}, jose ${jose}`)
        }
        expect(outcomes.length, `${outcomes.length} disagreements or acceptances:\n${outcomes.join("\n")}`).toBe(0)
      })
    )
  })
})

describe("Differential, signatures with a second spelling or a weak key", () => {
  it.effect("a 1024-bit RSA key from a custom key source verifies nothing, on both engines", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(T0 * 1000)
      const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 1024 })
      const input = `${b64(JSON.stringify({ alg: "RS256", kid: "small" }))}.${b64(claimsJson)}`
      const token = `${input}.${b64(sign("sha256", Buffer.from(input), privateKey))}`
      const source: KeySet.KeySource = {
        keysFor: () => Effect.succeed([{ kid: "small", alg: "RS256", key: publicKey, jwk: {} }])
      }
      expect(verify("sha256", Buffer.from(input), publicKey, Buffer.from(token.split(".")[2] ?? "", "base64url"))).toBe(
        true
      )
      expect(yield* decideOne("node", "RS256", token, source)).toBe("bad-signature")
      expect(yield* decideOne("jose", "RS256", token, source)).toBe("bad-signature")
    })
  )

  it.effect("a PSS signature without its leading zero byte is refused, though RSA math would accept it", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(T0 * 1000)
      const key = yield* Effect.promise(() => Keys.generate("PS256", { kid: "pss" }))
      const privateKey = KeyObject.from(key.privateKey)
      const input = `${b64(JSON.stringify({ alg: "PS256", kid: "pss" }))}.${b64(claimsJson)}`
      const pss = { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
      // PSS is randomized: about one signature in 256 starts with a zero byte.
      let signature = sign("sha256", Buffer.from(input), pss)
      while (signature[0] !== 0) signature = sign("sha256", Buffer.from(input), pss)
      const keys = yield* KeySet.fromJwks({ keys: [key.publicJwk] })
      const full = `${input}.${b64(signature)}`
      const short = `${input}.${b64(signature.subarray(1))}`
      const publicKey = createPublicKey({ key: { ...key.publicJwk }, format: "jwk" })
      const shortVerifies = verify(
        "sha256",
        Buffer.from(input),
        { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
        signature.subarray(1)
      )
      expect(shortVerifies).toBe(true)
      for (const engine of ["node", "jose"] as const) {
        expect(yield* decideOne(engine, "PS256", full, keys)).toBe("accept")
        expect(yield* decideOne(engine, "PS256", short, keys)).toBe("bad-signature")
      }
    })
  )
})
