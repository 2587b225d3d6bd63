// Which command lines run the scaler without the full command-line parser (src/cli/up-main.ts).
import { describe, expect, it } from "vitest"
import { plainUpConfig } from "../../src/cli/up-args.ts"

describe("plainUpConfig", () => {
  const fallback = process.env.JETSCALE_CONFIG ?? "./jetscale.yaml"
  it.each([
    [["up"], fallback],
    [["up", "--config", "a.yaml"], "a.yaml"],
    [["up", "--config=a.yaml"], "a.yaml"],
    [["up", "--config="], undefined],
    [["up", "--config"], undefined],
    [["up", "--config", "--help"], undefined],
    [["up", "--help"], undefined],
    [["up", "--config", "a.yaml", "--log-level", "debug"], undefined],
    [["status"], undefined],
    [[], undefined]
  ] as const)("%j -> %s", (argv, expected) => {
    expect(plainUpConfig(argv)).toBe(expected)
  })
})
