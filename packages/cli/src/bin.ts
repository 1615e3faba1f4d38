#!/usr/bin/env node
/**
 * The `effect-auth` executable.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cli from "./Cli.js"

let exitCode = 0

NodeRuntime.runMain(
  Cli.main(process.argv).pipe(
    Effect.tap((code) =>
      Effect.sync(() => {
        exitCode = code
      })
    ),
    Effect.provide(NodeContext.layer)
  ),
  {
    disableErrorReporting: true,
    teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? exitCode : 1)
  }
)
