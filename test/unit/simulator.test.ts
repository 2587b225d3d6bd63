// The scaling simulator (sim/): the engine on a step trace, determinism, CSV traces, presets and
// policy files, flags, the SVG chart, and the commands of docs/simulator.md with their tables.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { simulate } from "../../sim/engine.ts"
import { defaultJobs, parseJobs } from "../../sim/jobs.ts"
import { loadPolicy, presetNames, type SimPolicy } from "../../sim/presets.ts"
import { runSimulate } from "../../sim/main.ts"
import { summarize } from "../../sim/stats.ts"
import { chartSvg } from "../../sim/svg.ts"
import { parseCsvTrace, step, type Trace } from "../../sim/traces.ts"
import { makeWorkload, type Workload } from "../../sim/workload.ts"

const dir = mkdtempSync(join(tmpdir(), "jetscale-sim-"))
const noFiles = (path: string): string => {
  throw new Error(`unexpected read of ${path}`)
}
const preset = (name: string): SimPolicy => {
  const p = loadPolicy(name, noFiles)
  if (typeof p === "string") throw new Error(p)
  return p
}
const workload = (trace: Trace, durationMs: number, seed = 1): Workload => {
  const w = makeWorkload({ trace, jobs: defaultJobs, seed, durationMs })
  if (typeof w === "string") throw new Error(w)
  return w
}

/** Why `text` is not well-formed XML (elements, quoted attributes, entities), or undefined. */
const xmlProblem = (text: string): string | undefined => {
  const body = text.replace(/^<\?xml[^>]*\?>\s*/, "").trim()
  const stack: Array<string> = []
  let roots = 0
  const token = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[A-Za-z][\w:.-]*="[^"<]*")*)\s*(\/?)>|[^<]+/gy
  const badText = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/
  let m: RegExpExecArray | null
  let at = 0
  while (at < body.length) {
    token.lastIndex = at
    m = token.exec(body)
    if (m === null) return `malformed markup at ${at}: ${JSON.stringify(body.slice(at, at + 40))}`
    at = token.lastIndex
    const [whole, close, name, attrs, selfClose] = m
    if (name === undefined) {
      if (badText.test(whole)) return `bare & in text: ${JSON.stringify(whole.slice(0, 40))}`
      if (stack.length === 0 && whole.trim() !== "") return "text outside the root element"
      continue
    }
    if (attrs !== undefined && badText.test(attrs)) return `bare & in attributes of <${name}>`
    if (close === "/") {
      if (stack.pop() !== name) return `</${name}> closes nothing open`
    } else if (selfClose !== "/") {
      if (stack.length === 0) roots++
      stack.push(name)
    } else if (stack.length === 0) roots++
  }
  if (stack.length > 0) return `unclosed <${stack.at(-1)}>`
  return roots === 1 ? undefined : `expected one root element, got ${roots}`
}

describe("simulator engine", () => {
  // the step trace's load runs from 10 to 40 min; 45 min leaves time for every job to finish
  const w = workload(step, 45 * 60_000)

  it("runs every job of a step trace with the jetscale preset", () => {
    const s = summarize(simulate(w, preset("jetscale")))
    expect(w.arrivalMs.length).toBeGreaterThan(30_000)
    expect(s.done).toBe(w.arrivalMs.length)
    expect(s.left).toBe(0)
    expect(Number.isFinite(s.waitP99Ms)).toBe(true)
    expect(s.waitP99Ms!).toBeGreaterThanOrEqual(s.waitP50Ms!)
    expect(s.replicaSeconds).toBeGreaterThan(0)
    // one wake from zero at 10 min: sub-second (0.5 s cold start, 100 ms steps)
    expect(s.wakes).toBe(1)
    expect(s.wakeMaxMs!).toBeLessThan(1000)
  })

  it("keda's wake waits for its 30 s poll", () => {
    const s = summarize(simulate(w, preset("keda")))
    expect(s.done).toBe(w.arrivalMs.length)
    expect(s.wakes).toBe(1)
    expect(s.wakeMaxMs!).toBeGreaterThan(1000)
    expect(s.wakeMaxMs!).toBeLessThanOrEqual(31_000)
  })

  it("is deterministic for a seed, and the seed matters", () => {
    const again = workload(step, 45 * 60_000)
    expect(again.arrivalMs).toEqual(w.arrivalMs)
    expect(again.runMs).toEqual(w.runMs)
    const a = simulate(w, preset("jetscale"))
    const b = simulate(again, preset("jetscale"))
    expect(summarize(b)).toEqual(summarize(a))
    expect(b.changes).toEqual(a.changes)
    expect(workload(step, 45 * 60_000, 2).arrivalMs).not.toEqual(w.arrivalMs)
  })

  it("job run times follow the distribution's mean", () => {
    const mean = w.runMs.reduce((a, b) => a + b, 0) / w.runMs.length
    expect(mean).toBeGreaterThan(1900)
    expect(mean).toBeLessThan(2100)
    expect(parseJobs("fixed:2s")).toEqual({ _tag: "fixed", meanMs: 2000 })
    expect(parseJobs("lognormal:500ms,1")).toEqual({ _tag: "lognormal", meanMs: 500, sigma: 1 })
    expect(parseJobs("exp:2s,1")).toMatch(/--job: expected/)
    expect(parseJobs("lognormal:2s,9")).toMatch(/sigma must be a number in \[0, 3\]/)
    expect(parseJobs("fixed:2 s")).toMatch(/invalid duration/)
  })
})

describe("CSV traces", () => {
  it("holds each rate until the next row, 0 before the first", () => {
    const t = parseCsvTrace("t_seconds,rate\n# warm-up\n10,5\n\n20,0.5\r\n30,0\n", "load.csv")
    if (typeof t === "string") throw new Error(t)
    expect([0, 10, 15, 20, 29.9, 30, 1e6].map(t.rateAt)).toEqual([0, 5, 5, 0.5, 0.5, 0, 0])
    expect(t.name).toBe("load.csv")
  })

  it.each([
    ["t_seconds,rate\n0,1\n5,x\n", /^load\.csv:3: expected "t_seconds,rate" \(two numbers\), got "5,x"$/],
    ["0,1,2\n", /^load\.csv:1: expected "t_seconds,rate"/],
    ["0,1\n10,2\n10,3\n", /^load\.csv:3: t_seconds must increase, got 10 after 10$/],
    ["-1,1\n", /^load\.csv:1: t_seconds must be >= 0, got -1$/],
    ["0,-2\n", /^load\.csv:1: rate must be within 0\.\.10000 jobs\/s, got -2$/],
    ["0,20000\n", /^load\.csv:1: rate must be within/],
    ["# nothing\n\n", /^load\.csv: no rows/],
    ["5,1\nt_seconds,rate\n", /^load\.csv:2: expected "t_seconds,rate"/]
  ])("refuses %j", (text, message) => {
    expect(parseCsvTrace(text, "load.csv")).toMatch(message)
  })
})

describe("policies", () => {
  it("loads every preset with maxReplicas 20", () => {
    for (const name of presetNames) {
      const p = preset(name)
      expect(p.name).toBe(name)
      expect(p.config.maxReplicas).toBe(20)
    }
    const keda = preset("keda")
    expect(keda).toMatchObject({ intervalMs: 30_000, wakeOnArrival: false, coldStartMs: 500 })
    expect(keda.config).toMatchObject({ idleTimeoutMs: 300_000, scaleDownDelayMs: 300_000, step: { up: { _tag: "double" }, down: "jump" } })
    expect(preset("jetscale")).toMatchObject({ intervalMs: 1000, wakeOnArrival: true, config: { concurrency: 4, targetPending: 10 } })
    expect(preset("jetscale-wait").config).toMatchObject({ signals: ["waitTime"], targetWaitMs: 5000 })
    expect(preset("aimd").config.step).toEqual({ up: { _tag: "add", n: 1 }, down: "half" })
  })

  it("loads a YAML or JSON file of scaling keys, with jetscale.yaml's defaults", () => {
    const yaml = join(dir, "fast.yaml")
    writeFileSync(yaml, "maxReplicas: 8\nsignals: [backlog, waitTime]\ntargetWait: 2s\nstep: { down: one }\ncoldStart: 2s\nimage: ignored/by-the-sim\n")
    const p = loadPolicy(yaml, (f) => readFileSync(f, "utf8"))
    if (typeof p === "string") throw new Error(p)
    expect(p.name).toBe("fast")
    expect(p).toMatchObject({ coldStartMs: 2000, intervalMs: 1000, wakeOnArrival: true })
    expect(p.config).toMatchObject({ maxReplicas: 8, minReplicas: 0, targetPending: 10, concurrency: 4, targetWaitMs: 2000, signals: ["backlog", "waitTime"], step: { up: { _tag: "jump" }, down: "one" } })
    const json = join(dir, "plain.json")
    writeFileSync(json, "{}")
    const q = loadPolicy(json, (f) => readFileSync(f, "utf8"))
    if (typeof q === "string") throw new Error(q)
    expect(q.config.maxReplicas).toBe(5)
  })

  it("names the file and the key of every problem", () => {
    const bad = join(dir, "bad.yaml")
    writeFileSync(bad, "maxReplicas: many\ntargetWait: 5\nstep: { up: triple }\ninterval: 10ms\nwakeOnArrival: yes please\nbogus: 1\n")
    const p = loadPolicy(bad, (f) => readFileSync(f, "utf8"))
    expect(typeof p).toBe("string")
    for (const line of [`${bad} is invalid:`, "maxReplicas", "targetWait", "step.up", "interval: expected a duration within 100ms..1h, got 10ms", "wakeOnArrival: expected true or false", "bogus"]) {
      expect(p).toContain(line)
    }
    writeFileSync(bad, "maxReplicas: 5000\n")
    expect(loadPolicy(bad, (f) => readFileSync(f, "utf8"))).toContain("maxReplicas: at most 1000 in the simulator, got 5000")
    writeFileSync(bad, "maxReplicas: [1\n")
    expect(loadPolicy(bad, (f) => readFileSync(f, "utf8"))).toMatch(new RegExp(`^${bad}:\\d+:\\d+: `))
    expect(loadPolicy("kedda", noFiles)).toMatch(/^--policy: expected a preset \(jetscale, keda, .*\) or a \.yaml\/\.json file, got "kedda"$/)
    expect(loadPolicy(join(dir, "missing.yaml"), (f) => readFileSync(f, "utf8"))).toMatch(/^--policy: cannot read .*missing\.yaml/)
  })
})

describe("npm run simulate", () => {
  const io = { readText: (p: string) => readFileSync(p, "utf8"), writeText: (p: string, t: string) => writeFileSync(p, t) }

  it.each([
    [[], /--trace is required/],
    [["--trace", "step"], /--policy is required/],
    [["--trace", "stairs", "--policy", "jetscale"], /--trace: expected one of step, ramp, sine, sine:<period>, burst or a \.csv file/],
    [["--trace", "sine:0s", "--policy", "jetscale"], /--trace: sine period must be a duration within 1s\.\.24h/],
    [["--trace", "step", "--policy", "jetscale", "--duration", "2 hours"], /--duration: expected a duration within 1m\.\.24h/],
    [["--trace", "step", "--policy", "jetscale", "--duration", "48h"], /--duration: expected a duration within 1m\.\.24h/],
    [["--trace", "step", "--policy", "jetscale", "--seed", "1.5"], /--seed: expected an integer within 0..4294967295, got "1.5"/],
    [["--trace", "step", "--policy", "jetscale", "--job", "normal:2s"], /--job: expected fixed:/],
    [["--trace", "step", "--policy", "jetscale", "--svg", "out.png"], /--svg: expected a path ending in \.svg/],
    [["--trace", "step", "--policy", "jetscale", "--policy", "jetscale"], /--policy: jetscale given twice/],
    [["--trace", "step", "--policy", "jetscale", "--speed", "2"], /Unknown option '--speed'/]
  ])("refuses %j with a clear error", (args, message) => {
    const r = runSimulate(args, io)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(message)
    expect(r.stderr).toContain("usage: npm run simulate")
  })

  it("prints JSON and writes a well-formed SVG with a line per series", () => {
    const csv = join(dir, "short.csv")
    writeFileSync(csv, "t_seconds,rate\n0,0\n30,15\n150,0\n")
    const svg = join(dir, "short.svg")
    const r = runSimulate(["--trace", csv, "--policy", "jetscale", "--policy", "keda", "--duration", "5m", "--json", "--svg", svg], io)
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({ trace: "short.csv", durationMs: 300_000, seed: 1, jobs: "lognormal:2s,0.5" })
    expect(out.policies.map((p: { policy: string }) => p.policy)).toEqual(["jetscale", "keda"])
    expect(out.policies[0].done).toBe(out.arrivals)
    const text = readFileSync(svg, "utf8")
    expect(xmlProblem(text)).toBeUndefined()
    expect(text).not.toMatch(/<script|href=|@import|url\(/)
    // the load, then each policy's replicas and backlog
    expect(text.match(/<polyline /g)).toHaveLength(1 + 2 * 2)
  })

  it("escapes names in the chart", () => {
    const w = workload(step, 60_000)
    const r = { ...simulate(w, preset("jetscale")), policy: "a<b & \"c\"" }
    const text = chartSvg([r], "t & <t>")
    expect(xmlProblem(text)).toBeUndefined()
    expect(text).toContain("a&lt;b &amp; &quot;c&quot;")
  })

  // docs/simulator.md shows these commands and their tables: the tables must be what they print.
  it.each([
    "npm run simulate -- --trace ramp --policy all --svg docs/sim-ramp.svg",
    "npm run simulate -- --trace burst --policy all --svg docs/sim-burst.svg"
  ])("docs/simulator.md has the table of: %s", (command) => {
    const args = command.split(" ").slice(4)
    const at = args.indexOf("--svg")
    args[at + 1] = join(dir, "docs.svg")
    const r = runSimulate(args, io)
    expect(r.code).toBe(0)
    const doc = readFileSync("docs/simulator.md", "utf8")
    expect(doc).toContain(command)
    expect(doc).toContain(r.stdout.trim())
    expect(xmlProblem(readFileSync(join(dir, "docs.svg"), "utf8"))).toBeUndefined()
  })
})
