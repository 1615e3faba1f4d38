/**
 * The gateway's request listener: built-in routes, route policies, the per-principal rate limit, the
 * audit log, and either a JSON answer or the upstream proxy. Every decision about who may pass comes from
 * `@effect-auth/http` and core.
 */
import type { AuditLog } from "@effect-auth/core"
import { AuthError, Policy, Principal, RateLimit } from "@effect-auth/core"
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
  readonly rateLimit: RateLimit.RateLimit
  readonly audit: AuditLog.AuditLog
}

type Outcome = Awaited<ReturnType<typeof NodeHttpAuth.authorize>>

/** What the audit entry of a request knows about its caller, filled in once it is authenticated. */
interface Caller {
  principal?: Principal.Principal | undefined
}

// Only the API key provider's own claims count: a token whose issuer put a `key_id` or
// `rate_limit_per_minute` claim in it must neither pose as a key in the audit log nor choose its own limit.
const apiKeyClaim = (principal: Principal.Principal | undefined, claim: string): unknown =>
  principal?.provider === "api-key" ? principal.claims[claim] : undefined

/** An API key's id (never the key), for the audit log. */
const keyIdOf = (principal: Principal.Principal | undefined): string | undefined => {
  const keyId = apiKeyClaim(principal, "key_id")
  return typeof keyId === "string" ? keyId : undefined
}

/** The key's own limit (`rateLimitPerMinute` metadata), which overrides the configured one. */
const limitOf = (principal: Principal.Principal): RateLimit.ConsumeOptions => {
  const limit = apiKeyClaim(principal, "rate_limit_per_minute")
  return typeof limit === "number" ? { limit } : {}
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

  /**
   * Authenticates and authorizes, then counts the request against the caller's budget: the
   * `X-RateLimit-*` headers go on every answer that follows, and a spent budget is a 429 (never a 401).
   * A policy refusal (403) of an authenticated caller is counted too, so that probing forbidden routes is
   * not free; the count comes first, so a spent budget answers 429 whether or not the policy allows.
   */
  const authorize = async (
    request: Http.IncomingMessage,
    response: Http.ServerResponse,
    caller: Caller,
    policy: Policy.Policy
  ): Promise<Outcome> => {
    const outcome = await NodeHttpAuth.authorize(options.runtime, request, { policy, errorStyle: options.errorStyle })
    // Without a principal there is nobody to count against: a 401 (or an unavailable authenticator).
    if (outcome.principal === undefined) return outcome
    const principal = outcome.principal
    caller.principal = principal
    const counted = await options.runtime.runPromise(
      Effect.either(options.rateLimit.consume(principal.id, limitOf(principal)))
    )
    if (Either.isRight(counted)) {
      for (const [name, value] of Object.entries(RateLimit.headers(counted.right))) response.setHeader(name, value)
      return outcome
    }
    const refusal = ErrorResponse.fromFailure(counted.left, { style: options.errorStyle })
    if (!(counted.left instanceof AuthError.RateLimited)) return { _tag: "Refused", response: refusal }
    return {
      _tag: "Refused",
      response: { ...refusal, headers: { ...refusal.headers, ...RateLimit.headers(counted.left) } }
    }
  }

  const whoami = async (request: Http.IncomingMessage, response: Http.ServerResponse, caller: Caller) => {
    const outcome = await authorize(request, response, caller, anyCaller)
    if (outcome._tag === "Refused") return NodeHttpAuth.sendError(response, outcome.response)
    const described = await options.runtime.runPromise(Effect.either(Principal.describe(outcome.principal)))
    if (Either.isRight(described)) return sendJson(response, 200, described.right)
    NodeHttpAuth.sendError(response, ErrorResponse.fromFailure(described.left, { style: options.errorStyle }))
  }

  const route = async (request: Http.IncomingMessage, response: Http.ServerResponse, path: string, caller: Caller) => {
    const decision = Routes.decide(options.routes, path)
    switch (decision._tag) {
      case "Rejected":
        return answer(response, 400, "Bad Request", "bad_path", `The request path was refused: ${decision.reason}`)
      case "Public":
        return pass(request, response, path)
      case "Protected": {
        const outcome = await authorize(request, response, caller, decision.policy)
        if (outcome._tag === "Refused") return NodeHttpAuth.sendError(response, outcome.response)
        // Without an upstream, only the paths the route table names exist.
        if (options.proxy === undefined && decision.route === undefined) {
          return answer(response, 404, "Not Found", "not_found", "No route matches this path")
        }
        return pass(request, response, path, outcome.principal.id)
      }
    }
  }

  // The caller's own use only: one key never learns another's.
  const metrics = async (request: Http.IncomingMessage, response: Http.ServerResponse, caller: Caller) => {
    const outcome = await authorize(request, response, caller, anyCaller)
    if (outcome._tag === "Refused") return NodeHttpAuth.sendError(response, outcome.response)
    const principal = outcome.principal
    const usage = await options.runtime.runPromise(
      Effect.either(options.rateLimit.metrics(principal.id, limitOf(principal)))
    )
    if (Either.isLeft(usage)) {
      return NodeHttpAuth.sendError(response, ErrorResponse.fromFailure(usage.left, { style: options.errorStyle }))
    }
    sendJson(response, 200, {
      key_id: principal.id,
      used: usage.right.used,
      limit: usage.right.limit,
      reset_seconds: Math.ceil(usage.right.resetAfterMillis / 1000)
    })
  }

  type BuiltIn = (request: Http.IncomingMessage, response: Http.ServerResponse, caller: Caller) => unknown
  const builtIns: Readonly<Record<string, BuiltIn>> = {
    "/healthz": (_request, response) => sendJson(response, 200, { status: "ok" }),
    "/whoami": whoami,
    "/metrics": metrics
  }

  // One entry per request, refused ones included, once the answer is sent (or the connection is gone).
  const audit = (request: Http.IncomingMessage, response: Http.ServerResponse, path: string, caller: Caller) => {
    const time = new Date()
    const started = performance.now()
    response.once("close", () => {
      const principal = caller.principal
      options.runtime.runFork(
        options.audit.record({
          time,
          keyId: keyIdOf(principal),
          principal: principal?.id,
          provider: principal?.provider,
          method: request.method ?? "GET",
          path,
          status: response.statusCode,
          latencyMillis: performance.now() - started
        })
      )
    })
  }

  return (request, response) => {
    const url = request.url ?? "/"
    const query = url.indexOf("?")
    const path = query < 0 ? url : url.slice(0, query)
    const caller: Caller = {}
    audit(request, response, path, caller)
    const builtIn = Object.hasOwn(builtIns, path) ? builtIns[path] : undefined
    const handled = Promise.resolve().then(() => {
      if (builtIn === undefined) return route(request, response, path, caller)
      // The built-in routes are answered by the gateway itself, never proxied, and only read.
      if (request.method !== "GET" && request.method !== "HEAD") {
        response.setHeader("allow", "GET, HEAD")
        return answer(response, 405, "Method Not Allowed", "method_not_allowed", "Only GET and HEAD are allowed here")
      }
      return builtIn(request, response, caller)
    })
    handled.catch(() =>
      NodeHttpAuth.sendError(response, ErrorResponse.fromFailure("internal", { style: options.errorStyle }))
    )
  }
}
