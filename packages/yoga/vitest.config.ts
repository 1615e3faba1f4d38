import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.js"

export default mergeConfig(
  shared,
  defineProject({
    // graphql has no `exports` map: Node loads its CommonJS build for graphql-yoga, Vite would pick the
    // ESM build for the sources, and graphql refuses types from "another realm". One build for both.
    resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
    test: { name: "yoga" }
  })
)
