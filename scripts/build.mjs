// Builds the runnable outputs with esbuild (type checking is `npm run typecheck`):
// - dist/cli.js (+ dist/chunks/): the CLI, self-contained and split by command; dist/up.js: `jetscale
//   up` without the command-line parser (src/cli/up-main.ts);
// - dist/worker.js (+ dist/chunks/worker-*): the `jetscale/worker` export, with the NATS client and the
//   Effect modules it runs on bundled in (a user's worker then loads a few files, not hundreds of
//   modules one by one); the Schema modules and OpenTelemetry stay external: a user's Schema and
//   tracer must be the ones the SDK sees;
// - dist/types/: the worker SDK's declarations (tsc), for `jetscale/worker` users;
// - services/*/dist/main.js: self-contained bundles, so an image needs only `node` and one file;
//   services/workers/demo/dist/snapshot.cjs: the demo image's startup snapshot entry.
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { createRequire, isBuiltin } from "node:module"

const requireHere = createRequire(import.meta.url)

/**
 * Node.js built-ins bundled as small CommonJS modules that `contents(id)` writes (id: `node:fs`),
 * in place of ESM imports of them; a dynamic import() stays native unless `dynamicToo`.
 */
const builtinsAs = (name, contents, { dynamicToo }) => ({
  name,
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => isBuiltin(args.path) && (dynamicToo || args.kind !== "dynamic-import")
      ? { path: args.path.replace(/^node:/, ""), namespace: "node-builtin" }
      : undefined)
    b.onLoad({ filter: /.*/, namespace: "node-builtin" }, (args) => ({ contents: contents(`node:${args.path}`), loader: "js" }))
  }
})

// Node.js modules are taken with process.getBuiltinModule, not with a static `import`: an ESM import of a
// built-in reads every one of its exports at load, and some are lazy (node:http's WebSocket loads
// Node's fetch and http2, node:crypto's webcrypto its Web Crypto), which costs start time and memory.
// A dynamic import() stays as it is: it must give the module's named exports, and it is lazy anyway.
const builtinsOnUse = builtinsAs("builtins-on-use", (id) => `module.exports = process.getBuiltinModule(${JSON.stringify(id)})`, { dynamicToo: false })

// A V8 startup snapshot cannot hold some built-ins (node:tls, node:http: the snapshot build fails), so
// the snapshot entry's bundle loads each built-in on first use (after the snapshot is restored). Its
// export names are listed here, at build time, so that an ESM importer's namespace copy does not load it.
const builtinsOnFirstUse = builtinsAs("builtins-on-first-use", (id) => [
  `const name = ${JSON.stringify(id)}, keys = ${JSON.stringify(Object.keys(requireHere(id)))}`,
  "let loaded",
  "const real = () => (loaded ??= process.getBuiltinModule(name))",
  "module.exports = new Proxy({}, {",
  "  get: (_, k) => real()[k],",
  "  has: (_, k) => k in real(),",
  "  ownKeys: () => keys,",
  "  getOwnPropertyDescriptor: (_, k) => keys.includes(k) ? { configurable: true, enumerable: true, writable: true, value: undefined } : undefined",
  "})"
].join("\n"), { dynamicToo: true })

// ESM builds of packages ("module") where they have one: they tree-shake, CommonJS builds do not.
const common = { bundle: true, platform: "node", target: "node24", format: "esm", sourcemap: true, logLevel: "warning", mainFields: ["module", "main"], plugins: [builtinsOnUse] }
// ESM bundles of CommonJS packages (dockerode, yaml) need a real `require`.
const banner = { js: "import { createRequire as __jsCreateRequire } from 'node:module'; const require = __jsCreateRequire(import.meta.url);" }

// dockerode -> docker-modem requires ssh2 (optional native addons) for ssh:// hosts only; jetscale talks
// to a local socket, so the bundles carry a stub that fails clearly if ssh is ever asked for.
const noSsh = {
  name: "no-ssh2",
  setup(b) {
    b.onResolve({ filter: /^ssh2$/ }, () => ({ path: "ssh2", namespace: "no-ssh2" }))
    b.onLoad({ filter: /.*/, namespace: "no-ssh2" }, () => ({
      contents: "export class Client { constructor() { throw new Error('ssh:// Docker hosts are not supported by this bundle') } }",
      loader: "js"
    }))
  }
}

// dockerode loads gRPC and protobufjs (a few MB) for BuildKit image builds (`buildImage` with
// version "2"), which jetscale never does; the bundles carry a stub that fails clearly instead.
const noBuildKit = {
  name: "no-buildkit",
  setup(b) {
    b.onResolve({ filter: /^\.\/(session|buildkit)$/ }, (args) =>
      /[\\/]dockerode[\\/]lib$/.test(args.resolveDir) ? { path: args.path, namespace: "no-buildkit" } : undefined)
    b.onLoad({ filter: /.*/, namespace: "no-buildkit" }, () => ({
      contents: "module.exports = function () { throw new Error('BuildKit builds are not supported by this bundle') }; module.exports.followProgress = module.exports",
      loader: "js"
    }))
  }
}

// Chunk names carry a content hash: clear out the previous build's.
rmSync("dist/chunks", { recursive: true, force: true })

await Promise.all([
  // The CLI: one bundle (no module resolution at start), split so that what only some commands
  // need (the scaler, the Docker client, the OpenTelemetry SDK) loads only when they run.
  build({ ...common, entryPoints: { cli: "src/cli/main.ts", up: "src/cli/up-main.ts" }, outdir: "dist", splitting: true, chunkNames: "chunks/[name]-[hash]", banner, plugins: [builtinsOnUse, noSsh, noBuildKit] }),
  // Split too: what only a worker with a Schema needs (the Schema machinery) loads only then.
  build({
    ...common, entryPoints: { worker: "src/worker/index.ts" }, outdir: "dist", splitting: true, chunkNames: "chunks/worker-[name]-[hash]", banner,
    external: ["effect/Schema", "effect/SchemaAST", "effect/SchemaIssue", "effect/Result", "@opentelemetry/*", "@effect/*"]
  }),
  build({ ...common, entryPoints: ["services/workers/demo/main.ts"], outfile: "services/workers/demo/dist/main.js", banner }),
  // The demo image's startup snapshot entry (src/worker/snapshot.ts): one CommonJS script, as
  // `node --build-snapshot` wants. Minified (names kept: error names end up in the DLQ), the snapshot
  // is 20% smaller and restores faster.
  build({ ...common, format: "cjs", entryPoints: ["services/workers/demo/snapshot.ts"], outfile: "services/workers/demo/dist/snapshot.cjs", plugins: [builtinsOnFirstUse], minify: true, keepNames: true }),
  build({ ...common, entryPoints: ["services/scaler/main.ts"], outfile: "services/scaler/dist/main.js", banner, plugins: [builtinsOnUse, noSsh, noBuildKit] })
])

// Declarations: the sources import `./x.ts`; published declarations must say `./x.js`.
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { stdio: "inherit" })
for (const entry of readdirSync("dist/types", { recursive: true })) {
  const file = join("dist/types", String(entry))
  if (!file.endsWith(".d.ts")) continue
  writeFileSync(file, readFileSync(file, "utf8").replace(/(from\s+["']\.{1,2}\/[^"']*)\.ts(["'])/g, "$1.js$2"))
}
