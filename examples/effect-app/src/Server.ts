/**
 * Both servers as layers: the `HttpApi` (with its OpenAPI document at `/openapi.json`) and the plain
 * router, each on its own port of the given host.
 */
import type { Authenticator } from "@effect-auth/core"
import { RateLimit } from "@effect-auth/core"
import { HttpApiAuth } from "@effect-auth/http"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import * as Api from "./Api.js"
import * as Router from "./Router.js"

export interface Options {
  readonly host: string
  /** 0: any free port. */
  readonly port: number
  /** Requests per caller per minute on the `HttpApi` (default 100). */
  readonly rateLimit?: number | undefined
}

const listen = (options: Options) =>
  NodeHttpServer.layer(() => Http.createServer(), { port: options.port, host: options.host })

/** The `HttpApi` server; needs the `Authenticator`. */
export const api = (options: Options): Layer.Layer<HttpServer.HttpServer, unknown, Authenticator.Authenticator> =>
  HttpApiBuilder.serve().pipe(
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(Api.ApiLive),
    Layer.provide(
      HttpApiAuth.layer({ rateLimit: true }).pipe(Layer.provide(RateLimit.layerMemory({ limit: options.rateLimit })))
    ),
    Layer.provideMerge(listen(options))
  )

/** The plain router server; needs the `Authenticator`. */
export const router = (options: Options): Layer.Layer<HttpServer.HttpServer, unknown, Authenticator.Authenticator> =>
  HttpServer.serve(Router.app).pipe(Layer.provideMerge(listen(options)))

/** The base URL a server listens on. */
export const baseUrl = (server: HttpServer.HttpServer): string => {
  const address = server.address
  return address._tag === "TcpAddress" ? `http://${address.hostname}:${address.port}` : `unix:${address.path}`
}
