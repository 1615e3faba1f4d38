// JWT verification throughput, per core, of effect-auth and its peers on the same tokens, beside the
// physical limit (one raw signature check with node:crypto), all in one run. Imports the BUILT packages
// (what users run): build first (`npm run build`). Writes its section of bench/RESULTS.md unless
// `--no-write` is given.
//
// Harness: every case verifies tokens in a tight loop for a fixed time; the cases are run round-robin (one
// warm-up round, then ROUNDS measured rounds) so that drift of the machine hits them all alike, and the
// median ops/s of the rounds is reported. Asynchronous cases await each verification before the next.
import { Authenticator } from "@effect-auth/core"
import { JwtProvider, JwtVerifier, KeySet } from "@effect-auth/jwt"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { JwtVerifier as AwsJwtVerifier } from "aws-jwt-verify"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import { createVerifier } from "fast-jwt"
import * as jose from "jose"
import jsonwebtoken from "jsonwebtoken"
import { Buffer } from "node:buffer"
import { generateKeyPairSync, randomUUID, sign, verify, webcrypto } from "node:crypto"
import { createServer } from "node:http"
import * as Os from "node:os"
import { commit, cpuModel, dependencyVersion, packageVersion } from "./machine.mjs"
import { writeSection } from "./results.mjs"

// Many short rounds rather than a few long ones: the comparisons are paired per round (see "Harness").
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 61)
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 20)
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 200)
const DISTINCT = 2000
const ALL_ALGS = ["RS256", "ES256", "EdDSA"]
const ALGS = (process.env.BENCH_ALGS ?? ALL_ALGS.join(","))
  .split(",")
  .map((alg) => alg.trim())
  .filter((alg) => alg.length > 0)
for (const alg of ALGS) {
  if (!ALL_ALGS.includes(alg)) throw new Error(`BENCH_ALGS: unknown algorithm ${alg} (known: ${ALL_ALGS.join(", ")})`)
}
const write = !process.argv.includes("--no-write")

const ISSUER = "https://issuer.example.com"
const AUDIENCE = "api://bench"

// Defeats dead-code elimination: every case feeds its result into this.
let sink = 0
// Timed verifications that did not accept their valid token: any makes the run fail.
let refused = 0

const started = Date.now()
const loadAtStart = Os.loadavg()[0]

// --- Keys and tokens ------------------------------------------------------------------------------------------

/** How node:crypto and WebCrypto verify each algorithm. */
const algorithms = {
  RS256: {
    generate: () => generateKeyPairSync("rsa", { modulusLength: 2048 }),
    digest: "sha256",
    options: {},
    webcrypto: { name: "RSASSA-PKCS1-v1_5" },
    webImport: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
  },
  ES256: {
    generate: () => generateKeyPairSync("ec", { namedCurve: "P-256" }),
    digest: "sha256",
    // JWS signatures are r || s (IEEE P1363), not DER.
    options: { dsaEncoding: "ieee-p1363" },
    webcrypto: { name: "ECDSA", hash: "SHA-256" },
    webImport: { name: "ECDSA", namedCurve: "P-256" }
  },
  EdDSA: {
    generate: () => generateKeyPairSync("ed25519"),
    digest: null,
    options: {},
    webcrypto: { name: "Ed25519" },
    webImport: { name: "Ed25519" }
  }
}

const b64 = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url")

const signToken = (alg, privateKey, kid, claims) => {
  const input = `${b64({ alg, kid, typ: "JWT" })}.${b64(claims)}`
  const { digest, options } = algorithms[alg]
  return `${input}.${sign(digest, Buffer.from(input), { key: privateKey, ...options }).toString("base64url")}`
}

/** One byte of the payload changed (the last character of `jti`): still well-formed, signature now wrong. */
const tamper = (token) => {
  const [header, payload, signature] = token.split(".")
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString())
  claims.jti = `${claims.jti.slice(0, -1)}${claims.jti.endsWith("0") ? "1" : "0"}`
  return `${header}.${b64(claims)}.${signature}`
}

const fixtures = ALGS.map((alg) => {
  const { privateKey, publicKey } = algorithms[alg].generate()
  const kid = `bench-${alg.toLowerCase()}`
  const jwk = { ...publicKey.export({ format: "jwk" }), kid, alg, use: "sig" }
  const now = Math.floor(Date.now() / 1000)
  const claims = (i) => ({
    iss: ISSUER,
    aud: AUDIENCE,
    sub: `user-${i}`,
    iat: now,
    exp: now + 3600,
    jti: randomUUID()
  })
  const distinct = Array.from({ length: DISTINCT }, (_, i) => signToken(alg, privateKey, kid, claims(i)))
  return {
    alg,
    kid,
    publicKey,
    pem: publicKey.export({ type: "spki", format: "pem" }),
    jwk,
    jwks: { keys: [jwk] },
    sets: { repeated: [signToken(alg, privateKey, kid, claims("repeated"))], distinct },
    tampered: tamper(distinct[0]),
    expired: signToken(alg, privateKey, kid, { ...claims("expired"), iat: now - 7200, exp: now - 3600 })
  }
})

// --- The JWKS server and the provider's runtime -----------------------------------------------------------------

// A real HTTP server on loopback, one JWKS per algorithm, for the provider path's JWKS cache.
const server = createServer((request, response) => {
  const fixture = fixtures.find((f) => request.url === `/jwks/${f.alg}.json`)
  if (fixture === undefined) {
    response.writeHead(404).end()
    return
  }
  response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(fixture.jwks))
})
// Idle connections stay open for the run: the synchronous cases hold the event loop for a whole round, so a
// keep-alive timeout would close a socket the JWKS cache's next background refresh is about to reuse.
server.keepAliveTimeout = 0
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve))
const jwksBase = `http://127.0.0.1:${server.address().port}/jwks`

// One scope for the whole run: the HTTP client and the JWKS caches live in it; closed at the end.
const scope = Effect.runSync(Scope.make())
const httpContext = await Effect.runPromise(Layer.buildWithScope(NodeHttpClient.layerUndici, scope))

// --- Running effects ------------------------------------------------------------------------------------------

/**
 * Whether an effect completes synchronously: `runSyncExit` of one that suspends comes back as a die with an
 * `AsyncFiberException` (the fiber then goes on in the background), which is told apart from a refusal.
 */
const runsSync = (effect) => {
  const exit = Effect.runSyncExit(effect)
  if (Exit.isSuccess(exit)) return true
  const defect = Cause.dieOption(exit.cause)
  if (Option.isSome(defect) && Runtime.isAsyncFiberException(defect.value)) return false
  throw new Error(`Benchmark fixture broken: a valid token was refused: ${Cause.pretty(exit.cause)}`)
}

/** A verification as a boolean (accepted or not), run with runSyncExit when it can, else runPromise. */
const effectCase = (make) => ({
  make,
  sync: (token) => Exit.isSuccess(Effect.runSyncExit(make(token))),
  async: async (token) => {
    try {
      await Effect.runPromise(make(token))
      return true
    } catch {
      return false
    }
  }
})

// --- Cases ----------------------------------------------------------------------------------------------------

/**
 * @typedef {{ alg: string, set: "repeated" | "distinct", group: string, name: string, raw?: boolean,
 *   cached?: boolean, mode: "sync" | "async", run: (token: string) => boolean | Promise<boolean>,
 *   effect?: ReturnType<typeof effectCase>, tokens: Array<string>, next: number, na?: string }} Case
 */

/** @type {Array<Case>} */
const cases = []

const rawNode = ({ alg, publicKey }) => {
  const { digest, options } = algorithms[alg]
  const key = { key: publicKey, ...options }
  return (token) => {
    // What any verifier must do first: split, and decode the signature.
    const dot = token.lastIndexOf(".")
    return verify(digest, Buffer.from(token.slice(0, dot)), key, Buffer.from(token.slice(dot + 1), "base64url"))
  }
}

const rawWebCrypto = async ({ alg, jwk }) => {
  const { webImport, webcrypto: params } = algorithms[alg]
  const key = await webcrypto.subtle.importKey("jwk", jwk, webImport, false, ["verify"])
  return (token) => {
    const dot = token.lastIndexOf(".")
    return webcrypto.subtle.verify(
      params,
      key,
      Buffer.from(token.slice(dot + 1), "base64url"),
      Buffer.from(token.slice(0, dot))
    )
  }
}

const joseCase = async ({ alg, jwk }) => {
  const key = await jose.importJWK(jwk, alg)
  const options = { algorithms: [alg], issuer: ISSUER, audience: AUDIENCE }
  return async (token) => {
    try {
      return (await jose.jwtVerify(token, key, options)).payload.sub !== undefined
    } catch {
      return false
    }
  }
}

const fastJwtCase = ({ alg, pem }, cache) => {
  const verifier = createVerifier({
    key: pem,
    algorithms: [alg],
    allowedIss: ISSUER,
    allowedAud: AUDIENCE,
    ...(cache === undefined ? {} : { cache })
  })
  return (token) => {
    try {
      return verifier(token).sub !== undefined
    } catch {
      return false
    }
  }
}

const awsCase = ({ jwks }) => {
  const verifier = AwsJwtVerifier.create({ issuer: ISSUER, audience: AUDIENCE, jwksUri: `${ISSUER}/jwks.json` })
  // Hydrated locally: no request is made.
  verifier.cacheJwks(jwks)
  return (token) => {
    try {
      return verifier.verifySync(token).sub !== undefined
    } catch {
      return false
    }
  }
}

const jsonwebtokenCase = ({ alg, publicKey }) => {
  const options = { algorithms: [alg], issuer: ISSUER, audience: AUDIENCE }
  return (token) => {
    try {
      return jsonwebtoken.verify(token, publicKey, options).sub !== undefined
    } catch {
      return false
    }
  }
}

const effectAuthVerifier = ({ alg, jwks }, cache) => {
  const verifier = Effect.runSync(
    JwtVerifier.make({ algorithms: [alg], issuer: ISSUER, audience: AUDIENCE, ...(cache ? { cache } : {}) })
  )
  const keySet = Effect.runSync(KeySet.fromJwks(jwks))
  return effectCase((token) => verifier.verify(token, keySet))
}

const effectAuthProvider = async ({ alg }, cache) => {
  const authenticator = await Effect.runPromise(
    JwtProvider.provider([
      JwtProvider.issuer({
        issuer: ISSUER,
        jwksUrl: `${jwksBase}/${alg}.json`,
        audience: AUDIENCE,
        algorithms: [alg],
        verifier: cache ? { cache } : undefined
      })
    ]).pipe(
      Effect.flatMap((provider) => Authenticator.make({ providers: [provider] })),
      Effect.provide(httpContext),
      Scope.extend(scope)
    )
  )
  return authenticator
}

/**
 * The request headers a server hands the adapters for a token, built once per token outside the timed loop:
 * node:http has built them before any handler runs. (A concatenation per call would also time the copy that
 * flattens it, work no server request does.)
 */
const headersByToken = new Map()
const headersFor = (token) => {
  let headers = headersByToken.get(token)
  if (headers === undefined) {
    headers = { authorization: `Bearer ${token}` }
    headersByToken.set(token, headers)
  }
  return headers
}

/** The Effect path: `authenticate`, run as an Effect. */
const effectAuthProviderEffect = async (fixture, cache) => {
  const authenticator = await effectAuthProvider(fixture, cache)
  return effectCase((token) => authenticator.authenticate(headersFor(token)))
}

/**
 * What the node:http and fetch adapters run: the synchronous lane, `authenticateNow` with the clock's time and
 * no fiber, and `authenticate` (runSyncExit) whenever the lane cannot decide (e.g. the JWKS is due for its
 * refresh, which only the Effect path starts). The share of lane answers is counted and reported.
 */
/** How often the adapters' lane answered by itself, and how often it left the answer to the Effect path. */
const laneAnswers = { now: 0, effect: 0 }

const effectAuthProviderNow = async (fixture, cache) => {
  const authenticator = await effectAuthProvider(fixture, cache)
  // The first authentication fetches the JWKS (the lane never fetches): done here, before any check.
  await Effect.runPromise(Effect.either(authenticator.authenticate({ authorization: `Bearer ${fixture.expired}` })))
  return (token) => {
    const headers = headersFor(token)
    const decided = authenticator.authenticateNow(headers, Date.now())
    if (decided !== undefined) {
      laneAnswers.now++
      return Either.isRight(decided)
    }
    laneAnswers.effect++
    return Exit.isSuccess(Effect.runSyncExit(authenticator.authenticate(headers)))
  }
}

const CACHE = { maxEntries: 10_000 }

for (const fixture of fixtures) {
  const { alg } = fixture
  const add = (group, name, run, extra = {}) => {
    // Stateless cases: one instance serves both token sets.
    for (const set of ["repeated", "distinct"]) {
      cases.push({ alg, set, group, name, tokens: fixture.sets[set], next: 0, mode: "sync", ...extra, run })
    }
  }
  const addEach = async (group, name, make, extra = {}) => {
    for (const set of ["repeated", "distinct"]) {
      // One instance per token set, so that a cache never serves another row's tokens.
      const built = await make()
      const base = { alg, set, group, name, tokens: fixture.sets[set], next: 0, ...extra }
      cases.push(
        typeof built === "function"
          ? { ...base, mode: extra.mode ?? "sync", run: built }
          : { ...base, mode: "sync", effect: built, run: built.sync }
      )
    }
  }
  add("1. raw node:crypto.verify", "KeyObject, signature only (the physical limit)", rawNode(fixture), {
    raw: true,
    baseline: true
  })
  add("2. raw WebCrypto subtle.verify", "CryptoKey, signature only, await per op", await rawWebCrypto(fixture), {
    raw: true,
    mode: "async"
  })
  add("3. jose.jwtVerify", "CryptoKey imported once, await per op", await joseCase(fixture), { mode: "async" })
  await addEach("4. fast-jwt createVerifier", "no cache", () => fastJwtCase(fixture, undefined))
  // `cache: true` holds 1000 entries, fewer than the distinct set: the same capacity as effect-auth's instead.
  await addEach("4. fast-jwt createVerifier", "cache: 10 000", () => fastJwtCase(fixture, 10_000), { cached: true })
  await addEach("5. aws-jwt-verify JwtVerifier", "cacheJwks(jwks), verifySync", () => awsCase(fixture))
  if (alg === "EdDSA") {
    for (const set of ["repeated", "distinct"]) {
      cases.push({
        alg,
        set,
        group: "6. jsonwebtoken.verify",
        name: "KeyObject",
        na: "jsonwebtoken 9 does not support EdDSA"
      })
    }
  } else {
    await addEach("6. jsonwebtoken.verify", "KeyObject", () => jsonwebtokenCase(fixture))
  }
  await addEach("7. effect-auth JwtVerifier", "KeySet.fromJwks, uncached", () => effectAuthVerifier(fixture))
  await addEach(
    "7. effect-auth JwtVerifier",
    "KeySet.fromJwks, cache 10 000",
    () => effectAuthVerifier(fixture, CACHE),
    {
      cached: true
    }
  )
  await addEach("8. effect-auth provider path", "Authenticator.authenticate, JWKS over HTTP, uncached", () =>
    effectAuthProviderEffect(fixture)
  )
  await addEach(
    "8. effect-auth provider path",
    "Authenticator.authenticate, JWKS over HTTP, cache 10 000",
    () => effectAuthProviderEffect(fixture, CACHE),
    { cached: true }
  )
  await addEach("8. effect-auth provider path", "authenticateNow (adapters' lane), JWKS over HTTP, uncached", () =>
    effectAuthProviderNow(fixture)
  )
  await addEach(
    "8. effect-auth provider path",
    "authenticateNow (adapters' lane), JWKS over HTTP, cache 10 000",
    () => effectAuthProviderNow(fixture, CACHE),
    { cached: true }
  )
}

// --- Checks ---------------------------------------------------------------------------------------------------

// A benchmark of a verifier that accepts anything, or refuses everything, would measure the wrong thing.
const check = (condition, what) => {
  if (!condition) throw new Error(`Benchmark fixture broken: ${what}`)
}
const accepts = async (c, token) => {
  if (c.effect !== undefined) return c.effect.async(token)
  return (await c.run(token)) === true
}
for (const c of cases) {
  if (c.na !== undefined) continue
  const fixture = fixtures.find((f) => f.alg === c.alg)
  const label = `${c.alg} ${c.group}: ${c.name} (${c.set})`
  // The first call of the provider path also fetches its JWKS over HTTP: it is warmed here, before timing.
  check(await accepts(c, c.tokens[0]), `${label} refuses a valid token`)
  check(!(await accepts(c, fixture.tampered)), `${label} accepts a tampered token`)
  // The raw cases check the signature only: an expired token's signature is valid.
  if (c.raw) check(await accepts(c, fixture.expired), `${label} refuses a well-signed expired token`)
  else check(!(await accepts(c, fixture.expired)), `${label} accepts an expired token`)
  // Cached cases are timed on cache hits: fill them with every token of their set first.
  if (c.cached) for (const token of c.tokens) check(await accepts(c, token), `${label} refuses a valid token`)
  if (c.effect !== undefined) {
    // runSyncExit when the effect completes synchronously; otherwise runPromise, awaited per op.
    c.mode = runsSync(c.effect.make(c.tokens[0])) ? "sync" : "async"
    c.run = c.mode === "sync" ? c.effect.sync : c.effect.async
  }
}

// --- Harness --------------------------------------------------------------------------------------------------

const timed = cases.filter((c) => c.na === undefined)

const runFor = async (c, ms) => {
  const budget = BigInt(ms) * 1_000_000n
  const { run, tokens } = c
  const size = tokens.length
  let next = c.next
  const start = process.hrtime.bigint()
  let ops = 0
  let elapsed = 0n
  if (c.mode === "sync") {
    // Check the clock every 16 calls only; a verification takes microseconds, so the overshoot is small.
    do {
      for (let i = 0; i < 16; i++) {
        if (run(tokens[next]) === true) sink++
        else refused++
        next = next + 1 === size ? 0 : next + 1
      }
      ops += 16
      elapsed = process.hrtime.bigint() - start
    } while (elapsed < budget)
  } else {
    do {
      if ((await run(tokens[next])) === true) sink++
      else refused++
      next = next + 1 === size ? 0 : next + 1
      ops++
      elapsed = process.hrtime.bigint() - start
    } while (elapsed < budget)
  }
  c.next = next
  return (ops * 1e9) / Number(elapsed)
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * The cases that are compared with each other: one algorithm and token set. They run next to each other in
 * every round, forwards and backwards in turn, so that a case and the ones it is compared with are measured
 * within a few hundred milliseconds of each other.
 */
const neighbourhoods = [...new Set(timed.map((c) => `${c.alg} ${c.set}`))].map((key) =>
  timed.filter((c) => `${c.alg} ${c.set}` === key)
)

const timingStarted = Date.now()
for (const c of timed) await runFor(c, WARMUP_MS)
/** ops/s of every case, one entry per round. */
const samples = new Map(timed.map((c) => [c, []]))
for (let round = 0; round < ROUNDS; round++) {
  for (const neighbourhood of neighbourhoods) {
    const order = round % 2 === 0 ? neighbourhood : [...neighbourhood].reverse()
    for (const c of order) samples.get(c).push(await runFor(c, ROUND_MS))
  }
}
const timingSeconds = (Date.now() - timingStarted) / 1000

await Effect.runPromise(Scope.close(scope, Exit.void))
server.closeAllConnections()
await new Promise((resolve) => server.close(resolve))
if (refused > 0) throw new Error(`Benchmark broken: ${refused} timed verifications refused a valid token`)
const seconds = ((Date.now() - started) / 1000).toFixed(1)

// --- Report ---------------------------------------------------------------------------------------------------

for (const c of timed) {
  c.median = median(samples.get(c))
  c.min = Math.min(...samples.get(c))
}

/**
 * The 1-based rank j such that the j-th smallest and the j-th largest of n samples bound a 95% confidence
 * interval of their median: the largest j with P(Binomial(n, 1/2) < j) <= 2.5%.
 */
const medianIntervalRank = (n) => {
  let j = 0
  let below = 0 // P(Binomial(n, 1/2) <= j - 1)
  let term = 2 ** -n // P(Binomial(n, 1/2) = j)
  while (below + term <= 0.025) {
    below += term
    term = (term * (n - j)) / (j + 1)
    j++
  }
  return Math.max(j, 1)
}

/**
 * How much faster `a` ran than `b`, round by round: both ran in the same round, a few hundred milliseconds
 * apart, so a machine whose speed drifts (a busy neighbour, clock changes) moves both. The median of those
 * ratios and its 95% confidence interval.
 */
const pairedRatio = (a, b) => {
  const bs = samples.get(b)
  const ratios = samples
    .get(a)
    .map((ops, round) => ops / bs[round])
    .sort((x, y) => x - y)
  const j = medianIntervalRank(ratios.length)
  return { median: median(ratios), low: ratios[j - 1], high: ratios[ratios.length - j] }
}
const fmt = (n) => Math.round(n).toLocaleString("en-US")
const baselineOf = (c) => cases.find((b) => b.baseline && b.alg === c.alg && b.set === c.set)
const ratioText = (r) => (r >= 0.1 ? `${r.toFixed(2)}×` : r >= 0.001 ? `${r.toFixed(3)}×` : `${r.toExponential(1)}×`)
const perOp = (n) => {
  const ns = 1e9 / n
  return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`
}
const intervalText = ({ low, high }) => `${low.toFixed(2)} to ${high.toFixed(2)}`
const howRun = (c) =>
  c.effect === undefined ? (c.mode === "sync" ? "sync" : "await") : c.mode === "sync" ? "runSyncExit" : "runPromise"

const tables = fixtures.map(({ alg }) =>
  [
    `#### ${alg}`,
    "",
    "| Case | tokens | run | ops/s (median) | slowest round | time per op | vs raw node:crypto | 95% interval |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...cases
      .filter((c) => c.alg === alg)
      .map((c) => {
        if (c.na !== undefined)
          return `| ${c.group}: ${c.name} (n/a: ${c.na}) | ${c.set} | n/a | n/a | n/a | n/a | n/a | n/a |`
        const vsRaw = pairedRatio(c, baselineOf(c))
        return (
          `| ${c.group}: ${c.name} | ${c.set} | ${howRun(c)} | ${fmt(c.median)} | ${fmt(c.min)} | ` +
          `${perOp(c.median)} | ${ratioText(vsRaw.median)} | ${intervalText(vsRaw)} |`
        )
      })
  ].join("\n")
)

// The targets: the uncached provider path near the physical limit, ahead of the peers, and cache hits at
// least as cheap as fast-jwt's.
const find = (alg, set, group, name) =>
  cases.find(
    (c) => c.alg === alg && c.set === set && c.group.startsWith(group) && (name === undefined || c.name === name)
  )
const doneWhen = fixtures.flatMap(({ alg }) =>
  ["authenticateNow (adapters' lane)", "Authenticator.authenticate"].map((path) => verdict(alg, path))
)

/** Ahead or behind only when the whole 95% interval of the paired ratio says so; level otherwise. */
function standing(ratio, peer) {
  const where = ratio.low > 1 ? "ahead of" : ratio.high < 1 ? "behind" : "level with"
  return `${where} ${peer} (${ratioText(ratio.median)}, ${intervalText(ratio)})`
}

function verdict(alg, path) {
  const provider = find(alg, "distinct", "8.", `${path}, JWKS over HTTP, uncached`)
  const providerCached = find(alg, "repeated", "8.", `${path}, JWKS over HTTP, cache 10 000`)
  const raw = find(alg, "distinct", "1.")
  const peers = [
    ["fast-jwt (no cache)", find(alg, "distinct", "4.", "no cache")],
    ["aws-jwt-verify", find(alg, "distinct", "5.")],
    ["jsonwebtoken", find(alg, "distinct", "6.")]
  ]
  const fastCached = find(alg, "repeated", "4.", "cache: 10 000")
  const vsRaw = pairedRatio(provider, raw)
  const against = peers
    .map(([name, c]) => (c.na !== undefined ? `${name} n/a` : standing(pairedRatio(provider, c), name)))
    .join(", ")
  const cached = pairedRatio(providerCached, fastCached)
  return (
    `- ${alg}, ${path}: uncached provider path / raw node:crypto (distinct tokens) = ${ratioText(vsRaw.median)} ` +
    `(${intervalText(vsRaw)}; target ≥ 0.8: ${vsRaw.median >= 0.8 ? "met" : "not met"}); ${against}; ` +
    `cached, repeated token: ${fmt(providerCached.median)} ops/s, ` +
    `${standing(cached, `fast-jwt cached (${fmt(fastCached.median)} ops/s)`)}`
  )
}

const modes = [
  ...new Set(
    timed.filter((c) => c.effect !== undefined).map((c) => `${c.alg} ${c.group.slice(3)} (${c.name}): ${howRun(c)}`)
  )
]
const effectModes = modes.every((m) => m.endsWith("runSyncExit"))
  ? "every effect-auth case completed synchronously and ran with `Effect.runSyncExit`"
  : modes.every((m) => m.endsWith("runPromise"))
    ? "no effect-auth case completed synchronously (`runSyncExit` came back with an async-fiber defect), " +
      "so all ran with `Effect.runPromise`, awaited per op"
    : `effect-auth cases ran as follows: ${modes.join("; ")}`

const facts = [
  `- Date: ${new Date().toISOString()}`,
  `- CPU: ${cpuModel()}, ${Os.cpus().length} logical cores (the benchmark runs on one thread)`,
  `- Node ${process.version} (V8 ${process.versions.v8}, OpenSSL ${process.versions.openssl}), ` +
    `${process.platform} ${process.arch}`,
  `- @effect-auth/jwt ${packageVersion("jwt")} and @effect-auth/core ${packageVersion("core")} (built dist, commit ` +
    `${commit()}), effect ${dependencyVersion("effect")}, ` +
    `@effect/platform-node ${dependencyVersion("@effect/platform-node")}, jose ${dependencyVersion("jose")}, ` +
    `fast-jwt ${dependencyVersion("fast-jwt")}, aws-jwt-verify ${dependencyVersion("aws-jwt-verify")}, ` +
    `jsonwebtoken ${dependencyVersion("jsonwebtoken")}`,
  `- Tokens: RS256 (RSA 2048), ES256 (P-256), EdDSA (Ed25519); "repeated" is one token, "distinct" ${DISTINCT} ` +
    `tokens (different sub and jti) in turn`,
  `- ${ROUNDS} rounds of ${ROUND_MS} ms per case after a ${WARMUP_MS} ms warm-up; in every round the cases of ` +
    `one algorithm and token set run next to each other, forwards and backwards in turn; ` +
    `${timingSeconds.toFixed(1)} s timed, whole run ${seconds} s; load average (1 min) ` +
    `${loadAtStart.toFixed(1)} at the start, ${Os.loadavg()[0].toFixed(1)} at the end`,
  `- Run: ${effectModes}`
].join("\n")

const laneShare = `the adapters' lane answered ${fmt(laneAnswers.now)} verifications itself and left ${fmt(
  laneAnswers.effect
)} to the Effect path (a JWKS refresh falling due)`
const summary = [...doneWhen, `- ${laneShare}`].join("\n")
console.log(`${facts}\n\n${tables.join("\n\n")}\n\nDone when:\n${summary}`)
if (sink === -1) console.log("unreachable")

if (write) {
  const out = await writeSection(
    "jwt-verify",
    `## JWT verification (\`jwt-verify.mjs\`)

Reproduce from the repository root:

\`\`\`sh
npm run build && node bench/jwt-verify.mjs
\`\`\`

### Machine

${facts}

### Results

Ratios are against raw \`node:crypto.verify\` of the same algorithm and token set: the median of the ratios of
the rounds (each round measures both), with its 95% confidence interval. Ahead or behind is said only when the
whole interval is on one side of 1; otherwise the two are level within the noise of the run.

${tables.join("\n\n")}

### Targets

${summary}
`
  )
  console.log(`\nWrote the jwt-verify section of ${out}`)
}
