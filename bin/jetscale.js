#!/usr/bin/env node
// The `jetscale` command: runs the bundled CLI (built by `npm run build`). `jetscale up` is a
// long-running service: it runs with a small young generation and V8's favour-memory-over-speed
// mode, which keep its resident memory small (one queue under 100 MB, 1,000 queues under 200 MB)
// for a little more GC and interpreter work; with those, V8's background compile threads could
// deadlock with an exit (waiting for a GC the exiting main thread never runs: `jetscale up` with a
// bad config hung one time in four), so it runs single-threaded (its heap is small). The flags can
// only be given at start, so `up` replaces
// this process with one that has them (same PID: signals, supervisors and `kill` reach the scaler
// itself).
const scalerFlags = ["--max-semi-space-size=4", "--optimize-for-size", "--single-threaded"]
if (process.argv[2] === "up" && !scalerFlags.every((f) => process.execArgv.includes(f)) && typeof process.execve === "function") {
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...scalerFlags, ...process.argv.slice(1)], process.env)
}
// `up` starts from the scaler's own entry point, which hands anything but a plain `up` to the CLI.
await import(process.argv[2] === "up" ? "../dist/up.js" : "../dist/cli.js")
