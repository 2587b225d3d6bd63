// Tests run against real nats-server and dockerd; files run one at a time on these 2-core machines.
// The compose stack's walkthrough (minutes) runs on its own: `npm run test:stack` (vitest.stack.config.ts).
import { defineConfig } from "vitest/config"

export const stackTests = ["test/e2e/compose-stack.test.ts"]

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["**/node_modules/**", ...stackTests],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false
  }
})
