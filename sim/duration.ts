// Durations for the simulator's flags and preset files, in jetscale.yaml's short form (`30s`, `5m`,
// `250ms`, `1.5h`), parsed by the same schema as the config file.
import { Duration, Option, Schema } from "effect"
import { ShortDuration } from "../src/config/duration.ts"

export { formatMillis } from "../src/config/format.ts"

/** `"30s"` -> 30000; undefined when not a duration. */
export const parseMillis = (text: string): number | undefined =>
  Option.getOrUndefined(Option.map(Schema.decodeUnknownOption(ShortDuration)(text), Duration.toMillis))
