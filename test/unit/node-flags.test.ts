// The image runs node with flags (see the Dockerfile's ENTRYPOINT). Wherever this repo
// starts dockmoat — `npm start`, the bundle's shebang — it uses the same; the benchmark's
// running processes are checked in test/bench/bench.test.ts.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { entrypointNodeFlags, REPO } from '../../bench/targets.ts'

const scripts = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
const flags = entrypointNodeFlags(fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8'))

t.ok(flags.length > 0, `the image's node flags: ${flags.join(' ')}`)
// `exec`: npm sends its SIGTERM to the script's shell, which would not pass it on.
t.equal(scripts.start, `exec node ${flags.join(' ')} src/cli.ts`, '`npm start` passes them')
const bundle = fs.readFileSync(path.join(REPO, 'dist', 'dockmoat.js'), 'utf8')
t.equal(bundle.slice(0, bundle.indexOf('\n')), `#!/usr/bin/env -S node ${flags.join(' ')}`, "the bundle's shebang passes them")
t.throws(() => entrypointNodeFlags('FROM scratch\nCMD ["x"]\n'), /no exec-form ENTRYPOINT/)
