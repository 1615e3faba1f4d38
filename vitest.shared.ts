import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { ViteUserConfig } from "vitest/config"

const root = path.dirname(fileURLToPath(import.meta.url))
const source = (pkg: string) => path.join(root, "packages", pkg, "src", "index.ts")

/** Tests import packages by name; these aliases point them at the sources so no build is needed. */
export const shared: ViteUserConfig = {
  resolve: {
    alias: {
      "@effect-auth/core": source("core"),
      "@effect-auth/http": source("http"),
      "@effect-auth/jwt": source("jwt"),
      "@effect-auth/sql": source("sql"),
      "@effect-auth/testing": source("testing"),
      "@effect-auth/trpc": source("trpc"),
      "@effect-auth/yoga": source("yoga")
    }
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
}
