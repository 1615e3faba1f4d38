/**
 * Interoperability with a real Cognito implementation: the `cognito-local` emulator (npm) runs as a child
 * process on 127.0.0.1; a user pool, app clients, users and a group are created through its API, users sign
 * in with USER_PASSWORD_AUTH, and the id and access tokens it signs go through `Cognito.provider` inside
 * an `Authenticator`, the JWKS fetched from the emulator over a real socket. Nothing is stubbed.
 */
import { Authenticator } from "@effect-auth/core"
import { Cognito } from "@effect-auth/jwt"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import { Buffer } from "node:buffer"
import * as CognitoLocal from "./fixtures/CognitoLocal.js"

interface Tokens {
  readonly id: string
  readonly access: string
}

interface Seeded {
  readonly userPoolId: string
  readonly clientId: string
  readonly otherClientId: string
  /** Alice (group `admins`) signed in with the app client, then with the other client. */
  readonly alice: Tokens
  readonly aliceOther: Tokens
  /** Bob, in no group. */
  readonly bob: Tokens
  /** A user of a second pool on the same emulator. */
  readonly stranger: Tokens
}

let emulator: CognitoLocal.CognitoLocal | undefined
let seeded: Seeded | undefined

const password = "Correct-Horse-Battery-9"

const seedPool = async (cognito: CognitoLocal.CognitoLocal, name: string) => {
  const userPoolId = CognitoLocal.field(await cognito.call("CreateUserPool", { PoolName: name }), ["UserPool", "Id"])
  const client = async (clientName: string) =>
    CognitoLocal.field(await cognito.call("CreateUserPoolClient", { UserPoolId: userPoolId, ClientName: clientName }), [
      "UserPoolClient",
      "ClientId"
    ])
  const user = async (email: string, groups: ReadonlyArray<string>) => {
    await cognito.call("AdminCreateUser", {
      UserPoolId: userPoolId,
      Username: email,
      MessageAction: "SUPPRESS",
      TemporaryPassword: "Temporary-Passw0rd!",
      UserAttributes: [{ Name: "email", Value: email }]
    })
    await cognito.call("AdminSetUserPassword", {
      UserPoolId: userPoolId,
      Username: email,
      Password: password,
      Permanent: true
    })
    for (const group of groups) {
      await cognito.call("AdminAddUserToGroup", { UserPoolId: userPoolId, Username: email, GroupName: group })
    }
  }
  const signIn = async (clientId: string, email: string): Promise<Tokens> => {
    const answer = await cognito.call("InitiateAuth", {
      ClientId: clientId,
      AuthFlow: "USER_PASSWORD_AUTH",
      AuthParameters: { USERNAME: email, PASSWORD: password }
    })
    return {
      id: CognitoLocal.field(answer, ["AuthenticationResult", "IdToken"]),
      access: CognitoLocal.field(answer, ["AuthenticationResult", "AccessToken"])
    }
  }
  return { userPoolId, client, user, signIn }
}

beforeAll(async () => {
  emulator = await CognitoLocal.start()
  const pool = await seedPool(emulator, "effect-auth")
  const clientId = await pool.client("web")
  const otherClientId = await pool.client("other")
  await emulator.call("CreateGroup", { UserPoolId: pool.userPoolId, GroupName: "admins" })
  await pool.user("alice@example.com", ["admins"])
  await pool.user("bob@example.com", [])
  const second = await seedPool(emulator, "elsewhere")
  const secondClient = await second.client("web")
  await second.user("carol@example.com", [])
  seeded = {
    userPoolId: pool.userPoolId,
    clientId,
    otherClientId,
    alice: await pool.signIn(clientId, "alice@example.com"),
    aliceOther: await pool.signIn(otherClientId, "alice@example.com"),
    bob: await pool.signIn(clientId, "bob@example.com"),
    stranger: await second.signIn(secondClient, "carol@example.com")
  }
}, 60_000)

afterAll(async () => {
  await emulator?.stop()
})

const setup = (): { readonly emulator: CognitoLocal.CognitoLocal; readonly seeded: Seeded } => {
  if (emulator === undefined || seeded === undefined) throw new Error("cognito-local did not start")
  return { emulator, seeded }
}

const claimsOf = (token: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"))

/** Authenticates `Bearer <token>` with an authenticator whose only provider is this pool. */
const authenticate = (token: string, options: Partial<Cognito.IssuerOptions> = {}) => {
  const { emulator, seeded } = setup()
  const AuthLive = Authenticator.layer([
    Cognito.provider({
      userPoolId: seeded.userPoolId,
      clientIds: [seeded.clientId],
      endpoint: emulator.url,
      ...options
    })
  ]).pipe(Layer.provide(NodeHttpClient.layerUndici))
  return Effect.gen(function* () {
    const authenticator = yield* Authenticator.Authenticator
    const principal = yield* authenticator.authenticate({ authorization: `Bearer ${token}` })
    return {
      ...principal,
      groups: yield* principal.groups,
      roles: yield* principal.roles,
      permissions: yield* principal.permissions
    }
  }).pipe(Effect.provide(AuthLive))
}

const refused = (token: string, options: Partial<Cognito.IssuerOptions> = {}) =>
  Effect.flip(authenticate(token, options))

/** One character of the payload changed (inside the `sub` value, so it is still a well-formed token). */
const tamper = (token: string): string => {
  const [header, payload, signature] = token.split(".")
  const text = Buffer.from(payload ?? "", "base64url").toString("utf8")
  const at = text.indexOf('"sub":"') + '"sub":"'.length
  const original = text.charAt(at)
  const changed = `${text.slice(0, at)}${original === "a" ? "b" : "a"}${text.slice(at + 1)}`
  return `${header}.${Buffer.from(changed, "utf8").toString("base64url")}.${signature}`
}

describe("Cognito with cognito-local", () => {
  it("issues tokens whose issuer is http://<HOST>:<PORT>/<poolId>, signed RS256", () => {
    const { emulator, seeded } = setup()
    expect(seeded.userPoolId).toMatch(/^local_[0-9A-Za-z]{8}$/)
    for (const token of [seeded.alice.id, seeded.alice.access]) {
      expect(claimsOf(token).iss).toBe(`${emulator.url}/${seeded.userPoolId}`)
      expect(JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8"))).toMatchObject({
        alg: "RS256"
      })
    }
  })

  it.scopedLive("accepts the id token and the access token of a user, with the user's groups", () =>
    Effect.gen(function* () {
      const { seeded } = setup()
      const sub = claimsOf(seeded.alice.id).sub
      expect(typeof sub).toBe("string")

      const fromId = yield* authenticate(seeded.alice.id)
      expect(fromId).toMatchObject({
        id: sub,
        kind: "user",
        provider: "cognito",
        email: "alice@example.com",
        groups: ["admins"],
        roles: [],
        permissions: []
      })
      const fromAccess = yield* authenticate(seeded.alice.access)
      expect(fromAccess).toMatchObject({
        id: sub,
        kind: "user",
        groups: ["admins"],
        permissions: ["aws.cognito.signin.user.admin"]
      })

      expect(yield* authenticate(seeded.alice.id, { groupsAsRoles: true })).toMatchObject({ roles: ["admins"] })
      expect(yield* authenticate(seeded.bob.access)).toMatchObject({ groups: [], roles: [] })
    })
  )

  it.scopedLive("refuses a token with one payload character changed", () =>
    Effect.gen(function* () {
      const { seeded } = setup()
      for (const token of [seeded.alice.id, seeded.alice.access]) {
        expect(yield* refused(tamper(token))).toMatchObject({ _tag: "InvalidToken", reason: "bad-signature" })
      }
    })
  )

  it.scoped("refuses the tokens once they have expired", () =>
    Effect.gen(function* () {
      const { seeded } = setup()
      // cognito-local's tokens last 24 hours by default; the JWKS is still fetched over a real socket.
      const exp = claimsOf(seeded.alice.id).exp
      expect(typeof exp).toBe("number")
      yield* TestClock.setTime((Number(exp) + 3600) * 1000)
      for (const token of [seeded.alice.id, seeded.alice.access]) {
        expect(yield* refused(token)).toMatchObject({ _tag: "InvalidToken", reason: "expired" })
      }
    })
  )

  it.scopedLive("refuses tokens of an app client that is not configured", () =>
    Effect.gen(function* () {
      const { seeded } = setup()
      for (const token of [seeded.aliceOther.id, seeded.aliceOther.access]) {
        expect(yield* refused(token)).toMatchObject({ _tag: "InvalidToken", reason: "wrong-audience" })
      }
      // …and accepts them once it is.
      yield* authenticate(seeded.aliceOther.id, { clientIds: [seeded.clientId, seeded.otherClientId] })
    })
  )

  it.scopedLive("refuses the wrong kind of token", () =>
    Effect.gen(function* () {
      const { seeded } = setup()
      expect(yield* refused(seeded.alice.id, { tokenUse: "access" })).toMatchObject({
        _tag: "InvalidToken",
        reason: "wrong-type"
      })
      expect(yield* refused(seeded.alice.access, { tokenUse: "id" })).toMatchObject({
        _tag: "InvalidToken",
        reason: "wrong-type"
      })
    })
  )

  it.scopedLive("refuses another pool's tokens, and an issuer spelt differently", () =>
    Effect.gen(function* () {
      const { emulator, seeded } = setup()
      expect(yield* refused(seeded.stranger.id)).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
      // The issuer is compared exactly: localhost is not 127.0.0.1.
      expect(yield* refused(seeded.alice.id, { endpoint: `http://localhost:${emulator.port}` })).toMatchObject({
        _tag: "InvalidToken",
        reason: "unknown-issuer"
      })
    })
  )
})
