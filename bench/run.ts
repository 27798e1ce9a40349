// npm run bench -- [--quick] [--floor] [--haproxy] [--compare "<start command with {port}>" [--compare-name NAME]]... [--out DIR]
//
// Runs the same workloads against dockerd's unix socket and through dockmoat (and any
// compared proxy), alternating targets round by round, and writes DIR/latest.json,
// DIR/latest.md and DIR/ratios.svg (DIR defaults to bench/results).
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { pendingCleanups, runBench, writeReport } from './bench.ts'
import { FULL, QUICK, WORKLOADS, type BenchConfig, type Workload } from './config.ts'
import { renderMarkdown, type Report } from './report.ts'
import { BUNDLE, floorCompares, haproxyCompare, REPO } from './targets.ts'

const USAGE = `usage: node bench/run.ts [--quick] [--floor] [--haproxy] [--compare "<command with {port}>"] [--compare-name NAME] [--out DIR] [--log-level LEVEL] [--render FILE] [--only W,...]

  --quick          the smoke run (< 3 min); default is the full run (< 20 min)
  --compare CMD    also measure another proxy: CMD is run with sh -c, {port} replaced by a free
                   TCP port it must listen on at 127.0.0.1, forwarding to /var/run/docker.sock.
                   Like dockmoat, it gets only PATH and HOME from the environment: set the rest in CMD.
                   Repeatable. Example:
                   --compare "haproxy -f /etc/dockmoat-bench/haproxy.cfg -db" (the cfg binding 127.0.0.1:{port})
  --compare-name   a label for the --compare at the same position (default: the command's first word)
  --out DIR        where latest.json, latest.md and ratios.svg go (default bench/results)
  --log-level      dockmoat's LOG_LEVEL during the run (default info, as users run it)
  --only W,...     run only these workloads (${WORKLOADS.join(', ')}),
                   e.g. to find which earlier workload changes a later one's numbers; the rows of
                   the others are left unmeasured
  --render FILE    only rewrite latest.md and ratios.svg (in --out) from a saved latest.json
  --haproxy        also measure Debian's HAProxy as Tecnativa's docker-socket-proxy runs it
                   (bench/haproxy.cfg: HTTP mode, option http-server-close, 2 threads)
  --floor          also measure three floors: bench/relay.mjs, a bare TCP-to-unix-socket byte relay
                   in Node (the extra hop alone, the floor for any TCP-listening Node proxy), and
                   bench/http-relay.mjs, node:http + an undici Pool with no policy and no logs
                   (the floor of dockmoat's stack before the byte relay), and bench/parser-byte-relay.ts,
                   Node's HTTP parser (src/http1.ts) + dockmoat's own byte relay with no policy
                   and no logs (the floor of dockmoat's stack now)`

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    compare: { type: 'string', multiple: true, default: [] },
    'compare-name': { type: 'string', multiple: true, default: [] },
    out: { type: 'string', default: path.join(REPO, 'bench', 'results') },
    'log-level': { type: 'string' },
    floor: { type: 'boolean', default: false },
    haproxy: { type: 'boolean', default: false },
    render: { type: 'string' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
})
if (values.help) {
  process.stdout.write(USAGE + '\n')
  process.exit(0)
}

if (values.render !== undefined) {
  const saved = JSON.parse(fs.readFileSync(values.render, 'utf8')) as Report
  writeReport(saved, values.out!)
  process.stdout.write(renderMarkdown(saved))
  process.exit(0)
}

/** The bundle is what users run; rebuild it when src/ is newer (or it is missing). */
function ensureBundle(): void {
  const newestSource = fs.readdirSync(path.join(REPO, 'src')).reduce((latest, file) => Math.max(latest, fs.statSync(path.join(REPO, 'src', file)).mtimeMs), 0)
  if (fs.existsSync(BUNDLE) && fs.statSync(BUNDLE).mtimeMs >= newestSource) return
  process.stderr.write('[bench] dist/dockmoat.js is missing or older than src/: running npm run build\n')
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO, stdio: 'inherit' })
}

const names = values['compare-name'] ?? []
const compare = (values.compare ?? []).map((command, i) => {
  const name = names[i] ?? command.trim().split(/\s+/).find((word) => !word.includes('=')) ?? `compare${i + 1}`
  return { name: path.basename(name), command }
})
if (values.haproxy) compare.push(haproxyCompare(process.env.DOCKER_SOCKET || '/var/run/docker.sock'))
if (values.floor) compare.push(...floorCompares(process.env.DOCKER_SOCKET || '/var/run/docker.sock'))
const base = values.quick ? QUICK : FULL
const only = values.only?.split(',').map((name) => name.trim())
const unknown = only?.filter((name) => !(WORKLOADS as readonly string[]).includes(name)) ?? []
if (unknown.length > 0) {
  process.stderr.write(`--only: no workload named ${unknown.join(', ')}; there are ${WORKLOADS.join(', ')}\n`)
  process.exit(2)
}
const config: BenchConfig = { ...base, compare, logLevel: values['log-level'] ?? base.logLevel, ...(only === undefined ? {} : { only: only as Workload[] }) }

let interrupted = false
const onSignal = (signal: NodeJS.Signals): void => {
  if (interrupted) process.exit(130)
  interrupted = true
  process.stderr.write(`[bench] ${signal}: stopping proxies and removing this run's containers\n`)
  void Promise.all([...pendingCleanups].map((cleanup) => cleanup())).finally(() => process.exit(130))
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)

ensureBundle()
const command = ['node bench/run.ts', ...process.argv.slice(2).map((arg) => (/[\s"'{}]/.test(arg) ? JSON.stringify(arg) : arg))].join(' ')
const report = await runBench(config, { outDir: values.out, command })
process.stdout.write('\n' + renderMarkdown(report))
const out = path.relative(process.cwd(), values.out!) || '.'
process.stderr.write(`\n[bench] wrote ${out}/latest.json, ${out}/latest.md, ${out}/ratios.svg in ${report.meta.durationSeconds} s\n`)
for (const [name, verdict] of Object.entries(report.verdict)) {
  process.stderr.write(`[bench] ${name}: ${verdict.passed} targets met, ${verdict.failed} missed, ${verdict.notMeasured} not measured\n`)
}
if (path.resolve(values.out!) === path.join(REPO, 'bench', 'results')) {
  process.stderr.write('[bench] the README shows bench/results/latest.md: `npm run readme` takes this run into it\n')
}
