/**
 * Fault injection on the JWT key endpoint: the built gateway trusts a generic issuer (the test kit's issuer on
 * 127.0.0.1, through `AUTH_JWT_JWKS_URL`) whose JWKS goes down, answers after the fetch timeout, answers
 * something that is not a key set (garbage, HTML, a body over the 1 MiB bound), or rotates its keys under
 * load, while the gateway keeps running. Each phase (before the fault, during it, after it ends) sends the
 * same mix of tokens and checks every answer: nothing that should be refused is accepted, a valid token is
 * deferred (503) exactly when there are no keys to check it with and never refused for it, every answer comes
 * within a bound, and the gateway recovers by itself.
 */
import { Issuer, Keys } from "@effect-auth/testing"
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import type { Gateway } from "../helpers.js"
import { cleanup, eventually, startGateway } from "../helpers.js"
import type { Outcome } from "./outcomes.js"
import { outcomeOf, tableRow, tally } from "./outcomes.js"

afterEach(cleanup)

const issuers: Array<Issuer.Issuer> = []
afterEach(async () => {
  await Promise.all(issuers.splice(0).map((issuer) => issuer.close()))
})

const rows: Array<string> = []
afterAll(() => {
  console.log(
    [
      "| scenario | phase | accepted | refused | limited | deferred | other |",
      "| --- | --- | --- | --- | --- | --- | --- |"
    ]
      .concat(rows)
      .join("\n")
  )
})

const audience = "orders-api"

// The gateway bounds each key fetch to 5 s (not configurable through its environment); a request that waits
// for one answers within that plus slack for a loaded machine. Later than this counts as "other" (status 0).
const boundMillis = 15_000

// Refresh the keys about every second (the variable is in minutes), so that a refresh under the fault, and the
// rotation's refetch, happen within a test; the rest of the JWKS policy is the gateway's default.
const refreshEveryMinutes = "0.017"

// The two longest scenarios: the slow one waits out the fetch timeout twice, the rotation runs under load.
const longTestMillis = 45_000

// ES256 keys are made in a millisecond, RSA keys in about half a second each: the scenarios make many.
const algorithm = "ES256"

const startIssuer = async () => {
  const issuer = await Issuer.start({ algorithm })
  issuers.push(issuer)
  return issuer
}

const startWith = (kit: Issuer.Issuer, settings: Readonly<Record<string, string>> = {}): Promise<Gateway> =>
  startGateway({
    AUTH_JWT_ISSUER: kit.issuer,
    AUTH_JWT_JWKS_URL: kit.jwksUrl,
    AUTH_JWT_AUDIENCE: audience,
    AUTH_JWT_ALGORITHMS: algorithm,
    JWKS_CACHE_INTERVAL: refreshEveryMinutes,
    // The mix is sent many times by one subject: the rate limit is not what these scenarios measure.
    AUTH_RATE_LIMIT_PER_MINUTE: "1000000",
    AUTH_LOG_LEVEL: "error",
    ...settings
  })

// ---------------------------------------------------------------------------------------------------
// The mix

/** Tokens that must never be accepted, in any phase. */
const hostileKinds = ["forgedKnownKid", "forgedNewKid", "expired", "wrongAudience"] as const

// A type, not an interface: a mix is also a plain record of tokens by kind.
type Mix = {
  readonly valid: string
  /** Signed by a key the issuer never published, naming the kid of the issuer's signing key. */
  readonly forgedKnownKid: string
  /** Signed by a key the issuer never published, under a kid of its own (looks like a rotation). */
  readonly forgedNewKid: string
  readonly expired: string
  readonly wrongAudience: string
}

/** The mix for tokens signed by `key` (default: the issuer's current key). */
const mixOf = async (kit: Issuer.Issuer, key: Keys.SigningKey = kit.currentKey): Promise<Mix> => {
  const options = { subject: "ada", audience, key }
  return {
    valid: await kit.mint({}, options),
    forgedKnownKid: await kit.mint({}, { ...options, key: await Keys.generate(key.alg, { kid: key.kid }) }),
    forgedNewKid: await kit.mint({}, { ...options, key: await Keys.generate(key.alg) }),
    expired: await kit.mint({}, { ...options, expiresIn: -120 }),
    wrongAudience: await kit.mint({}, { ...options, audience: "another-api" })
  }
}

interface Sample {
  readonly kind: string
  readonly status: number
  readonly startedAt: number
  readonly millis: number
}

/** One request with a bearer token; status 0 when it failed or took longer than the bound. */
const send = async (gateway: Gateway, kind: string, token: string): Promise<Sample> => {
  const startedAt = Date.now()
  const status = await fetch(`${gateway.url}/whoami`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(boundMillis)
  }).then(
    async (response) => {
      await response.arrayBuffer()
      return response.status
    },
    () => 0
  )
  return { kind, status, startedAt, millis: Date.now() - startedAt }
}

/** Sends every token of the mix at once. */
const sendMix = (gateway: Gateway, mix: Readonly<Record<string, string>>): Promise<Array<Sample>> =>
  Promise.all(Object.entries(mix).map(([kind, token]) => send(gateway, kind, token)))

/** Sends the mix round after round until `done` holds after a round; fails when it does not within 15 s. */
const sendUntil = async (gateway: Gateway, mix: Mix, done: () => boolean): Promise<Array<Sample>> => {
  const samples: Array<Sample> = []
  const deadline = Date.now() + 15_000
  do {
    samples.push(...(await sendMix(gateway, mix)))
    // Pacing only, so the rounds do not flood a shared machine; `done` decides when the phase ends.
    await new Promise((resolve) => setTimeout(resolve, 50))
    if (Date.now() > deadline) throw new Error(`the fault was not exercised within 15 s: ${JSON.stringify(samples)}`)
  } while (!done())
  return samples
}

/**
 * After the fault ends: polls with the valid token until it is accepted, with the same gateway process. On
 * the way it may still be deferred (the gateway retries a failed first fetch after a second), never refused.
 */
const expectRecovery = async (gateway: Gateway, token: string): Promise<void> => {
  const samples: Array<Sample> = []
  await eventually(async () => {
    const sample = await send(gateway, "valid", token)
    samples.push(sample)
    expect(sample.status).toBe(200)
  }, 15_000)
  expect(outcomesByKind(samples).valid!.filter((outcome) => outcome !== "accepted" && outcome !== "deferred")).toEqual(
    []
  )
}

/** The distinct outcomes of each kind of token, sorted: what a phase is asserted on exactly. */
const outcomesByKind = (samples: ReadonlyArray<Sample>): Record<string, Array<Outcome>> => {
  const byKind: Record<string, Set<Outcome>> = {}
  for (const sample of samples) (byKind[sample.kind] ??= new Set()).add(outcomeOf(sample.status))
  return Object.fromEntries(Object.entries(byKind).map(([kind, outcomes]) => [kind, [...outcomes].sort()]))
}

/**
 * Records a phase's table row and checks what holds in every phase of every scenario: no hostile token is
 * accepted, and no answer is anything but accepted, refused, limited or deferred (no 500, no hang). Returns
 * the outcomes by kind for the phase's own exact assertion.
 */
const phase = (scenario: string, name: string, samples: ReadonlyArray<Sample>) => {
  rows.push(tableRow(scenario, name, tally(samples.map((sample) => sample.status))))
  console.log(rows.at(-1))
  const hostile: ReadonlyArray<string> = hostileKinds
  expect(samples.filter((sample) => hostile.includes(sample.kind) && outcomeOf(sample.status) === "accepted")).toEqual(
    []
  )
  expect(samples.filter((sample) => outcomeOf(sample.status) === "other")).toEqual([])
  return outcomesByKind(samples)
}

const healthy = {
  valid: ["accepted"],
  forgedKnownKid: ["refused"],
  forgedNewKid: ["refused"],
  expired: ["refused"],
  wrongAudience: ["refused"]
}

const noKeys = {
  valid: ["deferred"],
  forgedKnownKid: ["deferred"],
  forgedNewKid: ["deferred"],
  expired: ["deferred"],
  wrongAudience: ["deferred"]
}

/**
 * Keys cached while a refresh fails: the last good keys answer as if nothing happened. A kid they do not
 * hold may be a rotation that cannot be checked now (its refetch, or the refresh it joins, fails), so that
 * token is refused or deferred, never accepted.
 */
const expectServedFromCache = (outcomes: Record<string, Array<Outcome>>) => {
  expect({ ...outcomes, forgedNewKid: [] }).toEqual({ ...healthy, forgedNewKid: [] })
  expect(outcomes.forgedNewKid?.every((outcome) => outcome === "refused" || outcome === "deferred")).toBe(true)
}

/**
 * Keys cached, then `fault` meets the refresh that falls due: the last good keys answer meanwhile, and all is
 * as before once the fault ends. The samples taken during the fault.
 */
const duringRefresh = async (
  scenario: string,
  kit: Issuer.Issuer,
  gateway: Gateway,
  mix: Mix,
  fault: Issuer.Fault
): Promise<Array<Sample>> => {
  kit.setFault(fault, "jwks")
  const samples = await sendUntil(gateway, mix, fetchedSince(kit, kit.requests.jwks))
  expectServedFromCache(phase(scenario, "during, keys cached", samples))
  kit.setFault({ _tag: "None" })
  expect(phase(scenario, "after", await sendMix(gateway, mix))).toEqual(healthy)
  return samples
}

/**
 * A gateway whose issuer answers its JWKS after `millis`, and what the first requests got: two mixes sent at
 * once, before the gateway has any keys.
 */
const startWithSlowJwks = async (millis: number) => {
  const kit = await startIssuer()
  kit.setFault({ _tag: "Slow", millis }, "jwks")
  const gateway = await startWith(kit)
  const mix = await mixOf(kit)
  const cold = (await Promise.all([sendMix(gateway, mix), sendMix(gateway, mix)])).flat()
  return { kit, gateway, mix, cold }
}

/** The kinds of a mix without `valid`, for a phase that sends valid tokens of two keys. */
const withoutValid = <A extends { readonly valid: unknown }>({ valid: _, ...rest }: A): Omit<A, "valid"> => rest

/** The JWKS counter moved past `before`: a fetch reached the issuer (under whatever fault is set). */
const fetchedSince = (kit: Issuer.Issuer, before: number) => () => kit.requests.jwks > before

interface Load {
  /** From now on the workers send these tokens, and their answers are recorded under `stage`. */
  readonly send: (stage: string, tokens: Readonly<Record<string, string>>) => void
  readonly samples: (stage: string) => Array<Sample>
  readonly stop: () => Promise<void>
}

/** Concurrent workers, each sending the stage's tokens one after another, round-robin, until stopped. */
const startLoad = (
  gateway: Gateway,
  workers: number,
  firstStage: string,
  firstTokens: Readonly<Record<string, string>>
): Load => {
  let stage = firstStage
  let tokens = Object.entries(firstTokens)
  let stopped = false
  const recorded: Array<Sample & { readonly stage: string }> = []
  const loops = Array.from({ length: workers }, async (_, worker) => {
    for (let turn = worker; !stopped; turn++) {
      const sentIn = stage
      const [kind, token] = tokens[turn % tokens.length]!
      recorded.push({ ...(await send(gateway, kind, token)), stage: sentIn })
    }
  })
  return {
    send: (next, nextTokens) => {
      stage = next
      tokens = Object.entries(nextTokens)
    },
    samples: (of) => recorded.filter((sample) => sample.stage === of),
    stop: async () => {
      stopped = true
      await Promise.all(loops)
    }
  }
}

/** Waits until the load recorded a sample that satisfies `found`; that sample. */
const awaitSample = async (load: Load, stage: string, found: (sample: Sample) => boolean): Promise<Sample> => {
  let hit: Sample | undefined
  await eventually(async () => {
    hit = load.samples(stage).find(found)
    expect(hit).toBeDefined()
  }, 15_000)
  return hit!
}

/** The samples of `kind` sent after `sample` was answered: the ones that must see what it saw. */
const sentAfter = (samples: ReadonlyArray<Sample>, kind: string, sample: Sample) =>
  samples.filter((other) => other.kind === kind && other.startedAt > sample.startedAt + sample.millis)

// ---------------------------------------------------------------------------------------------------

describe("fault injection: the JWT key endpoint", () => {
  it("JWKS down: 503 while there are no keys, the last good keys while there are, back without a restart", async () => {
    const scenario = "JWKS down"
    const kit = await startIssuer()
    kit.setFault({ _tag: "Down" }, "jwks")
    const gateway = await startWith(kit)
    const mix = await mixOf(kit)

    // No keys yet: every token needs the keys, so every answer is 503, never a 401 for the valid one.
    expect(phase(scenario, "during, no keys yet", await sendUntil(gateway, mix, fetchedSince(kit, 0)))).toEqual(noKeys)
    kit.setFault({ _tag: "None" })
    await expectRecovery(gateway, mix.valid)
    expect(phase(scenario, "after (first keys)", await sendMix(gateway, mix))).toEqual(healthy)

    // Keys cached: the refresh that falls due fails, and the last good keys keep answering.
    await duringRefresh(scenario, kit, gateway, mix, { _tag: "Down" })
  })

  it(
    "JWKS slower than the fetch timeout: one bounded wait then 503 without keys, no wait with cached keys",
    async () => {
      const scenario = "JWKS slow (8 s, fetch timeout 5 s)"
      // No keys yet: every request waits for the one fetch they share, which the gateway gives up at its timeout.
      const { cold, gateway, kit, mix } = await startWithSlowJwks(8_000)
      expect(phase(scenario, "during, no keys yet", cold)).toEqual(noKeys)
      expect(kit.requests.jwks).toBe(1)
      for (const sample of cold) expect(sample.millis).toBeGreaterThanOrEqual(4_000)
      kit.setFault({ _tag: "None" })
      await expectRecovery(gateway, mix.valid)
      expect(phase(scenario, "after (first keys)", await sendMix(gateway, mix))).toEqual(healthy)

      // Keys cached: the refresh runs in the background; valid tokens do not wait for it.
      const cached = await duringRefresh(scenario, kit, gateway, mix, { _tag: "Slow", millis: 8_000 })
      for (const sample of cached.filter((sample) => sample.kind === "valid")) expect(sample.millis).toBeLessThan(4_000)
    },
    longTestMillis
  )

  it("JWKS slow but within the fetch timeout (2 s): the first requests wait for it and get their usual answers", async () => {
    const scenario = "JWKS slow (2 s, fetch timeout 5 s)"
    // No keys yet: every request waits for the one slow fetch, then is answered on its merits, never 503.
    const { cold, gateway, kit, mix } = await startWithSlowJwks(2_000)
    expect(phase(scenario, "during, no keys yet", cold)).toEqual(healthy)
    for (const sample of cold) expect(sample.millis).toBeGreaterThanOrEqual(1_500)

    // Keys cached: the slow refresh runs in the background; valid tokens do not wait for it.
    const cached = await duringRefresh(scenario, kit, gateway, mix, { _tag: "Slow", millis: 2_000 })
    for (const sample of cached.filter((sample) => sample.kind === "valid")) expect(sample.millis).toBeLessThan(1_500)
  })

  const mebibytes2 = 2 * 1024 * 1024
  it.each([
    ["not JSON", { _tag: "Garbage" }],
    ["an HTML page", { _tag: "Html" }],
    ["2 MiB, chunked", { _tag: "Huge", bytes: mebibytes2 }],
    ["2 MiB, declared length", { _tag: "Huge", bytes: mebibytes2, declareLength: true }]
  ] as const)(
    "JWKS answering %s: 503 without keys, the last good keys with them, back without a restart",
    async (what, fault) => {
      const scenario = `JWKS answers ${what}`
      const kit = await startIssuer()
      kit.setFault(fault, "jwks")
      const gateway = await startWith(kit)
      const mix = await mixOf(kit)

      expect(phase(scenario, "during, no keys yet", await sendUntil(gateway, mix, fetchedSince(kit, 0)))).toEqual(
        noKeys
      )
      kit.setFault({ _tag: "None" })
      await expectRecovery(gateway, mix.valid)
      expect(phase(scenario, "after (first keys)", await sendMix(gateway, mix))).toEqual(healthy)

      await duringRefresh(scenario, kit, gateway, mix, fault)
    }
  )

  it(
    "keys rotating under load: the new key accepted once refetched, the removed key refused from then on",
    async () => {
      const scenario = "keys rotating under load"
      const kit = await startIssuer()
      const oldKey = kit.currentKey
      const oldMix = await mixOf(kit)
      const gateway = await startWith(kit)
      const load = startLoad(gateway, 6, "before", oldMix)
      try {
        await eventually(async () => expect(load.samples("before").length).toBeGreaterThanOrEqual(30))

        // A new signing key; the old one is still published, so its tokens stay valid.
        // Its first token goes into the load at once, before the gateway can have refreshed on its own.
        const newKey = await kit.rotate()
        const validNew = await kit.mint({}, { subject: "ada", audience, key: newKey })
        load.send("rotated", { ...withoutValid(oldMix), validOld: oldMix.valid, validNew })
        const newMix = await mixOf(kit, newKey)
        const bothKeys = { ...withoutValid(newMix), validOld: oldMix.valid, validNew }
        const newAccepted = await awaitSample(
          load,
          "rotated",
          (sample) => sample.kind === "validNew" && sample.status === 200
        )
        await eventually(async () =>
          expect(sentAfter(load.samples("rotated"), "validNew", newAccepted).length).toBeGreaterThanOrEqual(5)
        )

        // The old key is withdrawn: once the gateway has refetched, its tokens are refused, and stay refused.
        kit.removeKey(oldKey.kid)
        load.send("removed", bothKeys)
        const oldRefused = await awaitSample(
          load,
          "removed",
          (sample) => sample.kind === "validOld" && sample.status === 401
        )
        const fetches = kit.requests.jwks
        await eventually(async () => expect(kit.requests.jwks).toBeGreaterThan(fetches))
        await load.stop()

        expect(phase(scenario, "before (under load)", load.samples("before"))).toEqual(healthy)

        // New-key tokens are refused until the gateway has the new key (the refresh that falls due, or the
        // refetch an unknown kid asks for, unless one ran within the cooldown), then accepted from then on.
        const rotated = load.samples("rotated")
        const rotatedOutcomes = phase(scenario, "during: new key published, old kept", rotated)
        expect({ ...rotatedOutcomes, validNew: [] }).toEqual({
          ...withoutValid(healthy),
          validOld: ["accepted"],
          validNew: []
        })
        expect(rotatedOutcomes.validNew!.every((outcome) => outcome === "accepted" || outcome === "refused")).toBe(true)
        expect(outcomesByKind(sentAfter(rotated, "validNew", newAccepted))).toEqual({ validNew: ["accepted"] })

        // Old-key tokens are accepted until the gateway refetches, then refused from then on.
        const removed = load.samples("removed")
        const removedOutcomes = phase(scenario, "during: old key removed", removed)
        expect({ ...removedOutcomes, validOld: [] }).toEqual({
          ...withoutValid(healthy),
          validOld: [],
          validNew: ["accepted"]
        })
        expect(removedOutcomes.validOld!.every((outcome) => outcome === "accepted" || outcome === "refused")).toBe(true)
        expect(outcomesByKind(sentAfter(removed, "validOld", oldRefused))).toEqual({ validOld: ["refused"] })
        const count = (samples: ReadonlyArray<Sample>, kind: string, outcome: Outcome) =>
          samples.filter((sample) => sample.kind === kind && outcomeOf(sample.status) === outcome).length
        console.log(
          `${scenario}: new-key tokens refused before the gateway had the key: ${count(rotated, "validNew", "refused")}; ` +
            `old-key tokens accepted after its removal, before the refetch: ${count(removed, "validOld", "accepted")}`
        )

        expect(phase(scenario, "after", await sendMix(gateway, bothKeys))).toEqual({
          ...withoutValid(healthy),
          validOld: ["refused"],
          validNew: ["accepted"]
        })
      } finally {
        await load.stop()
      }
    },
    longTestMillis
  )

  it("an unknown kid spends the refetch: a key first used inside the cooldown is refused until it ends, never deferred", async () => {
    const scenario = "unknown kid spends the refetch (cooldown 5 s)"
    const cooldownMillis = 5_000
    const kit = await startIssuer()
    // No regular refresh within the test: only the unknown-kid refetch can bring the new key in.
    const gateway = await startWith(kit, { JWKS_CACHE_INTERVAL: "20", JWKS_UNKNOWN_KID_COOLDOWN: "5" })
    const mix = await mixOf(kit)
    const { forgedNewKid: _, ...knownKids } = mix
    const { forgedNewKid: __, ...healthyKnownKids } = healthy
    expect(phase(scenario, "before", await sendMix(gateway, knownKids))).toEqual(healthyKnownKids)

    // A forged token under a kid of its own makes the gateway refetch, and starts the cooldown.
    const fetches = kit.requests.jwks
    const forged = await send(gateway, "forgedNewKid", mix.forgedNewKid)
    expect(outcomeOf(forged.status)).toBe("refused")
    expect(kit.requests.jwks).toBe(fetches + 1)

    // The issuer starts signing with a key it had not published before: inside the cooldown its tokens are
    // refused without a fetch (a 503 would let made-up kids produce 5xx answers), then accepted.
    const newKey = await kit.rotate()
    const newMix = await mixOf(kit, newKey)
    const samples: Array<Sample> = []
    await eventually(async () => {
      const sample = await send(gateway, "validNew", newMix.valid)
      samples.push(sample)
      expect(sample.status).toBe(200)
    }, 15_000)
    const firstAccepted = samples.at(-1)!
    const refusedInside = samples.filter(
      (sample) => sample.startedAt + sample.millis < forged.startedAt + cooldownMillis
    )
    expect(outcomesByKind(samples.slice(0, -1))).toEqual(samples.length > 1 ? { validNew: ["refused"] } : {})
    expect(refusedInside.length).toBeGreaterThan(0)
    expect(firstAccepted.startedAt + firstAccepted.millis).toBeGreaterThanOrEqual(forged.startedAt + cooldownMillis)
    expect(kit.requests.jwks).toBe(fetches + 2)
    phase(scenario, "new key used inside the cooldown", samples)
    console.log(
      `${scenario}: new-key tokens refused ${samples.length - 1} times, first accepted ` +
        `${firstAccepted.startedAt + firstAccepted.millis - forged.startedAt} ms after the forged token`
    )

    expect(phase(scenario, "after", await sendMix(gateway, { ...newMix, validOld: mix.valid }))).toEqual({
      ...healthy,
      validOld: ["accepted"]
    })
  })
})
