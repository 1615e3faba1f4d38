/**
 * The gateway's request listener: built-in routes, route policies, and either a JSON answer or the
 * upstream proxy. Every decision about who may pass comes from `@effect-auth/http` and core.
 */
import { Policy, Principal } from "@effect-auth/core"
import type { RoutePolicy } from "@effect-auth/http"
import { ErrorResponse, NodeHttpAuth, RoutePolicy as Routes } from "@effect-auth/http"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Http from "node:http"
import * as Proxy from "./Proxy.js"

export interface GatewayOptions {
  readonly runtime: NodeHttpAuth.AuthRuntime
  readonly routes: RoutePolicy.Table
  readonly errorStyle: ErrorResponse.ErrorStyle
  readonly proxy: Proxy.ProxyOptions | undefined
}

const sendJson = (response: Http.ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" })
  response.end(JSON.stringify(body))
}

const anyCaller = Policy.authenticated()

export const listener = (options: GatewayOptions): Http.RequestListener => {
  const answer = (response: Http.ServerResponse, status: number, title: string, code: string, detail: string) =>
    NodeHttpAuth.sendError(response, ErrorResponse.fromStatus({ status, title, code, detail }, options.errorStyle))

  const pass = (request: Http.IncomingMessage, response: Http.ServerResponse, path: string, principal?: string) => {
    if (options.proxy === undefined) return sendJson(response, 200, { ok: true, path })
    Proxy.forward(options.proxy, request, response, principal, (status) =>
      status === 504
        ? answer(response, 504, "Gateway Timeout", "upstream_timeout", "The upstream did not answer in time")
        : answer(response, 502, "Bad Gateway", "upstream_unreachable", "The upstream could not be reached")
    )
  }

  const authorize = (request: Http.IncomingMessage, policy: Policy.Policy) =>
    NodeHttpAuth.authorize(options.runtime, request, { policy, errorStyle: options.errorStyle })

  const whoami = async (request: Http.IncomingMessage, response: Http.ServerResponse) => {
    const outcome = await authorize(request, anyCaller)
    if (outcome._tag === "Refused") return NodeHttpAuth.sendError(response, outcome.response)
    const described = await options.runtime.runPromise(Effect.either(Principal.describe(outcome.principal)))
    if (Either.isRight(described)) return sendJson(response, 200, described.right)
    NodeHttpAuth.sendError(response, ErrorResponse.fromFailure(described.left, { style: options.errorStyle }))
  }

  const route = async (request: Http.IncomingMessage, response: Http.ServerResponse, path: string) => {
    const decision = Routes.decide(options.routes, path)
    switch (decision._tag) {
      case "Rejected":
        return answer(response, 400, "Bad Request", "bad_path", `The request path was refused: ${decision.reason}`)
      case "Public":
        return pass(request, response, path)
      case "Protected": {
        const outcome = await authorize(request, decision.policy)
        if (outcome._tag === "Refused") return NodeHttpAuth.sendError(response, outcome.response)
        // Without an upstream, only the paths the route table names exist.
        if (options.proxy === undefined && decision.route === undefined) {
          return answer(response, 404, "Not Found", "not_found", "No route matches this path")
        }
        return pass(request, response, path, outcome.principal.id)
      }
    }
  }

  const metrics = async (request: Http.IncomingMessage, response: Http.ServerResponse) => {
    const outcome = await authorize(request, anyCaller)
    if (outcome._tag === "Refused") return NodeHttpAuth.sendError(response, outcome.response)
    answer(response, 501, "Not Implemented", "not_configured", "Per-key rate-limit metrics need rate limiting")
  }

  const builtIns: Readonly<Record<string, (request: Http.IncomingMessage, response: Http.ServerResponse) => unknown>> =
    {
      "/healthz": (_request, response) => sendJson(response, 200, { status: "ok" }),
      "/whoami": whoami,
      "/metrics": metrics
    }

  return (request, response) => {
    const url = request.url ?? "/"
    const query = url.indexOf("?")
    const path = query < 0 ? url : url.slice(0, query)
    const builtIn = Object.hasOwn(builtIns, path) ? builtIns[path] : undefined
    const handled = Promise.resolve().then(() => {
      if (builtIn === undefined) return route(request, response, path)
      // The built-in routes are answered by the gateway itself, never proxied, and only read.
      if (request.method !== "GET" && request.method !== "HEAD") {
        response.setHeader("allow", "GET, HEAD")
        return answer(response, 405, "Method Not Allowed", "method_not_allowed", "Only GET and HEAD are allowed here")
      }
      return builtIn(request, response)
    })
    handled.catch(() =>
      NodeHttpAuth.sendError(response, ErrorResponse.fromFailure("internal", { style: options.errorStyle }))
    )
  }
}
