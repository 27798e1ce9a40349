// `npm run build`: bundles dockmoat into dist/ as one file that starts the proxy and three
// files it loads only when a feature needs them (the YAML policy reader, the Prometheus
// listener, undici for hijacks).
//
// dockmoat.js statically imports nothing: every module a Node process links at startup
// pages in more of Node's module loader (one static import of an empty chunk costs ~2 MiB
// resident, and three made V8's Maglev compile Node's path helpers, ~1.6 MiB more). So the
// lazy files are not esbuild's shared chunks but separate bundles, each whole in itself:
// policy-file.js carries its own copy of the pure settings and profile modules it uses, and
// metrics.js is handed what it asks dockerd with (it holds no copy of the forward path).
import fs from 'node:fs'
import { build, type BuildOptions, type Plugin } from 'esbuild'

const OUT = 'dist'
/** Dynamic imports that stay imports: source specifier → the file built for it. */
const LAZY: Record<string, string> = {
  './policy-file.ts': 'policy-file',
  './metrics.ts': 'metrics',
  'undici/lib/dispatcher/pool.js': 'undici-pool',
}
const BANNER = '#!/usr/bin/env -S node --max-semi-space-size=8\n' +
  "const require = (id) => process.getBuiltinModule(id) ?? (() => { throw new Error('the bundle requires only Node builtins, not ' + id) })();"

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  outdir: OUT,
  // undici's HTTP/2 client is never used (src/no-http2.cjs).
  alias: { 'node:http2': './src/no-http2.cjs' },
  legalComments: 'none',
  minifyWhitespace: true,
  banner: { js: BANNER },
  logLevel: 'warning',
}

const lazyImports: Plugin = {
  name: 'lazy-imports',
  setup(builder) {
    builder.onResolve({ filter: /./ }, (args) => {
      const file = LAZY[args.path]
      if (args.kind !== 'dynamic-import' || file === undefined) return undefined
      return { path: `./${file}.js`, external: true }
    })
  },
}

fs.rmSync(OUT, { recursive: true, force: true })
const results = [
  await build({ ...common, metafile: true, entryPoints: { dockmoat: 'src/cli.ts' }, plugins: [lazyImports] }),
  await build({ ...common, metafile: true, entryPoints: Object.fromEntries(Object.entries(LAZY).map(([source, file]) => [file, source.replace(/^\.\//, 'src/')])) }),
]
// A static import of another file would undo this layout: fail the build rather than ship it.
for (const { metafile } of results) {
  for (const [file, output] of Object.entries(metafile.outputs)) {
    const linked = output.imports.filter((entry) => entry.kind === 'import-statement' && !entry.path.startsWith('node:'))
    if (linked.length > 0) throw new Error(`${file} statically imports ${linked.map((entry) => entry.path).join(', ')}`)
  }
}
