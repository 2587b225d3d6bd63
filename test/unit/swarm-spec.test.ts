// The swarm driver's pure half: the service of a worker, and what a service and its task say about
// the worker (state, exit code, a problem worth a log line).
import { Duration } from "effect"
import { describe, expect, it } from "vitest"
import { currentTask, serviceSpec, taskProblem, workerOf, type SwarmService, type SwarmTask } from "../../src/runtime/swarm-spec.ts"
import { testQueue } from "../support/queue.ts"

const ours = (over: Partial<Record<string, string>> = {}) =>
  ({ "io.jetscale.managed": "true", "io.jetscale.queue": "demo", "io.jetscale.instance": "ab12", ...over }) as Record<string, string>
const service = (labels = ours(), replicas = 1): SwarmService => ({
  ID: "svc1", CreatedAt: "2026-12-01T08:00:00.000Z",
  Spec: { Name: "jetscale-demo-ab12", Labels: labels, Mode: { Replicated: { Replicas: replicas } }, TaskTemplate: { Placement: { Constraints: ["node.labels.zone==eu"] } } }
})
const task = (state: string, over: { err?: string; exit?: number } = {}): SwarmTask => ({
  ID: "t1", ServiceID: "svc1",
  Status: { State: state, ...(over.err ? { Err: over.err } : {}), ContainerStatus: { ContainerID: "c1", ...(over.exit !== undefined ? { ExitCode: over.exit } : {}) } }
})

describe("swarm service of a worker", () => {
  it("names it like the docker driver's container, per deployment, and passes command, limits and mounts", () => {
    const q = testQueue("demo", {
      name: "demo", image: "img:1", command: ["node", "w.js"], stopTimeout: Duration.seconds(5),
      limits: { cpus: 1.5 }, mounts: [{ source: "/srv/in", target: "/in", readOnly: false }], placement: { constraints: [], preferences: ["spread=node.labels.zone"] }
    })
    const spec = serviceSpec({ queue: q, instance: "ab12", env: { A: "1" } }, { deployment: "blue", network: "jobs-net", user: undefined })
    expect(spec.Name).toBe("jetscale-blue-demo-ab12")
    expect(spec.Labels["io.jetscale.deployment"]).toBe("blue")
    expect(spec.TaskTemplate.ContainerSpec).toMatchObject({ Image: "img:1", Args: ["node", "w.js"], Env: ["A=1"], StopGracePeriod: 7e9 })
    expect(spec.TaskTemplate.ContainerSpec).not.toHaveProperty("User")
    expect(spec.TaskTemplate.ContainerSpec.Mounts).toEqual([
      { Type: "tmpfs", Target: "/tmp", TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 } },
      { Type: "bind", Source: "/srv/in", Target: "/in", ReadOnly: false }
    ])
    expect(spec.TaskTemplate.Resources).toEqual({ Limits: { NanoCPUs: 1_500_000_000 } })
    expect(spec.TaskTemplate.Placement).toEqual({ Constraints: [], Preferences: [{ Spread: { SpreadDescriptor: "node.labels.zone" } }] })
    expect(spec.TaskTemplate.Networks).toEqual([{ Target: "jobs-net" }])
  })

  it("keeps the image's command when the queue has none, and runs as the user it is given", () => {
    const q = testQueue("demo", { name: "demo", image: "img:1" })
    const spec = serviceSpec({ queue: q, instance: "ab12", env: {} }, { deployment: "default", network: "host", user: "65534:65534" })
    expect(spec.Name).toBe("jetscale-demo-ab12")
    expect(spec.TaskTemplate.ContainerSpec).not.toHaveProperty("Args")
    expect(spec.TaskTemplate.ContainerSpec.User).toBe("65534:65534")
  })
})

describe("a worker as its service and task say", () => {
  it.each([
    ["no task yet (just created)", undefined, 1, "running", null],
    ["waiting for a node", task("pending", { err: "no suitable node" }), 1, "running", null],
    ["starting", task("starting"), 1, "running", null],
    ["running", task("running"), 1, "running", null],
    ["drained: exited 0", task("complete", { exit: 0 }), 1, "exited", 0],
    ["crashed", task("failed", { err: "task: non-zero exit (137)", exit: 137 }), 1, "exited", 137],
    ["refused by Swarm (no such image)", task("rejected", { err: "No such image: img:1", exit: 0 }), 1, "exited", null],
    ["stopping after a scale to zero", task("running"), 0, "running", null],
    ["gone after a scale to zero", undefined, 0, "exited", null]
  ] as const)("%s", (_, t, replicas, state, exitCode) => {
    expect(workerOf("default")(service(ours(), replicas), t)).toMatchObject({
      id: "svc1", name: "jetscale-demo-ab12", queue: "demo", instance: "ab12", state, exitCode, startedAt: Date.parse("2026-12-01T08:00:00.000Z")
    })
  })

  it("is not a worker without all of jetscale's labels, or of another deployment", () => {
    expect(workerOf("default")(service(ours({ "io.jetscale.managed": "false" })), undefined)).toBeUndefined()
    expect(workerOf("default")(service({ "io.jetscale.queue": "demo" }), undefined)).toBeUndefined()
    expect(workerOf("default")(service(ours({ "io.jetscale.deployment": "blue" })), undefined)).toBeUndefined()
    expect(workerOf("blue")(service(ours({ "io.jetscale.deployment": "blue" })), undefined)?.instance).toBe("ab12")
  })

  it("has a problem to tell when it waits for a node or Swarm refused it, not when it ran and exited", () => {
    expect(taskProblem(service(), task("pending", { err: "no suitable node (scheduling constraints not satisfied on 1 node)" }))).toBe(
      "is not placed: no suitable node (scheduling constraints not satisfied on 1 node) (placement constraints: node.labels.zone==eu); " +
        "it counts as a replica and waits until Swarm finds a node for it"
    )
    expect(taskProblem(service(), task("rejected", { err: "No such image: img:1" }))).toBe("rejected by Swarm: No such image: img:1")
    expect(taskProblem(service(), task("failed", { err: "task: non-zero exit (1)", exit: 1 }))).toBeUndefined()
    expect(taskProblem(service(), task("running"))).toBeUndefined()
    expect(taskProblem(service(), undefined)).toBeUndefined()
  })

  it("is the newest task of its service", () => {
    const old = { ...task("failed"), ID: "old", Version: { Index: 10 } }
    const fresh = { ...task("running"), ID: "new", Version: { Index: 20 } }
    expect(currentTask([old, fresh])?.ID).toBe("new")
    expect(currentTask([])).toBeUndefined()
  })
})
