/**
 * A short soak of the built gateway (`scripts/soak.mjs`, whose long form is `npm run soak`): a JWT issuer,
 * API keys with a rate limit and a route policy, driven by autocannon with valid, expired, forged and
 * wrong-audience tokens, a token on a forbidden route, valid, rate-limited and unknown API keys, and no
 * credential at all. Every request must be answered, each kind only with its own statuses, and memory
 * must stay flat once warm.
 */
import { describe, expect, it } from "@effect/vitest"

interface Kind {
  readonly name: string
  readonly expect: ReadonlyArray<number>
}

interface Run {
  readonly requests: number
  readonly errors: number
  readonly timeouts: number
  readonly statuses: Readonly<Record<string, Readonly<Record<string, number>>>>
  readonly rssSamples: ReadonlyArray<number>
}

interface RssBound {
  readonly fraction: number
  readonly megabytes: number
}

/** The parts of the soak script this test uses. */
interface SoakScript {
  readonly soak: (options: {
    readonly seconds: number
    readonly connections?: number
  }) => Promise<{ readonly run: Run; readonly kinds: ReadonlyArray<Kind> }>
  readonly judge: (run: Run, kinds: ReadonlyArray<Kind>, bound?: RssBound) => ReadonlyArray<string>
  readonly report: (run: Run, kinds: ReadonlyArray<Kind>, bound?: RssBound) => { readonly markdown: string }
  readonly rssTrend: (samples: ReadonlyArray<number>, bound?: RssBound) => { readonly ok: boolean }
}

// The script is plain JavaScript outside this project's sources, so it is loaded by URL.
const scriptUrl = new URL("../../../scripts/soak.mjs", import.meta.url).href
const script: SoakScript = await import(scriptUrl)

const megabytes = (n: number) => n * 1024 * 1024
// Thirty seconds: a young process grows its heap towards its working size for the first 15 to 20 s (faster
// the more requests it serves, with spikes before a major collection), so the thirds compared are 10–20 s
// and 20–30 s, with a looser bound than the full soak's 10% / 15 MB that still catches a leak of about
// 6 MB per second. Flatness over a minute is the long form's check (`npm run soak`).
const shortRssBound: RssBound = { fraction: 0.25, megabytes: 60 }
const shortSeconds = 30

describe("soak", () => {
  it("the verdict fails on growing memory, an unexpected status, an error or a kind without answers", () => {
    const flat = [150, 180, 190, 191, 189, 190, 192, 190, 191].map(megabytes)
    const leaking = [150, 180, 190, 200, 230, 260, 290, 320, 350].map(megabytes)
    expect(script.rssTrend(flat, shortRssBound).ok).toBe(true)
    expect(script.rssTrend(leaking, shortRssBound).ok).toBe(false)

    const kinds: ReadonlyArray<Kind> = [
      { name: "valid", expect: [200] },
      { name: "refused", expect: [401] }
    ]
    const good: Run = {
      requests: 20,
      errors: 0,
      timeouts: 0,
      statuses: { valid: { 200: 10 }, refused: { 401: 10 } },
      rssSamples: flat
    }
    expect(script.judge(good, kinds, shortRssBound)).toEqual([])
    expect(script.judge({ ...good, rssSamples: leaking }, kinds, shortRssBound)).toEqual([
      expect.stringContaining("memory not flat")
    ])
    expect(
      script.judge({ ...good, statuses: { valid: { 200: 9, 500: 1 }, refused: { 401: 10 } } }, kinds, shortRssBound)
    ).toEqual([expect.stringContaining("valid: unexpected statuses 500×1")])
    expect(script.judge({ ...good, errors: 1, timeouts: 1 }, kinds, shortRssBound)).toHaveLength(2)
    expect(script.judge({ ...good, statuses: { valid: { 200: 10 } } }, kinds, shortRssBound)).toEqual([
      "refused: no answer"
    ])
  })

  it(
    `${shortSeconds} s of mixed load: no errors or timeouts, every kind only its statuses, the rate limit bites, memory flat`,
    { timeout: 60_000 },
    async () => {
      const { run, kinds } = await script.soak({ seconds: shortSeconds, connections: 32 })
      const { markdown } = script.report(run, kinds, shortRssBound)
      expect(script.judge(run, kinds, shortRssBound), markdown).toEqual([])
      expect({ errors: run.errors, timeouts: run.timeouts }).toEqual({ errors: 0, timeouts: 0 })
      // The limited key was let through for its budget and refused after it, under load.
      const limited = run.statuses["rate-limited API key"] ?? {}
      // 50 a minute: at most two fixed windows fall within 30 s.
      expect(Number(limited[200])).toBeGreaterThan(0)
      expect(Number(limited[200]), markdown).toBeLessThanOrEqual(100)
      expect(Number(limited[429]), markdown).toBeGreaterThan(0)
      // A load worth the name: every kind was answered many times.
      for (const kind of kinds) {
        const answered = Object.values(run.statuses[kind.name] ?? {}).reduce((sum, n) => sum + n, 0)
        expect(answered, `${kind.name}\n${markdown}`).toBeGreaterThan(100)
      }
    }
  )
})
