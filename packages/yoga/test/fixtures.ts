/**
 * Shared pieces of the yoga tests: an in-test Bearer provider over a fixed token map (one token per
 * caller, with groups, roles and permissions as claims; one token whose check finds its store
 * unavailable), real Yoga servers on 127.0.0.1 port 0, and a GraphQL-over-HTTP client on global fetch.
 */
import type { AuthProvider } from "@effect-auth/core"
import { AuthError, Authenticator, Credential, Identity } from "@effect-auth/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { YogaServerInstance } from "graphql-yoga"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

// Distinctive, so a body that echoed one would be caught by `not.toContain`.
export const adminToken = "tok-admin-5a8e1c3f0b"
export const staffToken = "tok-staff-2d7b9f4a6c"
export const unknownToken = "tok-unknown-9c1e4b7d2f"
export const outageToken = "tok-outage-6f3a0d8b1e"

const identities: ReadonlyMap<string, Identity.Identity> = new Map([
  [
    adminToken,
    Identity.make({
      id: "alice",
      kind: "user",
      provider: "test-bearer",
      claims: { groups: ["admin"], roles: ["editor"], permissions: ["documents.*"] }
    })
  ],
  [
    staffToken,
    Identity.make({
      id: "bob",
      kind: "user",
      provider: "test-bearer",
      claims: { groups: ["staff"], roles: ["viewer"], permissions: ["documents.read", "!documents.delete"] }
    })
  ]
])

/** Bearer tokens from a fixed map; `outageToken` finds its store unreachable, any other token is rejected. */
export const bearerProvider: AuthProvider.AuthProvider = {
  name: "test-bearer",
  accepts: Credential.is("Bearer"),
  authenticate: (credential) => {
    const token = credential._tag === "Bearer" ? Redacted.value(credential.token) : ""
    if (token === outageToken) {
      return Effect.fail(new AuthError.ProviderUnavailable({ reason: "unreachable", provider: "test-bearer" }))
    }
    const identity = identities.get(token)
    return identity === undefined
      ? Effect.fail(new AuthError.InvalidCredentials({ reason: "rejected", scheme: "Bearer" }))
      : Effect.succeed(identity)
  },
  challenge: { scheme: "Bearer", realm: "graphql" }
}

export const AuthLive = Authenticator.layer([Effect.succeed(bearerProvider)])

export interface Served {
  readonly url: string
  readonly close: () => Promise<void>
}

/** Serves a Yoga instance on 127.0.0.1, a free port. */
export const serve = async (yoga: YogaServerInstance<object, object>): Promise<Served> => {
  const server = Http.createServer(yoga)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error === undefined ? resolve() : reject(error)))
      })
  }
}

export interface GraphQLAnswer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly body: {
    readonly data?: Record<string, unknown> | null
    readonly errors?: ReadonlyArray<{
      readonly message: string
      readonly path?: ReadonlyArray<string | number>
      readonly extensions?: { readonly code?: string; readonly reason?: string }
    }>
  }
}

/** A GraphQL POST over HTTP. */
export const query = async (
  url: string,
  document: string,
  options: { readonly token?: string; readonly variables?: Record<string, unknown> } = {}
): Promise<GraphQLAnswer> => {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` })
    },
    body: JSON.stringify({ query: document, variables: options.variables })
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, text, body: JSON.parse(text) as GraphQLAnswer["body"] }
}

/** The `extensions.code` of each error. */
export const codes = (answer: GraphQLAnswer): ReadonlyArray<string | undefined> =>
  (answer.body.errors ?? []).map((error) => error.extensions?.code)
