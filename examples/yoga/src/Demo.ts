/**
 * The local dev issuer the example starts by default, and the banner it prints: tokens for `alice`
 * (group admin, role editor) and `bob` (group staff, role viewer), with curl lines to try.
 */
import { Issuer } from "@effect-auth/testing"

/** The dev issuer's tokens are made for this audience, and the app accepts only it. */
export const audience = "effect-auth-yoga-example"

/** Lifetime of the printed tokens: a working day, so a demo left running keeps working. */
export const tokenLifetimeSeconds = 8 * 60 * 60

export interface DevIssuer {
  readonly issuer: Issuer.Issuer
  readonly adminToken: string
  readonly userToken: string
}

/**
 * Starts the test kit's OIDC issuer on 127.0.0.1 (a free port) with a new key and mints the demo tokens.
 * For trying the example on one machine, never a real issuer.
 */
export const startIssuer = async (): Promise<DevIssuer> => {
  const issuer = await Issuer.start()
  const mint = (subject: string, claims: Record<string, unknown>) =>
    issuer.mint(claims, { subject, audience, expiresIn: tokenLifetimeSeconds })
  return {
    issuer,
    adminToken: await mint("alice", { name: "Alice (demo token)", groups: ["admin"], roles: ["editor"] }),
    userToken: await mint("bob", { name: "Bob (demo token)", groups: ["staff"], roles: ["viewer"] })
  }
}

export const banner = (dev: DevIssuer, url: string): string => {
  const post = (token: string | undefined, query: string) =>
    [
      "curl -i",
      token === undefined ? "" : `-H "Authorization: Bearer ${token}"`,
      `-H "content-type: application/json" -d '${JSON.stringify({ query })}'`,
      url
    ]
      .filter((part) => part.length > 0)
      .join(" ")
  const tries: ReadonlyArray<readonly [string, string]> = [
    [post(undefined, "{ hello }"), "200: public"],
    [post(undefined, "{ me { id } }"), "401: UNAUTHENTICATED"],
    [post("$USER_TOKEN", "{ me { id groups } }"), "200: bob"],
    [post("$USER_TOKEN", "{ adminReport }"), "403: FORBIDDEN, bob is not in group admin"],
    [post("$ADMIN_TOKEN", "{ adminReport drafts }"), "200: alice is, and has role editor"],
    [post("${USER_TOKEN}x", "{ me { id } }"), "401: a tampered token"]
  ]
  const rule = "=".repeat(78)
  return [
    "",
    rule,
    " GraphQL Yoga secured by effect-auth, with a local dev token issuer. Never use it in production.",
    ` GraphQL: ${url}`,
    `  issuer: ${dev.issuer.issuer} (audience ${audience})`,
    rule,
    ` Tokens valid for ${tokenLifetimeSeconds / 3600} hours; paste these lines into your shell first:`,
    `   ADMIN_TOKEN=${dev.adminToken}`,
    `   USER_TOKEN=${dev.userToken}`,
    rule,
    " Try:",
    ...tries.flatMap(([command, outcome]) => [`   # ${outcome}`, `   ${command}`]),
    rule,
    ""
  ].join("\n")
}
