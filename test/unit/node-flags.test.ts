// The image runs node with flags (see the Dockerfile's ENTRYPOINT). Wherever this repo
// starts dockmoat — `npm start`, the bundle's shebang, the benchmark — it uses the same.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { entrypointNodeFlags, NODE_FLAGS } from '../../bench/targets.ts'

const REPO = path.resolve(import.meta.dirname, '../..')
const scripts = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
const flags = entrypointNodeFlags(fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8'))

t.ok(flags.length > 0, `the image's node flags: ${flags.join(' ')}`)
t.same(NODE_FLAGS, flags, 'the benchmark runs dockmoat with them')
t.equal(scripts.start, `node ${flags.join(' ')} src/cli.ts`, '`npm start` passes them')
t.ok(scripts.build!.includes(`#!/usr/bin/env -S node ${flags.join(' ')}\n`), "the bundle's shebang passes them")
t.throws(() => entrypointNodeFlags('FROM scratch\nCMD ["x"]\n'), /no exec-form ENTRYPOINT/)
