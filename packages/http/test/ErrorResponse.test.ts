import type { AuthProvider } from "@effect-auth/core"
import { AuthError } from "@effect-auth/core"
import { ErrorResponse } from "@effect-auth/http"
import { describe, expect, it } from "@effect/vitest"

const basicChallenge: AuthProvider.Challenge = { scheme: "Basic", realm: "test" }
const bearerChallenge: AuthProvider.Challenge = { scheme: "Bearer", realm: "api" }
const challenges = [basicChallenge, bearerChallenge]

const missing = new AuthError.MissingCredentials({ reason: "absent" })
const badBearer = new AuthError.InvalidCredentials({ reason: "malformed", scheme: "Bearer" })
const badBasic = new AuthError.InvalidCredentials({ reason: "rejected", scheme: "Basic" })
const expired = new AuthError.InvalidToken({ reason: "expired" })
const forbidden = new AuthError.Forbidden({ reason: "missing-groups", required: ["admin"] })
const rateLimited = new AuthError.RateLimited({ reason: "rate-limit-exceeded", retryAfterMillis: 1500 })
const unavailable = new AuthError.ProviderUnavailable({ reason: "timeout", provider: "jwks" })
const incomplete = new AuthError.IncompleteGrants({ grant: "groups", provider: "entra" })

const body = (answer: ErrorResponse.ErrorResponse): unknown => JSON.parse(answer.body)

describe("ErrorResponse.fromFailure", () => {
  describe("status", () => {
    it.each([
      ["MissingCredentials", 401, missing],
      ["InvalidCredentials (Bearer)", 401, badBearer],
      ["InvalidCredentials (Basic)", 401, badBasic],
      ["InvalidToken", 401, expired],
      ["Forbidden", 403, forbidden],
      ["IncompleteGrants", 403, incomplete],
      ["RateLimited", 429, rateLimited],
      ["ProviderUnavailable", 503, unavailable],
      ["internal", 500, "internal" as const]
    ])("%s → %i in both styles", (_name, status, failure) => {
      expect(ErrorResponse.fromFailure(failure, { challenges }).status).toBe(status)
      expect(ErrorResponse.fromFailure(failure, { challenges, style: "openai" }).status).toBe(status)
    })
  })

  describe("WWW-Authenticate", () => {
    it("lists every challenge when no credential was sent, with no error code", () => {
      const answer = ErrorResponse.fromFailure(missing, { challenges })
      expect(answer.headers["www-authenticate"]).toBe('Basic realm="test", charset="UTF-8", Bearer realm="api"')
    })

    it('says error="invalid_request" for a malformed Bearer credential', () => {
      const answer = ErrorResponse.fromFailure(badBearer, { challenges })
      expect(answer.headers["www-authenticate"]).toBe(
        'Basic realm="test", charset="UTF-8", Bearer realm="api", error="invalid_request"'
      )
    })

    it('says error="invalid_token" for a Bearer token that was read but refused', () => {
      const refused = new AuthError.InvalidCredentials({ reason: "rejected", scheme: "Bearer" })
      const answer = ErrorResponse.fromFailure(refused, { challenges: [bearerChallenge] })
      expect(answer.headers["www-authenticate"]).toBe('Bearer realm="api", error="invalid_token"')
    })

    it("lists every challenge, without a Bearer error code, for refused Basic credentials", () => {
      const answer = ErrorResponse.fromFailure(badBasic, { challenges })
      expect(answer.headers["www-authenticate"]).toBe('Basic realm="test", charset="UTF-8", Bearer realm="api"')
    })

    it('says error="invalid_token" with a description for a token that failed verification', () => {
      const answer = ErrorResponse.fromFailure(expired, { challenges })
      expect(answer.headers["www-authenticate"]).toBe(
        'Basic realm="test", charset="UTF-8", Bearer realm="api", error="invalid_token", error_description="The token is invalid: expired"'
      )
    })

    it("omits the realm parameter when a challenge has none", () => {
      const answer = ErrorResponse.fromFailure(missing, { challenges: [{ scheme: "Bearer" }, { scheme: "Basic" }] })
      expect(answer.headers["www-authenticate"]).toBe('Bearer, Basic charset="UTF-8"')
    })

    it('answers 403 with Bearer error="insufficient_scope" only, never a Basic challenge', () => {
      const answer = ErrorResponse.fromFailure(forbidden, { challenges })
      expect(answer.headers["www-authenticate"]).toBe('Bearer realm="api", error="insufficient_scope"')
    })

    it("answers 403 without WWW-Authenticate when there is no Bearer challenge", () => {
      const answer = ErrorResponse.fromFailure(forbidden, { challenges: [basicChallenge] })
      expect(answer.headers).not.toHaveProperty("www-authenticate")
    })

    it("answers 401 without WWW-Authenticate when no challenge is configured", () => {
      expect(ErrorResponse.fromFailure(missing).headers).not.toHaveProperty("www-authenticate")
    })

    it.each([
      ["RateLimited", rateLimited],
      ["ProviderUnavailable", unavailable],
      ["internal", "internal" as const]
    ])("is absent on %s", (_name, failure) => {
      expect(ErrorResponse.fromFailure(failure, { challenges }).headers).not.toHaveProperty("www-authenticate")
    })

    it("escapes quotes and backslashes in realm values", () => {
      const answer = ErrorResponse.fromFailure(missing, {
        challenges: [{ scheme: "Bearer", realm: 'my "api" \\ v2' }]
      })
      expect(answer.headers["www-authenticate"]).toBe('Bearer realm="my \\"api\\" \\\\ v2"')
    })
  })

  describe("Retry-After", () => {
    it("rounds RateLimited's retryAfterMillis up to whole seconds", () => {
      expect(ErrorResponse.fromFailure(rateLimited).headers["retry-after"]).toBe("2")
      const soon = new AuthError.RateLimited({ reason: "rate-limit-exceeded", retryAfterMillis: 10 })
      expect(ErrorResponse.fromFailure(soon).headers["retry-after"]).toBe("1")
    })

    it("is never anything but a positive whole number of seconds", () => {
      const now = new AuthError.RateLimited({ reason: "rate-limit-exceeded", retryAfterMillis: 0 })
      expect(ErrorResponse.fromFailure(now).headers["retry-after"]).toBe("1")
      expect(() => new AuthError.RateLimited({ reason: "rate-limit-exceeded", retryAfterMillis: Number.NaN })).toThrow()
      expect(
        () => new AuthError.RateLimited({ reason: "rate-limit-exceeded", retryAfterMillis: Number.POSITIVE_INFINITY })
      ).toThrow()
    })

    it("is set on 503 and absent on 401, 403 and 500", () => {
      expect(ErrorResponse.fromFailure(unavailable).headers["retry-after"]).toMatch(/^[1-9][0-9]*$/)
      for (const failure of [missing, expired, forbidden, "internal" as const]) {
        expect(ErrorResponse.fromFailure(failure, { challenges }).headers).not.toHaveProperty("retry-after")
      }
    })
  })

  it.each([
    ["MissingCredentials", missing],
    ["Forbidden", forbidden],
    ["RateLimited", rateLimited],
    ["internal", "internal" as const]
  ])("never lets %s be cached, in either style", (_name, failure) => {
    expect(ErrorResponse.fromFailure(failure).headers["cache-control"]).toBe("no-store")
    expect(ErrorResponse.fromFailure(failure, { style: "openai" }).headers["cache-control"]).toBe("no-store")
  })

  describe("problem+json (default)", () => {
    it("describes a 401 with its code and reason", () => {
      const answer = ErrorResponse.fromFailure(badBasic, { challenges })
      expect(answer.headers["content-type"]).toBe("application/problem+json")
      expect(body(answer)).toEqual({
        type: "about:blank",
        title: "Unauthorized",
        status: 401,
        detail: "The credentials are not valid",
        code: "invalid_credentials",
        reason: "rejected"
      })
    })

    it.each([
      ["MissingCredentials", missing, "Unauthorized", 401, "missing_credentials", "absent"],
      ["InvalidToken", expired, "Unauthorized", 401, "invalid_token", "expired"],
      ["Forbidden", forbidden, "Forbidden", 403, "insufficient_scope", "missing-groups"],
      ["IncompleteGrants", incomplete, "Forbidden", 403, "incomplete_grants", "groups"],
      ["RateLimited", rateLimited, "Too Many Requests", 429, "rate_limit_exceeded", "rate-limit-exceeded"],
      ["ProviderUnavailable", unavailable, "Service Unavailable", 503, "provider_unavailable", "timeout"]
    ])("describes %s", (_name, failure, title, status, code, reason) => {
      const answer = ErrorResponse.fromFailure(failure)
      expect(answer.headers["content-type"]).toBe("application/problem+json")
      expect(body(answer)).toEqual({ type: "about:blank", title, status, detail: failure.message, code, reason })
    })

    it("answers an internal failure with a generic 500 and no reason", () => {
      const answer = ErrorResponse.fromFailure("internal")
      expect(answer.headers["content-type"]).toBe("application/problem+json")
      expect(body(answer)).toEqual({
        type: "about:blank",
        title: "Internal Server Error",
        status: 500,
        detail: "The request could not be processed",
        code: "internal_error"
      })
    })
  })

  describe('OpenAI style (style: "openai")', () => {
    it.each([
      ["MissingCredentials", missing],
      ["InvalidCredentials", badBearer]
    ])("answers %s as invalid_api_key on the authorization param", (_name, failure) => {
      const answer = ErrorResponse.fromFailure(failure, { style: "openai", challenges })
      expect(answer.headers["content-type"]).toBe("application/json")
      expect(body(answer)).toEqual({
        error: {
          message: failure.message,
          type: "invalid_request_error",
          param: "authorization",
          code: "invalid_api_key"
        }
      })
    })

    it("answers an invalid token as invalid_request_error with code invalid_token", () => {
      expect(body(ErrorResponse.fromFailure(expired, { style: "openai" }))).toEqual({
        error: {
          message: "The token is invalid: expired",
          type: "invalid_request_error",
          param: "authorization",
          code: "invalid_token"
        }
      })
    })

    it.each([
      ["Forbidden", forbidden, "permission_error", "insufficient_scope"],
      ["RateLimited", rateLimited, "rate_limit_error", "rate_limit_exceeded"],
      ["ProviderUnavailable", unavailable, "server_error", "provider_unavailable"]
    ])("answers %s as %s / %s with no param", (_name, failure, type, code) => {
      const answer = ErrorResponse.fromFailure(failure, { style: "openai" })
      expect(answer.headers["content-type"]).toBe("application/json")
      expect(body(answer)).toEqual({ error: { message: failure.message, type, param: null, code } })
    })

    it("keeps the same status and headers as the problem style", () => {
      for (const failure of [missing, expired, forbidden, rateLimited, unavailable]) {
        const problem = ErrorResponse.fromFailure(failure, { challenges })
        const openai = ErrorResponse.fromFailure(failure, { challenges, style: "openai" })
        expect(openai.status).toBe(problem.status)
        expect(openai.headers["www-authenticate"]).toBe(problem.headers["www-authenticate"])
        expect(openai.headers["retry-after"]).toBe(problem.headers["retry-after"])
      }
    })

    it("answers an internal failure as server_error", () => {
      expect(body(ErrorResponse.fromFailure("internal", { style: "openai" }))).toEqual({
        error: {
          message: "The request could not be processed",
          type: "server_error",
          param: null,
          code: "internal_error"
        }
      })
    })
  })
})
