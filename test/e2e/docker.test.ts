// End to end with the docker driver: real dockerd, real worker containers.
import { describeScaling } from "./scenario.ts"

describeScaling("docker")
