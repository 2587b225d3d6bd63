// What `enqueue` and `pub` send: a JSON payload given as text, `@file` or `-` (standard input),
// headers given as `-H key:value`, and the check against the server's max_payload made before
// anything is sent.
import { readFile } from "node:fs/promises"
import { describe } from "../nats/connection.ts"

/** Standard input is read up to this much (a NATS server takes at most 64 MiB per message). */
export const maxStdinBytes = 64 * 1024 * 1024

const readStdin = async (): Promise<Buffer> => {
  const chunks: Array<Buffer> = []
  let size = 0
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length
    if (size > maxStdinBytes) throw new Error(`standard input: more than ${maxStdinBytes / 1024 / 1024} MiB`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

/** The payload text of `arg` (JSON text, `@file` or `-`), checked to be JSON; the failure is one line. */
export const readJsonPayload = async (arg: string): Promise<string> => {
  let text: string
  let where: string
  if (arg === "-") {
    if (process.stdin.isTTY) throw new Error("payload -: reads standard input, which is a terminal (pipe or redirect a file into it)")
    text = (await readStdin()).toString("utf8")
    where = "standard input"
  } else if (arg.startsWith("@")) {
    const file = arg.slice(1)
    text = await readFile(file, "utf8").catch((e: unknown) => { throw new Error(`cannot read ${file}: ${describe(e)}`) })
    where = file
  } else {
    text = arg
    where = "payload"
  }
  try {
    JSON.parse(text)
  } catch (e) {
    throw new Error(`${where} is not valid JSON: ${describe(e)}`)
  }
  return text.trim()
}

/** `key:value` of a `-H` flag; the failure names the flag's text. */
export const parseHeader = (text: string): { readonly key: string; readonly value: string } => {
  const i = text.indexOf(":")
  const key = i < 0 ? "" : text.slice(0, i).trim()
  if (i < 0 || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(key)) {
    throw new Error(`-H ${JSON.stringify(text)}: expected key:value with a header name of letters, digits and !#$%&'*+-.^_\`|~`)
  }
  const value = text.slice(i + 1).trim()
  if (/[\r\n]/.test(value)) throw new Error(`-H ${JSON.stringify(text)}: a header value cannot hold a line break`)
  return { key, value }
}

/** Refuses a message the server would refuse, with its limit and how to raise it; undefined when it fits. */
export const payloadTooLarge = (bytes: number, maxPayload: number | undefined): string | undefined =>
  maxPayload !== undefined && bytes > maxPayload
    ? `payload: ${bytes.toLocaleString("en")} bytes (with headers) is over the NATS server's max_payload of ${maxPayload.toLocaleString("en")} bytes; ` +
      `send a smaller job (or a reference to the data), or raise max_payload in nats-server's config (e.g. max_payload: 8MB, at most 64MB) and restart it`
    : undefined
