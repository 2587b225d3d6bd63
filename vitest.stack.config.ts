// `npm run test:stack`: the compose stack driven through the README's commands as written (minutes
// long, so apart from `npm test`; `./stack test` runs both).
import { defineConfig } from "vitest/config"
import { stackTests } from "./vitest.config.ts"

export default defineConfig({
  test: {
    include: stackTests,
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false
  }
})
