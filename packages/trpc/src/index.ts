/**
 * @effect-auth/trpc: authentication and authorization for tRPC v11 servers.
 *
 * @since 0.1.0
 */
export * as TrpcAuth from "./TrpcAuth.js"
export * as TrpcContext from "./TrpcContext.js"
export * as TrpcError from "./TrpcError.js"
