// `npm run simulate`: runs scaling policies (the real `decide`) on simulated time against a load
// trace and prints, per policy, job waits, cost in replica-seconds, scale changes and wake times;
// optionally an SVG chart. See docs/simulator.md.
import { readFileSync, writeFileSync } from "node:fs"
import { pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import { formatMillis, parseMillis } from "./duration.ts"
import { simulate } from "./engine.ts"
import { defaultJobs, formatJobs, parseJobs } from "./jobs.ts"
import { loadPolicy, presetNames, type SimPolicy } from "./presets.ts"
import { markdownTable, summarize } from "./stats.ts"
import { chartSvg } from "./svg.ts"
import { parseTrace } from "./traces.ts"
import { makeWorkload, MAX_DURATION_MS } from "./workload.ts"

export const usage = `usage: npm run simulate -- --trace <step|ramp|sine[:60s]|burst|file.csv> --policy <preset|file.yaml|all> [--policy ...]
                        [--duration 1h] [--seed 1] [--job lognormal:2s,0.5|exp:2s|fixed:2s] [--svg out.svg] [--json]
presets: ${presetNames.join(", ")} (all: every preset)`

export interface Io {
  readonly readText: (path: string) => string
  readonly writeText: (path: string, text: string) => void
}

const nodeIo: Io = { readText: (p) => readFileSync(p, "utf8"), writeText: (p, t) => writeFileSync(p, t) }

const MAX_POLICIES = 8

/** Runs the simulator with `args` (after `--`); returns the exit code and what to print. */
export const runSimulate = (args: ReadonlyArray<string>, io: Io = nodeIo): { code: number; stdout: string; stderr: string } => {
  const fail = (message: string) => ({ code: 2, stdout: "", stderr: `simulate: ${message}\n${usage}\n` })
  let values
  try {
    values = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        trace: { type: "string" },
        policy: { type: "string", multiple: true },
        duration: { type: "string", default: "1h" },
        seed: { type: "string", default: "1" },
        job: { type: "string" },
        svg: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", default: false }
      }
    }).values
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e))
  }
  if (values.help) return { code: 0, stdout: `${usage}\n`, stderr: "" }
  if (values.trace === undefined) return fail("--trace is required")
  if (values.policy === undefined) return fail("--policy is required (one or more)")
  const durationMs = parseMillis(values.duration)
  if (durationMs === undefined || durationMs < 60_000 || durationMs > MAX_DURATION_MS) {
    return fail(`--duration: expected a duration within 1m..24h (e.g. 2h, 30m), got ${JSON.stringify(values.duration)}`)
  }
  const seed = Number(values.seed)
  if (!/^\d+$/.test(values.seed) || !Number.isSafeInteger(seed) || seed > 0xffffffff) {
    return fail(`--seed: expected an integer within 0..4294967295, got ${JSON.stringify(values.seed)}`)
  }
  const jobs = values.job === undefined ? defaultJobs : parseJobs(values.job)
  if (typeof jobs === "string") return fail(jobs)
  if (values.svg !== undefined && !values.svg.toLowerCase().endsWith(".svg")) return fail(`--svg: expected a path ending in .svg, got ${JSON.stringify(values.svg)}`)
  const trace = parseTrace(values.trace, io.readText)
  if (typeof trace === "string") return fail(trace)
  const specs = values.policy.flatMap((p) => (p === "all" ? presetNames : [p]))
  if (specs.length > MAX_POLICIES) return fail(`--policy: at most ${MAX_POLICIES} policies, got ${specs.length}`)
  const policies: Array<SimPolicy> = []
  for (const spec of specs) {
    const policy = loadPolicy(spec, io.readText)
    if (typeof policy === "string") return fail(policy)
    if (policies.some((p) => p.name === policy.name)) return fail(`--policy: ${policy.name} given twice`)
    policies.push(policy)
  }
  const workload = makeWorkload({ trace, jobs, seed, durationMs })
  if (typeof workload === "string") return fail(workload)

  const results = policies.map((p) => simulate(workload, p))
  const summaries = results.map(summarize)
  const run = `trace ${trace.name}, ${formatMillis(durationMs)}, jobs ${formatJobs(jobs)}, seed ${seed}: ${workload.arrivalMs.length} jobs`
  if (values.svg !== undefined) io.writeText(values.svg, chartSvg(results, `jetscale simulator: ${run}`))
  const stdout = values.json
    ? `${JSON.stringify({ trace: trace.name, durationMs, jobs: formatJobs(jobs), seed, arrivals: workload.arrivalMs.length, policies: summaries }, null, 2)}\n`
    : `${run}\n\n${markdownTable(summaries)}\n`
  return { code: 0, stdout, stderr: "" }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { code, stdout, stderr } = runSimulate(process.argv.slice(2))
  process.stdout.write(stdout)
  process.stderr.write(stderr)
  process.exitCode = code
}
