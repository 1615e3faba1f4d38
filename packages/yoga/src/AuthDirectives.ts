/**
 * What a field (or a whole object type) requires: written as schema directives (`@authenticated`,
 * `@hasGroup(groups:)`, `@hasRole(roles:)`, `@hasPermission(permissions:)`, `@public`) in SDL, or as an
 * `auth` field extension in code-first schemas. Several requirements on one field must all hold; each list
 * is any-of.
 *
 * @since 0.1.0
 */
import type { Policy } from "@effect-auth/core"
import { Policy as Policies } from "@effect-auth/core"
import type { ASTNode, GraphQLField, GraphQLNamedType, GraphQLObjectType, GraphQLSchema } from "graphql"
import { getDirectiveValues, getNamedType, isAbstractType, isInterfaceType, isObjectType } from "graphql"

/**
 * The directive definitions, to add to an SDL schema's type definitions.
 *
 * @example
 * ```ts
 * import { createSchema } from "graphql-yoga"
 * import { authDirectivesTypeDefs } from "@effect-auth/yoga"
 *
 * const schema = createSchema({
 *   typeDefs: [authDirectivesTypeDefs, "type Query { hello: String @public, me: String @authenticated }"],
 *   resolvers: { Query: { hello: () => "hi", me: () => "me" } }
 * })
 * ```
 *
 * @since 0.1.0
 */
export const authDirectivesTypeDefs = `
"Readable without credentials, also when the plugin runs in protect-all mode."
directive @public on OBJECT | INTERFACE | FIELD_DEFINITION
"Needs an authenticated caller."
directive @authenticated on OBJECT | INTERFACE | FIELD_DEFINITION
"Needs membership of at least one of the groups."
directive @hasGroup(groups: [String!]!) on OBJECT | INTERFACE | FIELD_DEFINITION
"Needs at least one of the roles."
directive @hasRole(roles: [String!]!) on OBJECT | INTERFACE | FIELD_DEFINITION
"Needs at least one of the permissions (wildcards and denies as in effect-auth's permission grammar)."
directive @hasPermission(permissions: [String!]!) on OBJECT | INTERFACE | FIELD_DEFINITION
`

/**
 * The `auth` field (or type) extension of code-first schemas: `{ extensions: { auth: { groups: ["admin"] } } }`.
 * Every listed requirement must hold.
 *
 * @since 0.1.0
 */
export interface AuthExtension {
  readonly public?: boolean | undefined
  readonly authenticated?: boolean | undefined
  readonly groups?: ReadonlyArray<string> | undefined
  readonly roles?: ReadonlyArray<string> | undefined
  readonly permissions?: ReadonlyArray<string> | undefined
  /** Any policy of `@effect-auth/core`, for rules the lists cannot say. */
  readonly policy?: Policy.Policy | undefined
}

/**
 * A field's requirement as read from its marks: public, or an authenticated caller who satisfies every
 * policy (none: any authenticated caller).
 *
 * @since 0.1.0
 */
export type Requirement =
  { readonly _tag: "Public" } | { readonly _tag: "Protected"; readonly policies: ReadonlyArray<Policy.Policy> }

/**
 * @since 0.1.0
 */
export const publicRequirement: Requirement = { _tag: "Public" }

/**
 * Any authenticated caller.
 *
 * @since 0.1.0
 */
export const authenticatedRequirement: Requirement = { _tag: "Protected", policies: [] }

type Marked = GraphQLField<unknown, unknown> | GraphQLNamedType

const cache = new WeakMap<GraphQLSchema, WeakMap<Marked, Requirement | null>>()

const stringList = (value: unknown): ReadonlyArray<string> | undefined =>
  Array.isArray(value) && value.every((item) => typeof item === "string") ? value : undefined

const fromExtension = (auth: unknown): { isPublic: boolean; policies: Array<Policy.Policy>; marked: boolean } => {
  const result = { isPublic: false, policies: new Array<Policy.Policy>(), marked: false }
  if (typeof auth !== "object" || auth === null) return result
  const extension = auth as AuthExtension
  if (extension.public === true) {
    result.isPublic = true
    result.marked = true
  }
  if (extension.authenticated === true) result.marked = true
  const lists = [
    [extension.groups, Policies.groups],
    [extension.roles, Policies.roles],
    [extension.permissions, Policies.permissions]
  ] as const
  for (const [list, policy] of lists) {
    if (list !== undefined) {
      result.policies.push(policy(list))
      result.marked = true
    }
  }
  if (extension.policy !== undefined) {
    result.policies.push(extension.policy)
    result.marked = true
  }
  return result
}

// A type's marks may sit on its definition and on any `extend type` / `extend interface` of it.
const nodesOf = (marked: Marked): ReadonlyArray<ASTNode> => {
  const nodes: Array<ASTNode> = []
  if (marked.astNode !== undefined && marked.astNode !== null) nodes.push(marked.astNode)
  if ("extensionASTNodes" in marked) nodes.push(...marked.extensionASTNodes)
  return nodes
}

const read = (schema: GraphQLSchema, marked: Marked): Requirement | null => {
  const found = fromExtension((marked.extensions as { readonly auth?: unknown } | null | undefined)?.auth)
  for (const node of nodesOf(marked)) {
    if (!("directives" in node) || node.directives === undefined) continue
    const values = (name: string) => {
      const directive = schema.getDirective(name)
      return directive === undefined || directive === null
        ? undefined
        : getDirectiveValues(directive, node as Parameters<typeof getDirectiveValues>[1])
    }
    if (values("public") !== undefined) {
      found.isPublic = true
      found.marked = true
    }
    if (values("authenticated") !== undefined) found.marked = true
    const lists = [
      ["hasGroup", "groups", Policies.groups],
      ["hasRole", "roles", Policies.roles],
      ["hasPermission", "permissions", Policies.permissions]
    ] as const
    for (const [name, argument, policy] of lists) {
      const list = values(name)
      if (list === undefined) continue
      // Validated by the schema as [String!]!; anything else would be a bug, refused rather than ignored.
      found.policies.push(policy(stringList(list[argument]) ?? []))
      found.marked = true
    }
  }
  if (!found.marked) return null
  // A requirement beside @public wins: fail closed on a contradictory mark.
  return found.policies.length > 0 || !found.isPublic
    ? { _tag: "Protected", policies: found.policies }
    : publicRequirement
}

/**
 * The requirement a field or type is marked with, or `null` when it carries no mark. Remembered per schema.
 *
 * @since 0.1.0
 */
export const requirementOf = (schema: GraphQLSchema, marked: Marked): Requirement | null => {
  let known = cache.get(schema)
  if (known === undefined) {
    known = new WeakMap()
    cache.set(schema, known)
  }
  const cached = known.get(marked)
  if (cached !== undefined) return cached
  const requirement = read(schema, marked)
  known.set(marked, requirement)
  return requirement
}

/**
 * All of the requirements at once: public only when every one is public (fail closed).
 *
 * @since 0.1.0
 */
export const all = (requirements: ReadonlyArray<Requirement>): Requirement => {
  if (requirements.every((requirement) => requirement._tag === "Public")) return publicRequirement
  const policies = new Set<Policy.Policy>()
  for (const requirement of requirements) {
    if (requirement._tag === "Protected") for (const policy of requirement.policies) policies.add(policy)
  }
  return { _tag: "Protected", policies: [...policies] }
}

// Marks that only ever add a requirement: a `@public` there opens nothing.
const protectedOnly = (requirement: Requirement | null): ReadonlyArray<Requirement> =>
  requirement !== null && requirement._tag === "Protected" ? [requirement] : []

// What an interface asks of a field of its implementations: its own field's mark, else its type's.
const interfaceDemand = (schema: GraphQLSchema, type: GraphQLNamedType, name: string): ReadonlyArray<Requirement> => {
  if (!isInterfaceType(type)) return []
  const field = type.getFields()[name]
  return protectedOnly((field === undefined ? null : requirementOf(schema, field)) ?? requirementOf(schema, type))
}

// What a value of the type needs before anything of it is produced, even only its `__typename`.
const typeDemand = (schema: GraphQLSchema, type: GraphQLNamedType): ReadonlyArray<Requirement> => {
  const types: Array<GraphQLNamedType> = [type]
  if (isAbstractType(type)) types.push(...schema.getPossibleTypes(type))
  const found: Array<Requirement> = []
  for (const each of types) {
    found.push(...protectedOnly(requirementOf(schema, each)))
    if (isObjectType(each) || isInterfaceType(each)) {
      for (const implemented of each.getInterfaces()) found.push(...protectedOnly(requirementOf(schema, implemented)))
    }
  }
  return found
}

const objectFieldRequirement = (
  schema: GraphQLSchema,
  parent: GraphQLObjectType,
  field: GraphQLField<unknown, unknown>,
  fallback: Requirement
): Requirement =>
  all([
    requirementOf(schema, field) ?? requirementOf(schema, parent) ?? fallback,
    ...parent.getInterfaces().flatMap((implemented) => interfaceDemand(schema, implemented, field.name)),
    ...typeDemand(schema, getNamedType(field.type))
  ])

const fieldCache = new WeakMap<GraphQLSchema, Map<string, Requirement>>()

/**
 * What selecting a field of `parent` needs. The field's own mark, else its type's, else `fallback`; and in
 * any case the marks of every interface the type implements (the interface's field, else the interface),
 * and the marks of the field's return type (all of its possible types when it is abstract), since the
 * field's resolver produces that value. Selected on an interface, the field runs on one of its
 * implementations: it needs what it needs on every one of them. Only a field's or its own type's
 * `@public` opens it; a `@public` on an interface or a return type adds nothing.
 *
 * @since 0.1.0
 */
export const fieldRequirement = (
  schema: GraphQLSchema,
  parent: GraphQLNamedType,
  field: GraphQLField<unknown, unknown>,
  fallback: Requirement
): Requirement => {
  let known = fieldCache.get(schema)
  if (known === undefined) {
    known = new Map()
    fieldCache.set(schema, known)
  }
  // One requirement object per field and default: the plugin decides each requirement once per request.
  const cacheable = fallback === publicRequirement || fallback === authenticatedRequirement
  const key = `${parent.name}.${field.name}:${fallback._tag}`
  const cached = cacheable ? known.get(key) : undefined
  if (cached !== undefined) return cached
  let requirement: Requirement
  if (isObjectType(parent)) {
    requirement = objectFieldRequirement(schema, parent, field, fallback)
  } else if (isInterfaceType(parent)) {
    const implementations = schema.getPossibleTypes(parent).flatMap((type) => {
      const implementation = type.getFields()[field.name]
      return implementation === undefined ? [] : [objectFieldRequirement(schema, type, implementation, fallback)]
    })
    requirement = all([
      ...(implementations.length === 0
        ? [requirementOf(schema, field) ?? requirementOf(schema, parent) ?? fallback]
        : implementations),
      ...interfaceDemand(schema, parent, field.name),
      ...typeDemand(schema, getNamedType(field.type))
    ])
  } else {
    requirement = fallback
  }
  if (cacheable) known.set(key, requirement)
  return requirement
}
