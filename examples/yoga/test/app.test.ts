/**
 * The example over a real socket: real GraphQL-over-HTTP requests with tokens from the real dev issuer
 * (signed JWTs, keys fetched by discovery), `@defer` answered as multipart, and a subscription over SSE.
 */
import { Issuer } from "@effect-auth/testing"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as App from "../src/App.js"
import * as Demo from "../src/Demo.js"

interface Served {
  readonly url: string
  readonly close: () => Promise<void>
}

const serve = async (options: Partial<App.AppOptions> & { readonly issuer: string }): Promise<Served> => {
  const app = App.make({ audience: Demo.audience, ...options })
  const server = Http.createServer(app.yoga)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await app.dispose()
    }
  }
}

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

const post = async (
  url: string,
  query: string,
  options: { readonly token?: string | undefined; readonly accept?: string } = {}
): Promise<Answer> => {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: options.accept ?? "application/graphql-response+json",
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` })
    },
    body: JSON.stringify({ query })
  })
  return { status: response.status, headers: response.headers, text: await response.text() }
}

interface Body {
  readonly data?: unknown
  readonly errors?: ReadonlyArray<{ readonly extensions?: { readonly code?: string } }>
}

const json = (answer: Answer) => JSON.parse(answer.text) as Body
const codesOf = (answer: Answer) => (json(answer).errors ?? []).map((error) => error.extensions?.code)

let dev: Demo.DevIssuer
let served: Served

beforeAll(async () => {
  dev = await Demo.startIssuer()
  served = await serve({ issuer: dev.issuer.issuer })
})

afterAll(async () => {
  await served?.close()
  await dev?.issuer.close()
})

describe("the Yoga example", () => {
  it("answers the public field to anyone (200)", async () => {
    const answer = await post(served.url, "{ hello }")
    expect(answer.status).toBe(200)
    expect(json(answer)).toEqual({ data: { hello: "Hello from GraphQL Yoga" } })
  })

  it("refuses an authenticated field without a token: 401 UNAUTHENTICATED with a Bearer challenge", async () => {
    const answer = await post(served.url, "{ hello me { id } }")
    expect(answer.status).toBe(401)
    expect(codesOf(answer)).toEqual(["UNAUTHENTICATED"])
    expect(answer.headers.get("www-authenticate")).toBe("Bearer")
    expect(json(answer).data).toBeUndefined()
  })

  it("answers the caller with a valid token (200), groups from the token", async () => {
    const answer = await post(served.url, "{ me { id groups } }", { token: dev.userToken })
    expect(answer.status).toBe(200)
    expect(json(answer)).toEqual({ data: { me: { id: "bob", groups: ["staff"] } } })
  })

  it("refuses a tampered token with 401 and never echoes it", async () => {
    const tampered = `${dev.userToken.slice(0, -4)}AAAA`
    const answer = await post(served.url, "{ me { id } }", { token: tampered })
    expect(answer.status).toBe(401)
    expect(answer.headers.get("www-authenticate")).toContain('error="invalid_token"')
    expect(answer.text).not.toContain(tampered)
  })

  it("guards group and role fields: 403 FORBIDDEN for bob, 200 for alice", async () => {
    const refused = await post(served.url, "{ adminReport }", { token: dev.userToken })
    expect(refused.status).toBe(403)
    expect(codesOf(refused)).toEqual(["FORBIDDEN"])
    expect((await post(served.url, "{ drafts }", { token: dev.userToken })).status).toBe(403)
    const allowed = await post(served.url, "{ adminReport drafts }", { token: dev.adminToken })
    expect(allowed.status).toBe(200)
    expect(json(allowed)).toEqual({ data: { adminReport: "42 users, 3 admins", drafts: ["Q3 plan"] } })
  })

  it("a guard inside a public field's resolver refuses that field only", async () => {
    const answer = await post(served.url, "{ hello auditTrail }", { token: dev.userToken })
    expect(answer.status).toBe(403)
    expect(json(answer).data).toEqual(null)
  })

  it("streams a deferred field to a caller who may see it, and checks deferred fields before anything runs", async () => {
    const accept = "multipart/mixed"
    const streamed = await post(served.url, "{ hello ... @defer { slowStats adminReport } }", {
      token: dev.adminToken,
      accept
    })
    expect(streamed.status).toBe(200)
    expect(streamed.headers.get("content-type")).toContain("multipart/mixed")
    expect(streamed.text).toContain('"hello":"Hello from GraphQL Yoga"')
    expect(streamed.text).toContain('"slowStats":"p99 12 ms"')
    expect(streamed.text).toContain('"hasNext":false')
    const refused = await post(served.url, "{ hello ... @defer { adminReport } }", { token: dev.userToken, accept })
    expect(refused.status).toBe(403)
    expect(refused.text).toContain("FORBIDDEN")
    expect(refused.text).not.toContain("42 users")
  })

  it("serves a subscription over SSE to a signed-in caller, and refuses an anonymous one", async () => {
    const accept = "text/event-stream"
    const events = await post(served.url, "subscription { countdown(from: 2) }", { token: dev.userToken, accept })
    expect(events.status).toBe(200)
    expect(events.text).toContain('"countdown":2')
    expect(events.text).toContain('"countdown":0')
    const anonymous = await post(served.url, "subscription { countdown(from: 2) }", { accept })
    expect(anonymous.text).toContain("UNAUTHENTICATED")
    expect(anonymous.text).not.toContain('"countdown"')
  })
})

describe("limits and outages", () => {
  it("answers 429 TOO_MANY_REQUESTS with Retry-After once a caller's budget is spent", async () => {
    const limited = await serve({ issuer: dev.issuer.issuer, rateLimit: 2 })
    try {
      expect((await post(limited.url, "{ me { id } }", { token: dev.userToken })).status).toBe(200)
      expect((await post(limited.url, "{ me { id } }", { token: dev.userToken })).status).toBe(200)
      const refused = await post(limited.url, "{ me { id } }", { token: dev.userToken })
      expect(refused.status).toBe(429)
      expect(codesOf(refused)).toEqual(["TOO_MANY_REQUESTS"])
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
      expect((await post(limited.url, "{ me { id } }", { token: dev.adminToken })).status).toBe(200)
    } finally {
      await limited.close()
    }
  })

  it("answers 503 SERVICE_UNAVAILABLE while the issuer is down, public fields still 200", async () => {
    const issuer = await Issuer.start()
    const token = await issuer.mint({ groups: ["staff"] }, { subject: "bob", audience: Demo.audience })
    const app = await serve({ issuer: issuer.issuer })
    try {
      issuer.setFault({ _tag: "Down" })
      const answer = await post(app.url, "{ me { id } }", { token })
      expect(answer.status).toBe(503)
      expect(codesOf(answer)).toEqual(["SERVICE_UNAVAILABLE"])
      expect(answer.headers.get("retry-after")).toBe("5")
      expect(answer.text).not.toContain(token)
      expect((await post(app.url, "{ hello }", { token })).status).toBe(200)
    } finally {
      await app.close()
      await issuer.close()
    }
  })
})
