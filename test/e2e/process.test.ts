// End to end with the process driver: workers are child processes of `jetscale up`.
import { describeScaling } from "./scenario.ts"

describeScaling("process")
