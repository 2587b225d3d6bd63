// End to end with the swarm driver: a single-node swarm made for this file, one service per worker.
import { describeScaling } from "./scenario.ts"

describeScaling("swarm")
