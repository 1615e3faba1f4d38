/**
 * A real authorization server for the gateway's interop test: the `oidc-provider` package on 127.0.0.1,
 * issuing client-credentials access tokens as JWTs (RFC 9068) for one resource.
 */
import { Buffer } from "node:buffer"
import * as Crypto from "node:crypto"
import * as Http from "node:http"

// oidc-provider ships no type declarations; this is the little of its API used here.
interface OidcProvider {
  readonly callback: () => Http.RequestListener
}
type OidcProviderClass = new (issuer: string, configuration: Record<string, unknown>) => OidcProvider

const loadOidcProvider = async (): Promise<OidcProviderClass> => {
  // A specifier held in a variable: TypeScript does not look for the declarations the package lacks.
  const specifier = "oidc-provider"
  // Importing it on Node 20 prints "Unsupported runtime" (it targets 22+); that one notice is dropped.
  const warn = console.warn
  console.warn = (...args: Array<unknown>) => {
    if (typeof args[0] === "string" && args[0].startsWith("oidc-provider WARNING: Unsupported runtime")) return
    warn(...args)
  }
  try {
    const module: { readonly default: OidcProviderClass } = await import(specifier)
    return module.default
  } finally {
    console.warn = warn
  }
}

/** An in-memory store, so oidc-provider does not warn about its development adapter. */
class MemoryAdapter {
  private readonly entries = new Map<string, unknown>()
  async upsert(id: string, payload: unknown) {
    this.entries.set(id, payload)
  }
  async find(id: string) {
    return this.entries.get(id)
  }
  async findByUserCode() {
    return undefined
  }
  async findByUid() {
    return undefined
  }
  async consume() {}
  async destroy(id: string) {
    this.entries.delete(id)
  }
  async revokeByGrantId() {}
}

export const resource = "https://api.example"
export const client = { id: "reporting-service", secret: "a-client-secret-for-tests-only" }

export interface AuthorizationServer {
  readonly issuer: string
  /** A fresh client-credentials access token for `resource`, scope `api:read`. */
  readonly accessToken: () => Promise<string>
  readonly close: () => Promise<void>
}

/** Starts oidc-provider on a free port with its own RS256 signing key. */
export const start = async (): Promise<AuthorizationServer> => {
  const Provider = await loadOidcProvider()
  const { privateKey } = Crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
  const signingKey = { ...privateKey.export({ format: "jwk" }), kid: "interop-1", alg: "RS256", use: "sig" }
  const server = Http.createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const issuer = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    jwks: { keys: [signingKey] },
    cookies: { keys: ["interop-test-cookie-key"] },
    scopes: ["api:read"],
    ttl: { ClientCredentials: 600 },
    clients: [
      {
        client_id: client.id,
        client_secret: client.secret,
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
        scope: "api:read"
      }
    ],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: "api:read",
          audience: resource,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "RS256" } }
        })
      }
    }
  })
  server.on("request", provider.callback())
  const accessToken = async () => {
    const response = await fetch(`${issuer}/token`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded"
      },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: "api:read", resource }).toString()
    })
    const body: unknown = await response.json()
    const token = typeof body === "object" && body !== null && "access_token" in body ? body.access_token : undefined
    if (response.status !== 200 || typeof token !== "string") {
      throw new Error(`the token endpoint answered ${response.status}: ${JSON.stringify(body)}`)
    }
    return token
  }
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  return { issuer, accessToken, close }
}
