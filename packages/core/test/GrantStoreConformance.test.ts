import { GrantStore, Permission } from "@effect-auth/core"
import { GrantStoreCases } from "@effect-auth/testing"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import * as Effect from "effect/Effect"

/**
 * Runs every conformance case against stores made by `makeStore` (seeded with the case's model): the
 * loaded grants must equal the expected ones exactly, and every check must agree with `Permission.allows`.
 */
const conformance = (
  name: string,
  makeStore: (testCase: GrantStoreCases.Case) => Effect.Effect<GrantStore.GrantStore>
) =>
  describe(name, () => {
    for (const testCase of GrantStoreCases.cases) {
      it.effect(testCase.name, () =>
        Effect.gen(function* () {
          const store = yield* makeStore(testCase)
          for (const [principalId, expected] of Object.entries(testCase.expect)) {
            expect(yield* store.load(principalId), `grants of ${JSON.stringify(principalId)}`).toStrictEqual(expected)
          }
          for (const [principalId, checks] of Object.entries(testCase.checks ?? {})) {
            const held = (yield* store.load(principalId)).permissions
            for (const [required, allowed] of checks) {
              expect(Permission.allows(held, required), `${JSON.stringify(principalId)} ${required}`).toBe(allowed)
            }
          }
        })
      )
    }
  })

const options = (testCase: GrantStoreCases.Case) =>
  testCase.maxDepth === undefined ? undefined : { maxDepth: testCase.maxDepth }

conformance("GrantStore.makeMemory", (testCase) =>
  Effect.succeed(GrantStore.makeMemory(testCase.model, options(testCase)))
)

conformance("GrantStore.cached(makeMemory)", (testCase) =>
  GrantStore.cached(GrantStore.makeMemory(testCase.model, options(testCase)), { timeToLive: "1 minute" })
)

describe("GrantStoreCases", () => {
  it("covers the required semantics", () => {
    const names = GrantStoreCases.cases.map((testCase) => testCase.name).join("\n")
    for (const topic of [
      "unknown",
      "groups",
      "chain",
      "cycles",
      "maxDepth",
      "several paths",
      "wildcard",
      "deny",
      "inside",
      "malformed deny",
      "case-sensitive",
      "spaces",
      "unicode"
    ]) {
      expect(names).toContain(topic)
    }
  })

  it("its types are the core GrantStore types", () => {
    expectTypeOf<GrantStoreCases.Model>().toEqualTypeOf<GrantStore.Model>()
    expectTypeOf<GrantStoreCases.EffectiveGrants>().toEqualTypeOf<GrantStore.EffectiveGrants>()
  })

  it("seeds no duplicate within a list, so stores with unique keys take the models as they are", () => {
    for (const { model } of GrantStoreCases.cases) {
      const lists = [
        ...Object.values(model.principals ?? {}).flatMap((p) => [p.groups, p.roles, p.permissions]),
        ...Object.values(model.groups ?? {}).map((g) => g.roles),
        ...Object.values(model.roles ?? {}).flatMap((r) => [r.permissions, r.inherits])
      ]
      for (const list of lists) if (list !== undefined) expect(new Set(list).size).toBe(list.length)
    }
  })
})
