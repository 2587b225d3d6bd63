// `admin.listen` ("host:port", "[::1]:port") as Node listen options, and the URL a client on this
// machine uses to reach it (a wildcard address is reached through loopback).

export interface ListenAddress {
  /** Without IPv6 brackets, as Node's `listen` wants it. */
  readonly host: string
  readonly port: number
}

/** Parses `host:port` / `[v6]:port`; undefined when it is not one. */
export const parseListen = (listen: string): ListenAddress | undefined => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(listen.trim())
  if (!m) return undefined
  const port = Number(m[3])
  return port <= 65535 ? { host: m[1] ?? m[2]!, port } : undefined
}

/** `http://host:port` for a client: `0.0.0.0` -> `127.0.0.1`, `::` -> `[::1]`, v6 in brackets. */
export const clientUrl = (address: ListenAddress): string => {
  const host = address.host === "0.0.0.0" ? "127.0.0.1" : address.host === "::" ? "::1" : address.host
  return `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`
}
