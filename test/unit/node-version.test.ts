// scripts/require-node.cjs, which npm runs before every script that runs TypeScript with
// node: the version rule itself, and the real preflight under a real old Node (Debian 12's
// /usr/bin/node, v20, on the test machines; OLD_NODE names another) and under this Node 24.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const PREFLIGHT = path.join(REPO, 'scripts', 'require-node.cjs')
const preflight = createRequire(import.meta.url)(PREFLIGHT) as {
  REQUIRED_MAJOR: number
  supportsNode(version: string): boolean
  tooOldMessage(version: string, execPath: string, command?: string | null): string
  npmCommand(lifecycleEvent: string | undefined): string | null
}
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  engines: { node: string }
  scripts: Record<string, string>
}
const OLD_NODE = process.env.OLD_NODE || '/usr/bin/node'

t.test('the version rule', async (t) => {
  t.equal(pkg.engines.node, `>=${preflight.REQUIRED_MAJOR}`, 'the same major as package.json\'s "engines"')
  for (const version of ['24.0.0', '24.22.3', 'v24.1.0', '25.0.0', '30.1.2']) t.ok(preflight.supportsNode(version), `${version} is enough`)
  for (const version of ['20.20.2', 'v22.12.0', '23.11.1', '18.19.0', '0.10.48', '', 'not a version']) t.notOk(preflight.supportsNode(version), `${version || '(empty)'} is not`)
  t.equal(preflight.npmCommand('prestart'), 'npm start')
  t.equal(preflight.npmCommand('pretest'), 'npm test')
  t.equal(preflight.npmCommand('prebench'), 'npm run bench')
  t.equal(preflight.npmCommand(undefined), null)
  t.equal(preflight.npmCommand('start'), null)
})

t.test('every script that runs TypeScript with node runs the preflight first', async (t) => {
  const runsTs = Object.entries(pkg.scripts).filter(([, command]) => /\bnode\b[^&|;]*\.ts\b/.test(command) || /\btap\b/.test(command))
  t.ok(runsTs.length >= 4, `scripts that run TypeScript: ${runsTs.map(([name]) => name).join(', ')}`)
  for (const [name] of runsTs) t.equal(pkg.scripts[`pre${name}`], 'node scripts/require-node.cjs', `"pre${name}" runs the preflight`)
})

t.test('on this Node 24 the preflight passes silently', async (t) => {
  const run = spawnSync(process.execPath, [PREFLIGHT], { encoding: 'utf8', timeout: 30_000 })
  t.equal(run.status, 0, run.stderr)
  t.equal(run.stdout + run.stderr, '')
})

t.test(`on an old Node (${OLD_NODE}) the preflight and npm start say what to do`, async (t) => {
  const probe = spawnSync(OLD_NODE, ['--version'], { encoding: 'utf8', timeout: 30_000 })
  const version = probe.status === 0 ? probe.stdout.trim() : ''
  if (!version || preflight.supportsNode(version)) {
    t.fail(`this test needs a Node older than ${preflight.REQUIRED_MAJOR} at ${OLD_NODE} (as Debian's nodejs package ` +
      `puts there; or set OLD_NODE), but it is ${version || `not runnable: ${probe.error?.message ?? probe.stderr}`}`)
    return
  }

  const direct = spawnSync(OLD_NODE, [PREFLIGHT], { encoding: 'utf8', timeout: 30_000 })
  t.equal(direct.status, 1, `exit 1 on ${version}`)
  t.equal(direct.stdout, '')
  t.equal(direct.stderr, preflight.tooOldMessage(version, OLD_NODE, null))
  t.match(direct.stderr, `dockmoat needs Node.js 24 or later (this is ${version} at ${OLD_NODE}).`)

  // `npm start` as a user with the old Node first on PATH: the message, no stack trace,
  // and the proxy never started. npm is the one beside that node, if any.
  const bin = path.dirname(OLD_NODE)
  const npm = fs.existsSync(path.join(bin, 'npm')) ? path.join(bin, 'npm') : 'npm'
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` }
  for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key]
  const start = spawnSync(npm, ['start'], { cwd: REPO, env, encoding: 'utf8', timeout: 60_000 })
  t.not(start.status, 0, `npm start fails on ${version}`)
  t.match(start.stderr, preflight.tooOldMessage(version, OLD_NODE, 'npm start'), 'with the message, naming `npm start`')
  t.notMatch(start.stdout + start.stderr, /ERR_UNKNOWN_FILE_EXTENSION|\n\s+at /, 'and no stack trace')
})
