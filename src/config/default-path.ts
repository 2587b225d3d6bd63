// Where the config is read from when no --config is given: $JETSCALE_CONFIG, else ./jetscale.yaml.
export const defaultConfigPath = (env: NodeJS.ProcessEnv = process.env): string => env.JETSCALE_CONFIG ?? "./jetscale.yaml"
