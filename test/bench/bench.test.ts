// Keeps the benchmark from rotting: runs it, small, against the real dockerd and checks
// that the report is complete and that the transfers and create cycles it timed were
// verified. No timing assertions: the numbers depend on the machine; only their presence
// and shape are checked.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import t from 'tap'
import { runBench } from '../../bench/bench.ts'
import { QUICK, type BenchConfig } from '../../bench/config.ts'
import { METRICS } from '../../bench/model.ts'
import type { OwnerSetup } from '../../bench/report.ts'
import { OWNER_LABEL, ownerId } from '../../bench/workloads/owner.ts'
import { BUNDLE, floorCompares, NODE_FLAGS } from '../../bench/targets.ts'
import { docker } from '../helpers/docker.ts'

const SMALL: BenchConfig = {
  ...QUICK,
  mode: 'test',
  ping: { rounds: 2, warmupMs: 100, durationMs: 300, connections: 32 },
  list: { rounds: 2, containers: 4, connections: 8, warmupMs: 100, durationMs: 300 },
  archive: { rounds: 1, downloadMiB: 8, uploadMiB: 4 },
  exec: { rounds: 1, trueRuns: 2, stdinMiB: 2, stdinRuns: 1, splitPauseMs: 200, hangMs: 20_000 },
  events: { rounds: 1, watchers: 25, holdMs: 500, flushEvents: 4, flushGapMs: 60 },
  create: { rounds: 1, cycles: 2, loops: 2, hangMs: 20_000 },
  owner: { rounds: 1, owned: 3, connections: 8, warmupMs: 100, durationMs: 300 },
  startup: { runs: 1 },
  settleMs: 200,
  idleAfterRunMs: 200,
  // A second proxy that lacks the grants for exec, archive and create (no POST): its
  // failures must be reported as failures, not crash the run or pass. And the HTTP floor
  // of `--floor`, which must carry every workload as dockmoat does.
  compare: [{
    name: 'restricted',
    command: `LISTEN_ADDRESS=127.0.0.1 LISTEN_PORT={port} PING=1 EVENTS=1 CONTAINERS=1 LOG_LEVEL=warn ${JSON.stringify(process.execPath)} ${JSON.stringify(BUNDLE)}`,
  }, floorCompares(QUICK.socketPath).find((floor) => floor.name === 'node-http-undici')!],
}

t.test('node bench/run.ts --help answers without running anything', async (t) => {
  const help = spawnSync(process.execPath, [path.join(import.meta.dirname, '../../bench/run.ts'), '--help'], { encoding: 'utf8', timeout: 30_000 })
  t.equal(help.status, 0, help.stderr)
  t.match(help.stdout, /--quick/)
  t.match(help.stdout, /--compare/)
})

t.test('a small bench run against the real dockerd gives a complete, verified report', async (t) => {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockmoat-bench-test-'))
  t.teardown(() => fs.rmSync(outDir, { recursive: true, force: true }))
  const lines: string[] = []
  const report = await runBench(SMALL, { outDir, log: (line) => lines.push(line) })

  t.same(report.meta.targets.map((x) => x.name), ['direct', 'dockmoat', 'restricted', 'node-http-undici'], 'direct, dockmoat and the compared proxies were measured')
  // dockmoat and the HTTP floor ran with the image's node flags, as the kernel saw them.
  for (const name of ['dockmoat', 'node-http-undici']) {
    const argv = report.meta.targets.find((x) => x.name === name)!.argv
    t.same(argv?.slice(1, 1 + NODE_FLAGS.length), NODE_FLAGS, `${name} ran as ${argv?.join(' ')}`)
  }
  t.equal(report.meta.mode, 'test')
  t.type(report.meta.machine.cores, 'number')
  t.match(report.meta.dockerd.apiVersion, /^1\.\d+$/)

  const ids = report.metrics.map((m) => m.id)
  t.same(ids, METRICS.map((m) => m.id), 'every metric of every workload is in the report, in order')
  const metric = (id: string) => report.metrics.find((m) => m.id === id)!

  // dockmoat and the floor forward everything: every metric has a value for them, and
  // direct has every non-RSS one. The OWNER rows (scope dockmoat) are measured for
  // dockmoat only: compared proxies have none, and are not judged on them.
  for (const m of report.metrics) {
    t.not(m.values.dockmoat, null, `dockmoat has a value for ${m.id}`)
    if (m.scope === 'dockmoat') {
      for (const name of ['restricted', 'node-http-undici']) {
        t.equal(m.values[name], null, `${name} is not measured on ${m.id}`)
        t.equal(m.pass[name], null, `${name} is not judged on ${m.id}`)
      }
    } else t.not(m.values['node-http-undici'], null, `the HTTP floor has a value for ${m.id}`)
    const proxyOnly = m.id.startsWith('rss_') || m.id.endsWith('_cpu') || m.id === 'startup_ms' || m.id === 'owner_scope_ok'
    if (!proxyOnly) t.not(m.values.direct, null, `direct has a value for ${m.id}`)
    if (m.rule.kind === 'ratio') t.type(m.ratio.dockmoat, 'number', `${m.id} has a dockmoat/direct ratio`)
    if (m.rule.kind !== 'info') t.type(m.pass.dockmoat, 'boolean', `${m.id} is judged for dockmoat`)
  }

  // Byte counts were verified, not assumed.
  const details = report.details as Record<string, Record<string, Record<string, unknown>[]>>
  for (const target of ['direct', 'dockmoat', 'node-http-undici']) {
    for (const d of details.archiveDownload![target]!) {
      t.equal(d.verified, true, `${target}: download verified`)
      t.equal(d.fileBytes, SMALL.archive.downloadMiB * 1024 * 1024, `${target}: the tar holds the whole file`)
    }
    for (const d of details.archiveUpload![target]!) {
      t.equal(d.verified, true, `${target}: upload verified`)
      t.equal(d.fileBytes, SMALL.archive.uploadMiB * 1024 * 1024, `${target}: dockerd has the whole uploaded file`)
    }
    for (const d of details.execStdin![target]!) {
      for (const run of d.runs as { bytesCounted: number; bytesSent: number }[]) {
        t.equal(run.bytesCounted, run.bytesSent, `${target}: wc -c counted every byte sent`)
      }
    }
    for (const d of details.execSplitBody![target]!) t.equal(d.ok, true, `${target}: exec start with a late body answered`)
    for (const d of details.flush![target]!) t.equal(d.received, SMALL.events.flushEvents, `${target}: every flush-check event arrived`)
    for (const d of details.createCycle![target]!) {
      // exit 0 means the container got the body's Env and named volume: the body arrived whole.
      t.equal(d.ok, SMALL.create.cycles, `${target}: every create + start + wait + remove cycle completed${d.firstFailure ? ` (${d.firstFailure})` : ''}`)
      t.equal(d.loops, SMALL.create.loops)
      t.ok((d.bodyBytes as number) > 1500, `${target}: the create body is docker CLI-sized (${d.bodyBytes} bytes)`)
    }
    for (const d of details.events![target]!) {
      t.type(d.within2s, 'number', `${target}: watcher count is a number`)
      t.type(d.gotEvent, 'number')
      t.equal(d.watchers, SMALL.events.watchers)
      t.equal(d.connectFailures, 0, `${target}: every watcher connected`)
    }
  }
  // OWNER: the owner proxy listed exactly the containers made through it, inspected an
  // owned one by ID and by name, and answered 404 for a foreign one by ID and by name;
  // direct's filtered list (its baseline) held the same containers.
  const setup = report.details.ownerSetup as OwnerSetup
  t.equal(setup.owned, SMALL.owner.owned, 'every owned container was made through the owner proxy')
  t.ok(setup.total >= SMALL.owner.owned + SMALL.list.containers + 2, `the foreign containers were present too (${setup.total} in all)`)
  t.match(setup.settings, new RegExp(`^OWNER=${ownerId(report.meta.runId)}$`))
  t.match(setup.directListPath, /^\/containers\/json\?all=1&filters=/)
  t.match(decodeURIComponent(setup.directListPath), `"${OWNER_LABEL}=${ownerId(report.meta.runId)}":true`)
  for (const scope of details.ownerScope!.dockmoat!) {
    t.equal(scope.listedByProxy, SMALL.owner.owned, 'the owner proxy lists only the owned containers')
    t.equal(scope.listedDirectFiltered, SMALL.owner.owned, "direct's filtered list holds the same ones")
    t.same(scope.ownedInspect, [200, 200], 'an owned container inspects through the owner proxy, by ID and by name')
    t.same(scope.foreignInspect, [404, 404], 'a foreign container is 404 through the owner proxy, by ID and by name')
    t.equal(scope.ok, true, `no scope problem${(scope.problems as string[]).length > 0 ? `: ${(scope.problems as string[]).join('; ')}` : ''}`)
  }
  t.same(metric('owner_scope_ok').values.dockmoat?.rounds, [1], 'the scope check passed')
  t.equal(metric('owner_scope_ok').pass.dockmoat, true)
  for (const name of ['direct', 'dockmoat', 'dockmoat without OWNER']) {
    const rounds = details.owner![name]!
    t.equal(rounds.length, SMALL.owner.rounds, `${name} was measured on the OWNER requests`)
    for (const round of rounds) {
      for (const phase of ['owner-list-8conn', 'owner-inspect-8conn', 'owner-inspect-1conn', 'owner-forwarded-8conn', 'owner-forwarded-1conn']) {
        const d = round[phase] as { errors: number; requests: number }
        t.equal(d.errors, 0, `${name} ${phase}: no errors`)
        t.ok(d.requests > 0, `${name} ${phase}: requests answered`)
      }
    }
  }
  for (const id of ['owner_list_rps', 'owner_inspect_rps']) {
    t.type(metric(id).ratio.dockmoat, 'number', `${id} has a ratio`)
    t.type(metric(id).ratio['node-http-undici'], 'number', `${id}: a compared proxy was measured on the same requests (the hop alone)`)
    t.equal(details.owner!['node-http-undici']!.length, SMALL.owner.rounds, 'in every round')
  }
  t.type(setup.plain?.inspectP50ms, 'number', 'dockmoat without OWNER was measured for the note')
  const judged = (scoped: boolean) => report.metrics.filter((m) => m.rule.kind !== 'info' && (scoped || m.scope === undefined)).length
  for (const name of ['restricted', 'node-http-undici']) {
    const v = report.verdict[name]!
    t.equal(v.passed + v.failed + v.notMeasured, judged(false), `${name} is judged on every metric but the OWNER rows`)
  }
  const mine = report.verdict.dockmoat!
  t.equal(mine.passed + mine.failed + mine.notMeasured, judged(true), 'dockmoat is judged on the OWNER rows too')

  t.equal(metric('exec_stdin_exact').values.dockmoat?.median, SMALL.exec.stdinRuns)
  t.equal(metric('events_received').expected, SMALL.events.watchers)
  t.equal(metric('create_cycle_ok').expected, SMALL.create.cycles)
  t.match(metric('create_request_p50').label, /^`POST \/containers\/create` alone \(\d{4}-byte docker CLI body/)
  for (const id of ['events_received', 'events_p50', 'rss_events_holding', 'rss_idle', 'rss_after_run', 'rss_after_idle', 'startup_ms']) {
    t.type(metric(id).values.dockmoat?.median, 'number', `${id} is a number`)
  }

  // The restricted proxy refuses exec, archive and create: reported as failed, never as passed.
  for (const id of ['download_mibs', 'upload_mibs', 'exec_true_ok', 'exec_split_body', 'exec_stdin_exact', 'create_cycle_ok', 'create_cycle_p50']) {
    t.equal(metric(id).pass.restricted, false, `restricted proxy fails ${id}`)
  }
  t.type(metric('ping_p50').ratio.restricted, 'number', 'restricted proxy still measured where it is allowed')
  t.match(metric('create_cycle_ok').notes.restricted?.join(' '), /create: HTTP 403/, 'the refused create is named in the notes')

  // Outputs.
  const written = JSON.parse(fs.readFileSync(path.join(outDir, 'latest.json'), 'utf8')) as typeof report
  t.same(written.metrics.map((m) => m.id), ids, 'latest.json holds the same report')
  const markdown = fs.readFileSync(path.join(outDir, 'latest.md'), 'utf8')
  t.match(markdown, /^\| workload \| direct \| dockmoat \| dockmoat\/direct \| restricted \| restricted\/direct \| node-http-undici \| node-http-undici\/direct \| target \|/)
  for (const m of report.metrics) t.ok(markdown.includes(`| ${m.label} |`), `the table has a row for ${m.id}`)
  t.match(markdown, /Load generator .* of one core/)
  t.match(markdown, /Machine: /)
  t.match(markdown, /OWNER rows: dockmoat's column is a second dockmoat/)
  t.match(markdown, /\| OWNER: the list, 8 connections, p50 \(direct's is bimodal: see note\) \| [^|]+ \| [^|]+ \| [^|]+ \| — \| — \| — \| — \| — \|/, 'compared proxies show — on the OWNER p50 rows')
  t.match(markdown, /\| OWNER: `GET \/containers\/json\?all=1`, 3 of \d+ containers owned, 8 connections, throughput \(see note\) \| [^|]+ \| [^|]+ \| [\d.]+×[^|]* \| [^|—]+ \| [^|—]+ \| [^|—]+ \| [\d.]+×[^|]* \| ≤ 1\.2× direct time per request/, 'and are measured on the OWNER throughput rows (the hop alone)')
  const svg = fs.readFileSync(path.join(outDir, 'ratios.svg'), 'utf8')
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
  t.match(svg, /<\/svg>\n$/)
  t.equal(svg.match(/<text /g)!.length > report.metrics.filter((m) => m.chart).length, true, 'the chart labels every charted metric')
  t.notMatch(svg, /NaN|undefined/, 'no broken numbers in the chart')
  t.notMatch(markdown, /NaN|undefined/, 'no broken numbers in the table')

  // Everything the run made is gone: containers, volumes, proxies.
  const left = await docker(['ps', '-aq', '--filter', `label=org.dockmoat.bench=${report.meta.runId}`])
  t.equal(left.stdout.trim(), '', 'no container of the run is left')
  const leftOwned = await docker(['ps', '-aq', '--filter', `label=${OWNER_LABEL}=${ownerId(report.meta.runId)}`])
  t.equal(leftOwned.stdout.trim(), '', 'no container of the bench owner is left')
  const leftVolumes = await docker(['volume', 'ls', '-q', '--filter', `label=org.dockmoat.bench=${report.meta.runId}`])
  t.equal(leftVolumes.stdout.trim(), '', 'no volume of the run is left')
  for (const target of [...report.meta.targets, { name: 'dockmoat-owner', pid: setup.pid }]) {
    if (target.pid === null) continue
    t.notOk(fs.existsSync(`/proc/${target.pid}`) && !fs.readFileSync(`/proc/${target.pid}/stat`, 'utf8').includes(') Z '), `${target.name} (pid ${target.pid}) was stopped`)
  }
  t.ok(lines.length > 10, 'progress was logged')
})

t.test('--only runs just the named workloads and leaves the other rows unmeasured', async (t) => {
  const unknown = spawnSync(process.execPath, [path.join(import.meta.dirname, '../../bench/run.ts'), '--only', 'archive,pings'], { encoding: 'utf8', timeout: 30_000 })
  t.equal(unknown.status, 2, 'an unknown workload stops the run before anything starts')
  t.match(unknown.stderr, /--only: no workload named pings; there are events, exec, create, ping, list, owner, archive/)

  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockmoat-bench-test-'))
  t.teardown(() => fs.rmSync(outDir, { recursive: true, force: true }))
  const lines: string[] = []
  const report = await runBench({ ...SMALL, compare: [], only: ['archive'] }, { outDir, log: (line) => lines.push(line) })
  const metric = (id: string) => report.metrics.find((m) => m.id === id)!
  for (const id of ['download_mibs', 'upload_mibs']) t.type(metric(id).values.dockmoat?.median, 'number', `${id} was measured`)
  for (const id of ['ping_p50', 'list_rps', 'exec_true_ok', 'events_received', 'create_cycle_ok', 'owner_inspect_rps']) {
    t.equal(metric(id).values.dockmoat, null, `${id} was not`)
  }
  t.notOk(lines.some((line) => /^(events|exec|create|ping|list|owner): start/.test(line)), 'no other workload started')
})
