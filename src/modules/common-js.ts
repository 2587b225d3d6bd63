// Dynamic imports of CommonJS packages (yaml, the OpenTelemetry SDK): loaded only by the commands
// that need them, and read the same way however they were loaded.

/**
 * The exports of a dynamically imported CommonJS package: Node gives them as named exports and as
 * `default`, a split bundle (the CLI) only as `default`.
 */
export const commonJs = <M>(mod: M): M => (mod as { readonly default?: M }).default ?? mod
