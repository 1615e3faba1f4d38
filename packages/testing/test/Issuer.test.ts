import { Issuer, Keys } from "@effect-auth/testing"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { createLocalJWKSet, decodeJwt, jwtVerify } from "jose"
import type { JSONWebKeySet } from "jose"

const getJson = async (url: string): Promise<{ readonly response: Response; readonly body: unknown }> => {
  const response = await fetch(url)
  return { response, body: await response.json() }
}

const kids = async (issuer: Issuer.Issuer): Promise<ReadonlyArray<string | undefined>> => {
  const { body } = await getJson(issuer.jwksUrl)
  return (body as JSONWebKeySet).keys.map((key) => key.kid)
}

describe("Issuer", () => {
  describe("serving", () => {
    let issuer: Issuer.Issuer
    beforeAll(async () => {
      issuer = await Issuer.start()
    })
    afterAll(() => issuer.close())

    it("serves discovery at the issuer", async () => {
      expect(issuer.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(issuer.issuer).toBe(issuer.baseUrl)
      expect(issuer.discoveryUrl).toBe(`${issuer.baseUrl}/.well-known/openid-configuration`)
      expect(issuer.jwksUrl).toBe(`${issuer.baseUrl}/.well-known/jwks.json`)
      const { response, body } = await getJson(issuer.discoveryUrl)
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toBe("application/json")
      expect(body).toEqual({
        issuer: issuer.issuer,
        jwks_uri: issuer.jwksUrl,
        authorization_endpoint: `${issuer.baseUrl}/authorize`,
        token_endpoint: `${issuer.baseUrl}/token`,
        id_token_signing_alg_values_supported: ["RS256"],
        response_types_supported: ["code"],
        subject_types_supported: ["public"]
      })
    })

    it("serves the JWKS with the current key", async () => {
      const { response, body } = await getJson(issuer.jwksUrl)
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toBe("application/json")
      expect(body).toEqual({ keys: [issuer.currentKey.publicJwk] })
      expect(issuer.keys).toEqual([issuer.currentKey])
    })

    it("answers discovery for any path ending in /.well-known/openid-configuration", async () => {
      const { response } = await getJson(`${issuer.baseUrl}/some/tenant/.well-known/openid-configuration?x=1`)
      expect(response.status).toBe(200)
    })

    it("answers 404 JSON for anything else", async () => {
      for (const response of [
        await fetch(`${issuer.baseUrl}/nothing`),
        await fetch(`${issuer.baseUrl}/.well-known/openid-configuration/x`),
        await fetch(issuer.jwksUrl, { method: "POST", body: "{}" })
      ]) {
        expect(response.status).toBe(404)
        expect(response.headers.get("content-type")).toBe("application/json")
        expect(await response.json()).toEqual({ error: "not_found" })
      }
    })

    it("mints tokens from the issuer that verify against its JWKS", async () => {
      const token = await issuer.mint({ aud: "api", roles: ["admin"] })
      const { body } = await getJson(issuer.jwksUrl)
      const { payload } = await jwtVerify(token, createLocalJWKSet(body as JSONWebKeySet), {
        issuer: issuer.issuer,
        audience: "api"
      })
      expect(payload).toMatchObject({ iss: issuer.issuer, sub: "user-1", aud: "api", roles: ["admin"] })
      expect(decodeJwt(await issuer.mint({}, { subject: "bob" })).sub).toBe("bob")
      expect(decodeJwt(await issuer.mint({ sub: undefined })).sub).toBeUndefined()
    })
  })

  it("serves discovery under an issuerPath, with metadata, jwkExtras and a custom jwksPath", async () => {
    const issuer = await Issuer.start({
      algorithm: "ES256",
      issuerPath: "/tenant-1/v2.0",
      jwksPath: "/discovery/keys",
      metadata: (baseUrl) => ({ end_session_endpoint: `${baseUrl}/logout`, response_types_supported: ["id_token"] }),
      jwkExtras: () => ({ issuer: "https://login.test/tenant-1/v2.0" })
    })
    try {
      expect(issuer.issuer).toBe(`${issuer.baseUrl}/tenant-1/v2.0`)
      expect(issuer.discoveryUrl).toBe(`${issuer.baseUrl}/tenant-1/v2.0/.well-known/openid-configuration`)
      expect(issuer.jwksUrl).toBe(`${issuer.baseUrl}/discovery/keys`)
      const { body } = await getJson(issuer.discoveryUrl)
      expect(body).toMatchObject({
        issuer: issuer.issuer,
        jwks_uri: issuer.jwksUrl,
        id_token_signing_alg_values_supported: ["ES256"],
        response_types_supported: ["id_token"],
        end_session_endpoint: `${issuer.baseUrl}/logout`
      })
      const jwks = await getJson(issuer.jwksUrl)
      expect(jwks.body).toEqual({
        keys: [{ ...issuer.currentKey.publicJwk, issuer: "https://login.test/tenant-1/v2.0" }]
      })
      expect((await fetch(`${issuer.baseUrl}/.well-known/jwks.json`)).status).toBe(404)
    } finally {
      await issuer.close()
    }
  })

  it("takes an issuer override", async () => {
    const local = await Issuer.start({ algorithm: "ES256", issuer: (baseUrl) => `${baseUrl}/tid/` })
    const foreign = await Issuer.start({ algorithm: "ES256", issuer: () => "https://sts.windows.net/tid/" })
    try {
      expect(local.issuer).toBe(`${local.baseUrl}/tid/`)
      expect(local.discoveryUrl).toBe(`${local.baseUrl}/tid/.well-known/openid-configuration`)
      expect((await getJson(local.discoveryUrl)).body).toMatchObject({ issuer: `${local.baseUrl}/tid/` })

      expect(foreign.issuer).toBe("https://sts.windows.net/tid/")
      expect(foreign.discoveryUrl).toBe(`${foreign.baseUrl}/.well-known/openid-configuration`)
      expect((await getJson(foreign.discoveryUrl)).body).toMatchObject({ issuer: "https://sts.windows.net/tid/" })
      expect(decodeJwt(await foreign.mint()).iss).toBe("https://sts.windows.net/tid/")
    } finally {
      await Promise.all([local.close(), foreign.close()])
    }
  })

  describe("keys", () => {
    let issuer: Issuer.Issuer
    beforeEach(async () => {
      issuer = await Issuer.start({ algorithm: "ES256" })
      return () => issuer.close()
    })

    it("rotates, keeping the old keys published by default", async () => {
      const first = issuer.currentKey
      const second = await issuer.rotate()
      expect(second.alg).toBe("ES256")
      expect(issuer.currentKey).toBe(second)
      expect(await kids(issuer)).toEqual([second.kid, first.kid])
      expect(decodeJwt(await issuer.mint()).iss).toBe(issuer.issuer)

      const third = await issuer.rotate({ algorithm: "EdDSA", keepOld: false })
      expect(third.alg).toBe("EdDSA")
      expect(issuer.keys).toEqual([third])
      expect(await kids(issuer)).toEqual([third.kid])
      const { body } = await getJson(issuer.discoveryUrl)
      expect(body).toMatchObject({ id_token_signing_alg_values_supported: ["EdDSA"] })
    })

    it("adds and removes keys", async () => {
      const first = issuer.currentKey
      const extra = await Keys.generate("ES256", { kid: "extra" })
      issuer.addKey(extra)
      expect(await kids(issuer)).toEqual([first.kid, "extra"])
      expect(issuer.currentKey).toBe(first)
      issuer.removeKey(first.kid)
      expect(await kids(issuer)).toEqual(["extra"])
      expect(issuer.currentKey).toBe(extra)
      issuer.removeKey("extra")
      expect(await kids(issuer)).toEqual([])
      expect(() => issuer.currentKey).toThrow()
    })

    it("counts JWKS and discovery requests, faulted ones included", async () => {
      expect(issuer.requests).toEqual({ jwks: 0, discovery: 0 })
      await getJson(issuer.jwksUrl)
      await getJson(issuer.jwksUrl)
      await getJson(issuer.discoveryUrl)
      await fetch(`${issuer.baseUrl}/other`)
      expect(issuer.requests).toEqual({ jwks: 2, discovery: 1 })
      issuer.setFault({ _tag: "Status", status: 500 })
      await fetch(issuer.jwksUrl)
      expect(issuer.requests.jwks).toBe(3)
      issuer.resetCounts()
      expect(issuer.requests).toEqual({ jwks: 0, discovery: 0 })
    })
  })

  describe("faults", () => {
    let issuer: Issuer.Issuer
    beforeAll(async () => {
      issuer = await Issuer.start({ algorithm: "ES256" })
    })
    beforeEach(() => issuer.setFault({ _tag: "None" }))
    afterAll(() => issuer.close())

    it("Down destroys the socket without answering", async () => {
      issuer.setFault({ _tag: "Down" })
      await expect(fetch(issuer.jwksUrl)).rejects.toThrow()
      await expect(fetch(issuer.discoveryUrl)).rejects.toThrow()
    })

    it("Slow answers normally after a delay", async () => {
      issuer.setFault({ _tag: "Slow", millis: 150 })
      const started = Date.now()
      const { response, body } = await getJson(issuer.jwksUrl)
      expect(Date.now() - started).toBeGreaterThanOrEqual(140)
      expect(response.status).toBe(200)
      expect(body).toEqual({ keys: [issuer.currentKey.publicJwk] })
    })

    it("Garbage answers 200 JSON that does not parse", async () => {
      issuer.setFault({ _tag: "Garbage" })
      const response = await fetch(issuer.jwksUrl)
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toBe("application/json")
      await expect(response.json()).rejects.toBeInstanceOf(SyntaxError)
    })

    it("Html answers a 200 HTML page", async () => {
      issuer.setFault({ _tag: "Html" })
      const response = await fetch(issuer.discoveryUrl)
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toMatch(/^text\/html/)
      expect(await response.text()).toMatch(/^<!doctype html>/)
    })

    it("Huge streams a JSON body of the given size", async () => {
      issuer.setFault({ _tag: "Huge", bytes: 3 * 1024 * 1024 + 7 })
      const chunked = await fetch(issuer.jwksUrl)
      expect(chunked.status).toBe(200)
      expect(chunked.headers.get("content-type")).toBe("application/json")
      expect(chunked.headers.get("content-length")).toBeNull()
      const text = await chunked.text()
      expect(text.length).toBe(3 * 1024 * 1024 + 7)
      expect(JSON.parse(text)).toMatchObject({ keys: [] })

      issuer.setFault({ _tag: "Huge", bytes: 2_000_000, declareLength: true })
      const declared = await fetch(issuer.jwksUrl)
      expect(declared.headers.get("content-length")).toBe("2000000")
      expect((await declared.arrayBuffer()).byteLength).toBe(2_000_000)
    })

    it("Status answers that status with a small JSON body", async () => {
      issuer.setFault({ _tag: "Status", status: 503 })
      const { response, body } = await getJson(issuer.jwksUrl)
      expect(response.status).toBe(503)
      expect(response.headers.get("content-type")).toBe("application/json")
      expect(body).toEqual({ error: "status 503" })
    })

    it("Redirect answers 302 with a Location", async () => {
      issuer.setFault({ _tag: "Redirect", location: "https://evil.test/jwks" })
      const response = await fetch(issuer.jwksUrl, { redirect: "manual" })
      expect(response.status).toBe(302)
      expect(response.headers.get("location")).toBe("https://evil.test/jwks")
    })

    it("applies a fault to one target only, and None restores normal answers", async () => {
      issuer.setFault({ _tag: "Status", status: 500 }, "jwks")
      expect((await fetch(issuer.jwksUrl)).status).toBe(500)
      expect((await fetch(issuer.discoveryUrl)).status).toBe(200)
      issuer.setFault({ _tag: "Status", status: 502 }, "discovery")
      expect((await fetch(issuer.jwksUrl)).status).toBe(500)
      expect((await fetch(issuer.discoveryUrl)).status).toBe(502)
      issuer.setFault({ _tag: "None" }, "jwks")
      expect((await fetch(issuer.jwksUrl)).status).toBe(200)
      expect((await fetch(issuer.discoveryUrl)).status).toBe(502)
      issuer.setFault({ _tag: "None" })
      expect((await fetch(issuer.discoveryUrl)).status).toBe(200)
    })
  })

  describe("close", () => {
    it("returns promptly while a slow answer is pending", async () => {
      const issuer = await Issuer.start({ algorithm: "ES256" })
      issuer.setFault({ _tag: "Slow", millis: 20_000 })
      const pending = fetch(issuer.jwksUrl).then(
        () => "answered",
        () => "failed"
      )
      while (issuer.requests.jwks === 0) await new Promise((resolve) => setTimeout(resolve, 5))
      const started = Date.now()
      await issuer.close()
      expect(Date.now() - started).toBeLessThan(1000)
      expect(await pending).toBe("failed")
    })

    it("returns promptly with an idle keep-alive connection, and stops serving", async () => {
      const issuer = await Issuer.start({ algorithm: "ES256" })
      await getJson(issuer.jwksUrl)
      const started = Date.now()
      await issuer.close()
      await issuer.close()
      expect(Date.now() - started).toBeLessThan(1000)
      await expect(fetch(issuer.jwksUrl)).rejects.toThrow()
    })
  })

  it.effect("scoped closes the issuer with its scope", () =>
    Effect.gen(function* () {
      const jwksUrl = yield* Effect.scoped(
        Effect.gen(function* () {
          const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
          const response = yield* Effect.promise(() => fetch(issuer.jwksUrl))
          expect(response.status).toBe(200)
          yield* Effect.promise(() => response.arrayBuffer())
          return issuer.jwksUrl
        })
      )
      const outcome = yield* Effect.promise(() =>
        fetch(jwksUrl).then(
          () => "answered",
          () => "refused"
        )
      )
      expect(outcome).toBe("refused")
    })
  )
})
