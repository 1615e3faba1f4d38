/**
 * @effect-auth/yoga: a GraphQL Yoga plugin and schema directives for effect-auth.
 *
 * @since 0.1.0
 */
export * as AuthDirectives from "./AuthDirectives.js"
export * as AuthGraphQLError from "./AuthGraphQLError.js"
export * as YogaAuth from "./YogaAuth.js"

/**
 * @since 0.1.0
 */
export { authDirectivesTypeDefs } from "./AuthDirectives.js"

/**
 * @since 0.1.0
 */
export { useEffectAuth } from "./YogaAuth.js"
