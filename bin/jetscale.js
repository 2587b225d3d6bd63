#!/usr/bin/env node
// The `jetscale` command: runs the bundled CLI (built by `npm run build`). `jetscale up` is a
// long-running service: it runs with a small young generation, which keeps its resident memory
// small (1,000 queues in under 200 MB) for a little more GC work. The flag can only be given at
// start, so `up` replaces this process with one that has it (same PID: signals, supervisors and
// `kill` reach the scaler itself).
const scalerFlags = ["--max-semi-space-size=4"]
if (process.argv[2] === "up" && !scalerFlags.every((f) => process.execArgv.includes(f)) && typeof process.execve === "function") {
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...scalerFlags, ...process.argv.slice(1)], process.env)
}
await import("../dist/cli.js")
