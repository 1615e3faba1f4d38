/**
 * @effect-auth/http: authenticate node:http, fetch and @effect/platform servers.
 *
 * @since 0.1.0
 */
export * as ErrorResponse from "./ErrorResponse.js"
export * as FetchAuth from "./FetchAuth.js"
export * as HttpApiAuth from "./HttpApiAuth.js"
export * as HttpAuthMiddleware from "./HttpAuthMiddleware.js"
export * as NodeHttpAuth from "./NodeHttpAuth.js"
export * as RoutePolicy from "./RoutePolicy.js"
