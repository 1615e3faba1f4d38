/**
 * `npm start`: starts the dev issuer, the `HttpApi` on HOST:PORT (default 127.0.0.1:3100) and the plain
 * router on the next port, and prints the demo credentials with curl lines to try.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Auth from "./Auth.js"
import * as Demo from "./Demo.js"
import * as Server from "./Server.js"

const program = Effect.gen(function* () {
  const host = yield* Config.string("HOST").pipe(Config.withDefault("127.0.0.1"))
  const port = yield* Config.port("PORT").pipe(Config.withDefault(3100))
  const demo = yield* Demo.start
  const auth = yield* Layer.build(Auth.layer(demo))
  const api = yield* Layer.build(Layer.provide(Server.api({ host, port }), Layer.succeedContext(auth)))
  const router = yield* Layer.build(
    Layer.provide(Server.router({ host, port: port === 0 ? 0 : port + 1 }), Layer.succeedContext(auth))
  )
  yield* Effect.sync(() =>
    console.log(
      Demo.banner(
        demo,
        Server.baseUrl(Context.get(api, HttpServer.HttpServer)),
        Server.baseUrl(Context.get(router, HttpServer.HttpServer))
      )
    )
  )
  return yield* Effect.never
})

NodeRuntime.runMain(Effect.scoped(program))
