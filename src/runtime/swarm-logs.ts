// Worker output for the swarm driver, through Swarm's service logs API (it reaches a task on any
// node). A followed service log never ends by itself (it waits for the service's next task), so the
// driver ends it: once the task has exited, one last read without follow brings what the follow had
// not delivered yet (lines are counted per stream, so none is sent twice), then the follow is closed.
import type Docker from "dockerode"
import { lineSplitter, type LogLine, type WorkerInfo } from "./driver.ts"

/** How long the last read of a worker's output may take before its removal goes ahead anyway. */
const lastReadTimeoutMs = 10_000

type Stream = "stdout" | "stderr"
type Counts = Record<Stream, number>

/** Docker's multiplexed framing: a header [stream, 0, 0, 0, size (uint32 BE)], then `size` bytes. */
const frames = (onFrame: (stream: Stream, payload: Buffer) => void) => {
  let pending: Buffer = Buffer.alloc(0)
  return (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4)
      if (pending.length < 8 + size) break
      onFrame(pending[0] === 2 ? "stderr" : "stdout", pending.subarray(8, 8 + size))
      pending = pending.subarray(8 + size)
    }
  }
}

interface Followed {
  readonly worker: Pick<WorkerInfo, "queue" | "instance">
  /** Unix seconds the follow started from (an adopted worker); its whole output when undefined. */
  readonly since: number | undefined
  /** Whole lines sent to the sink so far, per stream. */
  readonly seen: Counts
  /** ms epoch the follow began. */
  readonly at: number
  raw: (NodeJS.ReadableStream & { destroy: () => void }) | undefined
  closed: boolean
}

export const makeSwarmLogs = (docker: Docker, onLog: ((line: LogLine) => void) | undefined) => {
  const followed = new Map<string, Followed>()

  /** Frames -> lines -> the sink; `skip` lines of each stream are dropped first (already sent). */
  const sink = (w: Followed["worker"], seen: Counts | undefined, skip: Counts | undefined) => {
    const splitter = (stream: Stream) => lineSplitter((line) => {
      if (skip && skip[stream] > 0) {
        skip[stream]--
        return
      }
      if (seen) seen[stream]++
      onLog?.({ queue: w.queue, instance: w.instance, stream, line })
    })
    const out = { stdout: splitter("stdout"), stderr: splitter("stderr") }
    return { push: frames((s, payload) => out[s].push(payload)), end: () => { out.stdout.end(); out.stderr.end() } }
  }

  const close = (id: string) => {
    const f = followed.get(id)
    followed.delete(id)
    if (f) {
      f.closed = true
      f.raw?.destroy()
    }
    return f
  }

  return {
    /** Follows a service's output into the sink (from `since`, unix seconds; from its start when absent). */
    follow: (w: WorkerInfo, since?: number) => {
      if (!onLog || followed.has(w.id)) return
      const f: Followed = { worker: { queue: w.queue, instance: w.instance }, since, seen: { stdout: 0, stderr: 0 }, at: Date.now(), raw: undefined, closed: false }
      followed.set(w.id, f)
      const lines = sink(f.worker, f.seen, undefined)
      docker.getService(w.id).logs({ follow: true, stdout: true, stderr: true, ...(since ? { since } : {}) }).then((raw) => {
        const stream = raw as NodeJS.ReadableStream & { destroy: () => void }
        if (f.closed) return stream.destroy()
        f.raw = stream
        stream.on("data", (chunk: Buffer) => lines.push(chunk))
        stream.on("error", () => {})
      }, () => {})
    },
    /**
     * Ends the follow of an exited worker. With `readRest`, first sends what the follow missed: its
     * task must still be listed (a task Swarm deleted, after a scale to zero, has no logs left).
     */
    finish: async (id: string, readRest: boolean): Promise<void> => {
      const f = close(id)
      if (!f || !readRest) return
      const lines = sink(f.worker, undefined, { ...f.seen })
      const all: unknown = await docker.getService(id).logs({
        follow: false, stdout: true, stderr: true, ...(f.since ? { since: f.since } : {}), abortSignal: AbortSignal.timeout(lastReadTimeoutMs)
      }).catch(() => undefined)
      if (Buffer.isBuffer(all)) {
        lines.push(all)
        lines.end()
      }
    },
    /**
     * Stops following services that are gone: those of `queue` (or of every queue) not in `keep`,
     * a list of them taken at `listedAt` (ms epoch; a follow begun since is not judged by it).
     */
    prune: (queue: string | undefined, keep: ReadonlySet<string>, listedAt: number) => {
      for (const [id, f] of followed) {
        if ((queue === undefined || f.worker.queue === queue) && !keep.has(id) && f.at < listedAt) close(id)
      }
    },
    closeAll: () => {
      for (const id of [...followed.keys()]) close(id)
    }
  }
}
