// Durations for the simulator's flags and preset files, in jetscale.yaml's short form (`30s`, `5m`,
// `250ms`, `1.5h`), parsed by the same schema as the config file.
export { shortDurationMillis as parseMillis } from "../src/config/duration.ts"

export { formatMillis } from "../src/config/format.ts"

