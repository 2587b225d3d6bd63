// The scaler service: `jetscale up` in a container (config from JETSCALE_CONFIG or ./jetscale.yaml).
import "../../src/cli/up-main.ts"
