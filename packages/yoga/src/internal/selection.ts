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
import type { Policy } from "@effect-auth/core"
import { getNamedType, getOperationAST, isIntrospectionType, isObjectType, isInterfaceType } from "graphql"
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

/**
 * The policies demanded by the fields a selection is nested in; empty at the root. Once any is demanded, a
 * caller is demanded too.
 */
type Enclosing = ReadonlySet<Policy.Policy>

const noEnclosing: Enclosing = new Set()

const implied = (
  requirement: Extract<AuthDirectives.Requirement, { _tag: "Protected" }>,
  enclosing: Enclosing
): boolean => enclosing !== noEnclosing && requirement.policies.every((policy) => enclosing.has(policy))

// Bounds the work a crafted document can cause (fragments spread many times at many depths).
const maxVisits = 10_000

/**
 * Every selected field of the operation that needs a caller, following fragments and inline fragments
 * (deferred ones too). A field's requirement is `AuthDirectives.fieldRequirement` with the mode's default:
 * nothing is inherited from the field it is selected in, so a `@public` field opens that field, not the
 * fields of the types below it. Introspection fields count like any other, so adding `__schema` or
 * `__typename` to an operation never changes what its other fields need; a nested `__typename` needs
 * nothing of its own (the field that produced the value already carries its type's marks).
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
  const enclosingIds = new Map<Enclosing, number>()
  let visits = 0

  const idOf = (enclosing: Enclosing) => {
    let id = enclosingIds.get(enclosing)
    if (id === undefined) {
      id = enclosingIds.size
      enclosingIds.set(enclosing, id)
    }
    return id
  }

  const requirementFor = (
    parent: GraphQLNamedType,
    name: string,
    isRoot: boolean
  ): { requirement: AuthDirectives.Requirement; field: GraphQLField<unknown, unknown> | undefined } => {
    if (name === "__schema" || name === "__type" || (name === "__typename" && isRoot)) {
      return {
        requirement: walk.allowIntrospection ? AuthDirectives.publicRequirement : walk.rootDefault,
        field: undefined
      }
    }
    if (name === "__typename") return { requirement: AuthDirectives.publicRequirement, field: undefined }
    const field = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined
    // Not in the schema: validation refuses the document before this, but fail closed regardless.
    if (field === undefined) return { requirement: AuthDirectives.authenticatedRequirement, field: undefined }
    return { requirement: AuthDirectives.fieldRequirement(schema, parent, field, walk.rootDefault), field }
  }

  const visit = (
    selectionSet: SelectionSetNode,
    parent: GraphQLNamedType,
    enclosing: Enclosing,
    isRoot: boolean
  ): boolean => {
    for (const selection of selectionSet.selections) {
      if (++visits > maxVisits) return false
      switch (selection.kind) {
        case "Field": {
          const { field, requirement } = requirementFor(parent, selection.name.value, isRoot)
          let inner = enclosing
          // What an enclosing field already demanded is not demanded again: one error, not one per field.
          if (requirement._tag === "Protected" && !implied(requirement, enclosing)) {
            found.push({ node: selection, requirement })
            inner = new Set([...enclosing, ...requirement.policies])
          }
          // Inside introspection types everything is as open as the introspection field that led there.
          if (selection.selectionSet !== undefined && field !== undefined) {
            const type = getNamedType(field.type)
            if (!isIntrospectionType(type) && !visit(selection.selectionSet, type, inner, false)) return false
          }
          break
        }
        case "InlineFragment": {
          const type =
            selection.typeCondition === undefined ? parent : schema.getType(selection.typeCondition.name.value)
          if (type !== undefined && type !== null && !visit(selection.selectionSet, type, enclosing, isRoot))
            return false
          break
        }
        case "FragmentSpread": {
          const fragment = fragments.get(selection.name.value)
          if (fragment === undefined) return false
          const key = `${fragment.name.value}:${parent.name}:${idOf(enclosing)}:${isRoot}`
          if (seen.has(key)) break
          seen.add(key)
          const type = schema.getType(fragment.typeCondition.name.value)
          if (type !== undefined && type !== null && !visit(fragment.selectionSet, type, enclosing, isRoot))
            return false
          break
        }
      }
    }
    return true
  }

  return visit(operation.selectionSet, root, noEnclosing, true) ? found : undefined
}
