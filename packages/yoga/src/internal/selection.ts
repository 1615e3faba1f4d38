import type {
  DocumentNode,
  FieldNode,
  FragmentDefinitionNode,
  GraphQLField,
  GraphQLNamedType,
  GraphQLSchema,
  OperationDefinitionNode,
  SelectionSetNode
} from "graphql"
import {
  getNamedType,
  getOperationAST,
  isAbstractType,
  isIntrospectionType,
  isObjectType,
  isInterfaceType
} from "graphql"
import * as AuthDirectives from "../AuthDirectives.js"

/** A selected field that needs an authenticated caller (and its policies). */
export interface Demand {
  readonly node: FieldNode
  readonly requirement: Extract<AuthDirectives.Requirement, { _tag: "Protected" }>
}

export interface Walk {
  /** Fields default to this at the root (protect-all: authenticated; otherwise public). */
  readonly rootDefault: AuthDirectives.Requirement
  /** Whether `__schema`, `__type` and a root `__typename` need no caller. */
  readonly allowIntrospection: boolean
}

// Bounds the work a crafted document can cause (fragments spread many times at many depths).
const maxVisits = 10_000

/**
 * Every selected field of the operation that needs a caller, following fragments and inline fragments
 * (deferred ones too). A field's requirement is its own mark, else its type's mark, else the requirement
 * of the field it is selected in (root fields: the mode's default). Introspection fields count like any
 * other, so adding `__schema` or `__typename` to an operation never changes what its other fields need.
 * `undefined` when the operation cannot be found or the document is too large to check (refuse then).
 */
export const demands = (
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  walk: Walk
): ReadonlyArray<Demand> | undefined => {
  const operation: OperationDefinitionNode | null | undefined = getOperationAST(document, operationName)
  if (operation === null || operation === undefined) return undefined
  const root = schema.getRootType(operation.operation)
  if (root === undefined || root === null) return undefined
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const definition of document.definitions) {
    if (definition.kind === "FragmentDefinition") fragments.set(definition.name.value, definition)
  }
  const found: Array<Demand> = []
  const seen = new Set<string>()
  const inheritedIds = new Map<AuthDirectives.Requirement, number>()
  let visits = 0

  const idOf = (requirement: AuthDirectives.Requirement) => {
    let id = inheritedIds.get(requirement)
    if (id === undefined) {
      id = inheritedIds.size
      inheritedIds.set(requirement, id)
    }
    return id
  }

  const requirementFor = (
    parent: GraphQLNamedType,
    name: string,
    inherited: AuthDirectives.Requirement,
    isRoot: boolean
  ): { requirement: AuthDirectives.Requirement; field: GraphQLField<unknown, unknown> | undefined } => {
    if (name === "__schema" || name === "__type" || (name === "__typename" && isRoot)) {
      return {
        requirement: walk.allowIntrospection ? AuthDirectives.publicRequirement : walk.rootDefault,
        field: undefined
      }
    }
    if (name === "__typename") return { requirement: inherited, field: undefined }
    if (!isObjectType(parent) && !isInterfaceType(parent)) return { requirement: inherited, field: undefined }
    const field = parent.getFields()[name]
    if (field === undefined) return { requirement: inherited, field: undefined }
    const own = AuthDirectives.fieldRequirement(schema, parent, field)
    if (!isAbstractType(parent)) return { requirement: own ?? inherited, field }
    // On an interface, the field runs on one of its implementations: each one's marks count too.
    const all = [own ?? inherited]
    for (const type of schema.getPossibleTypes(parent)) {
      const implementation = type.getFields()[name]
      if (implementation !== undefined)
        all.push(AuthDirectives.fieldRequirement(schema, type, implementation) ?? all[0]!)
    }
    const policies = all.flatMap((requirement) => (requirement._tag === "Protected" ? requirement.policies : []))
    const requirement: AuthDirectives.Requirement = all.every((requirement) => requirement._tag === "Public")
      ? AuthDirectives.publicRequirement
      : { _tag: "Protected", policies }
    return { requirement, field }
  }

  const visit = (
    selectionSet: SelectionSetNode,
    parent: GraphQLNamedType,
    inherited: AuthDirectives.Requirement,
    isRoot: boolean
  ): boolean => {
    for (const selection of selectionSet.selections) {
      if (++visits > maxVisits) return false
      switch (selection.kind) {
        case "Field": {
          const { field, requirement } = requirementFor(parent, selection.name.value, inherited, isRoot)
          // An inherited requirement was already demanded by the enclosing field: one error, not one per field.
          if (requirement._tag === "Protected" && (isRoot || requirement !== inherited)) {
            found.push({ node: selection, requirement })
          }
          // Inside introspection types everything is as open as the introspection field that led there.
          if (selection.selectionSet !== undefined && field !== undefined) {
            const type = getNamedType(field.type)
            if (!isIntrospectionType(type) && !visit(selection.selectionSet, type, requirement, false)) return false
          }
          break
        }
        case "InlineFragment": {
          const type =
            selection.typeCondition === undefined ? parent : schema.getType(selection.typeCondition.name.value)
          if (type !== undefined && type !== null && !visit(selection.selectionSet, type, inherited, isRoot))
            return false
          break
        }
        case "FragmentSpread": {
          const fragment = fragments.get(selection.name.value)
          if (fragment === undefined) return false
          const key = `${fragment.name.value}:${parent.name}:${idOf(inherited)}:${isRoot}`
          if (seen.has(key)) break
          seen.add(key)
          const type = schema.getType(fragment.typeCondition.name.value)
          if (type !== undefined && type !== null && !visit(fragment.selectionSet, type, inherited, isRoot))
            return false
          break
        }
      }
    }
    return true
  }

  return visit(operation.selectionSet, root, walk.rootDefault, true) ? found : undefined
}
