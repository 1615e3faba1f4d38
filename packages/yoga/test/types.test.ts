import type { Authenticated } from "@effect-auth/core"
import type { Authenticator, RateLimit } from "@effect-auth/core"
import { useEffectAuth, YogaAuth } from "@effect-auth/yoga"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { describe, expectTypeOf, it } from "vitest"

class Clock extends Context.Tag("test/Clock")<Clock, { readonly now: number }>() {}

const authOnly = ManagedRuntime.make(Layer.empty as Layer.Layer<Authenticator.Authenticator>)
const withRateLimit = ManagedRuntime.make(Layer.empty as Layer.Layer<Authenticator.Authenticator | RateLimit.RateLimit>)
const context: YogaAuth.AuthContext = { principal: null, authError: null }

describe("types", () => {
  it("run provides Authenticated and the runtime's services, nothing else", () => {
    const needsCaller: Effect.Effect<string, never, Authenticated.Authenticated> = Effect.succeed("ok")
    // Never called: only the types are under test.
    const call = () => YogaAuth.run(authOnly, context, needsCaller)
    expectTypeOf(call).returns.toEqualTypeOf<Promise<string>>()
    const needsClock = Effect.map(Clock, (clock) => clock.now)
    // @ts-expect-error Clock is provided neither by the runtime nor by the plugin
    const refused = () => YogaAuth.run(authOnly, context, needsClock)
    expectTypeOf(refused).toBeFunction()
  })

  it("a rate limit needs a runtime that provides RateLimit", () => {
    useEffectAuth({ runtime: withRateLimit, mode: "protect-all", rateLimit: true })
    // @ts-expect-error the runtime has no RateLimit
    useEffectAuth({ runtime: authOnly, mode: "protect-all", rateLimit: true })
  })

  it("the context's principal may be null", () => {
    expectTypeOf(context.principal).toBeNullable()
  })
})
