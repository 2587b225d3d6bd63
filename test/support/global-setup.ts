// Before any test: the worker and scaler images must hold the bundles just built (`pretest`), or the
// docker tests would run yesterday's code. Cheap when nothing changed (docker's layer cache).
import { execFileSync } from "node:child_process"

export default function setup() {
  execFileSync("bash", ["scripts/build-images.sh"], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, JETSCALE_SKIP_BUILD: "1" } })
}
