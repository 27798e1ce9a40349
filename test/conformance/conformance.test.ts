// Differential conformance: dockmoat's classifier (deriveTarget + matchRoute, and decide()
// with every grant on) against the REAL dockerd, on a fixed seed of generated targets.
// A failure is a target dockerd would RUN while dockmoat names no route, another route,
// or refuses it as malformed; each is printed with both views. Long runs with a random
// seed: `npm run fuzz` (test/conformance/fuzz.ts).
import t from 'tap'
import { requireDocker } from '../helpers/docker.ts'
import { ask, categorize, evidence, type Category } from './dockerd-oracle.ts'
import { caseAt, cases, safety, type Case } from './generator.ts'
import { describe, describeProxied, groupFailures, runAll, runCase, runThroughProxy, summary, type ProxyOutcome } from './compare.ts'
import { startProxy } from '../helpers/proxy.ts'
import { TOGGLES } from '../../src/settings.ts'

/** The CI seed. Change it only together with a look at what the new seed covers. */
const SEED = 20261123
const COUNT = 10_000
const CONCURRENCY = 8
/** How many of the seed's cases also go through a running dockmoat. */
const END_TO_END = 2000

await requireDocker()

// What dockerd 20.10 answers, checked before the oracle's reading of it is relied on.
interface Expectation {
  method: string
  target: string
  category: Category
  /** Evidence label and parsed name, when the answer names one. */
  label?: string
  name?: string
}
const CALIBRATION: Expectation[] = [
  { method: 'GET', target: '/_ping', category: 'routed' },
  { method: 'GET', target: '/v1.41/info', category: 'routed' },
  { method: 'GET', target: '/v1.41.0/info', category: 'routed' },
  { method: 'GET', target: '/v01.041/info', category: 'routed' },
  { method: 'GET', target: '/%761.41/info', category: 'routed' },
  { method: 'GET', target: '/v1..41/info', category: 'version-rejected' },
  { method: 'GET', target: '/v1.99/info', category: 'version-rejected' },
  { method: 'GET', target: '/V1.41/info', category: 'not-routed' },
  { method: 'GET', target: '/v/info', category: 'not-routed' },
  { method: 'GET', target: '/info/', category: 'not-routed' },
  { method: 'GET', target: '/info#x', category: 'not-routed' },
  { method: 'POST', target: '/zq-nothing', category: 'not-routed' },
  { method: 'get', target: '/info', category: 'not-routed' },
  { method: 'HEAD', target: '/info', category: 'not-routed' },
  { method: 'HEAD', target: '/_ping', category: 'routed' },
  { method: 'OPTIONS', target: '/zq-anything', category: 'routed', label: 'OPTIONS' },
  { method: 'OPTIONS', target: '*', category: 'not-routed' },
  { method: 'GET', target: '//info', category: 'redirect' },
  { method: 'GET', target: '/./info', category: 'redirect' },
  { method: 'GET', target: '/zq/%2e%2e/info', category: 'redirect' },
  { method: 'GET', target: 'http://docker', category: 'redirect' },
  { method: 'GET', target: '/%zz', category: 'bad-request' },
  { method: 'GET', target: 'http://docker:x/info', category: 'bad-request' },
  { method: 'GET', target: 'http://docker/v1.41/info', category: 'routed' },
  { method: 'GET', target: '/%73ecrets', category: 'routed' },
  { method: 'GET', target: '/containers/zqone/json', category: 'routed', label: 'no such container', name: 'zqone' },
  { method: 'GET', target: '/containers/zqa%2Fb/json', category: 'routed', label: 'no such container', name: 'zqa/b' },
  { method: 'GET', target: '/containers/zqa%252Fb/json', category: 'routed', label: 'no such container', name: 'zqa%2Fb' },
  { method: 'GET', target: '/containers/zqa#b/json', category: 'routed', label: 'no such container', name: 'zqa#b' },
  { method: 'GET', target: '/containers/zqx/logs/json', category: 'routed', label: 'no such container', name: 'zqx/logs' },
  { method: 'POST', target: '/containers/zqone/kill', category: 'routed', label: 'kill: no such container', name: 'zqone' },
  { method: 'POST', target: '/containers/zqone/attach', category: 'routed', label: 'attach: hijacked answer', name: 'zqone' },
  { method: 'GET', target: '/exec/zqone/json', category: 'routed', label: 'no such exec instance', name: 'zqone' },
  { method: 'GET', target: '/images/zqone/json', category: 'routed', label: 'image inspect: no such image', name: 'zqone' },
  { method: 'GET', target: '/images/zqone/history', category: 'routed', label: 'no such image', name: 'zqone:latest' },
  { method: 'GET', target: '/volumes/zqone', category: 'routed', label: 'no such volume', name: 'zqone' },
  { method: 'GET', target: '/networks/zqone', category: 'routed', label: 'network not found', name: 'zqone' },
  { method: 'GET', target: '/plugins/zqone/json', category: 'routed', label: 'plugin not found', name: 'zqone' },
  { method: 'DELETE', target: '/containers/zqa/checkpoints/zqb', category: 'routed', label: 'experimental (checkpoints)' },
  { method: 'GET', target: '/containers/zqone/logs', category: 'routed', label: 'logs' },
  { method: 'POST', target: '/debug/pprof/zqone', category: 'routed', label: 'pprof unknown profile' },
  { method: 'CONNECT', target: '/debug/pprof/zqone', category: 'routed', label: 'pprof unknown profile' },
]

t.test('oracle calibration: dockerd answers as the oracle expects', async (t) => {
  for (const e of CALIBRATION) {
    t.ok(safety(e.method, e.target).ok, `${e.method} ${e.target} is safe to send`)
    const answer = await ask(e.method, e.target)
    const category = categorize(answer)
    const ev = evidence(answer)
    const shown = `${e.method} ${e.target} -> ${answer.status} ${JSON.stringify(answer.message.slice(0, 100))}`
    t.equal(category, e.category, `${shown}: ${e.category}`)
    if (e.label !== undefined) t.equal(ev?.label, e.label, `${shown}: evidence ${e.label}`)
    if (e.name !== undefined) t.equal(ev?.name, e.name, `${shown}: dockerd parsed the name ${JSON.stringify(e.name)}`)
  }
})

// Targets from the issue and from known proxy bypasses, always checked whatever the seed.
const CATALOGUE: [string, string][] = [
  ['GET', '/%73ecrets'], ['GET', '/v1.41/%73ecrets'], ['GET', '/containers/zqa%252Fb/json'], ['GET', '/containers/zqa%2Fb/json'],
  ['GET', '/containers/zqx/logs/json'], ['POST', '/containers/zqweb/restart/exec'], ['POST', '/containers/zqweb/start/kill'],
  ['DELETE', '/containers/zqa/checkpoints/zqb'], ['DELETE', '/containers/zqa/zqb/checkpoints/zqc'], ['GET', '/v1.41.0/info'],
  ['GET', '/v01.041/info'], ['GET', '/v1..41/info'], ['GET', '/V1.41/info'], ['GET', '/v/info'], ['GET', '/%761.41/info'],
  ['GET', '/v1.41./info'], ['GET', '/v1.41%2Finfo'], ['GET', 'http://docker/v1.41/secrets'], ['GET', 'http://docker/v1.41/info'],
  ['GET', 'HTTP://DOCKER/info'], ['GET', 'http:/info'], ['GET', 'http:///info'], ['GET', 'http://u@docker/info'],
  ['GET', 'http://do%25cker/info'], ['GET', 'http://caf\xe9/info'], ['GET', 'http://a<b>/info'], ['GET', 'http://u%40x@docker/info'],
  ['GET', '/containers/zqa#b/json'], ['GET', '/containers/zqa;b/json'], ['GET', '/containers/zqa+b/json'],
  ['GET', '/containers/create#/zqm/json'], ['GET', '/containers/zqa%23/json'], ['GET', '/containers/zqa%3F/json'],
  ['HEAD', '/_ping'], ['HEAD', '/info'], ['HEAD', '/containers/zqa/archive'], ['OPTIONS', '/zq'], ['OPTIONS', '*'],
  ['OPTIONS', '/v1.41/containers/create'], ['GET', '/debug/vars'], ['POST', '/debug/pprof/zqp'], ['CONNECT', '/debug/vars'],
  ['GET', '/v1.41/debug/vars'], ['GET', '/info?x'], ['GET', '/info#x'], ['GET', '/info/'], ['GET', '//info'], ['GET', '/./info'],
  ['GET', '/%2e/info'], ['GET', '/info/..'], ['get', '/info'], ['Get', '/info'], ['GET', '/containers/json'],
  ['GET', '/containers//json'], ['GET', '/images/zq/x/json'], ['GET', '/networks/'], ['GET', '/networks'],
  ['GET', '/images/zqa%2Fb/get'], ['GET', '/exec/zqa/b/json'], ['POST', '/exec/zqa/json/start'], ['GET', '/plugins/zqa/b/json'],
  ['GET', '/services/zqa%2Fb'], ['GET', '/containers/zqa%0Ab/json'], ['GET', '/services/zqa%0Ab'], ['GET', '/containers/zq%00/json'],
  ['GET', '/containers/zq\xe9/json'], ['GET', '/containers/zq%C3%A9/json'], ['GET', '/containers/zq%FF/json'],
  ['POST', '/containers/zq%0D/attach'], ['GET', '/v1.12/containers/zqa/json'], ['GET', '/v1.11/containers/zqa/json'],
  ['DELETE', '/volumes/zqa/zqb'], ['DELETE', '/networks/zqa/zqb'], ['GET', '/volumes/zqa%23b'], ['DELETE', '/images/zqa%23b'],
  ['PUT', '/volumes/zqa'], ['PUT', '/containers/zqa/archive'], ['HEAD', '/containers/zqa/logs'], ['PATCH', '/containers/zqa/json'],
]

t.test('catalogue of known tricks', async (t) => {
  const list: Case[] = CATALOGUE.map(([method, target], index) => ({ index, method, target, origin: 'catalogue' }))
  for (const c of list) t.ok(safety(c.method, c.target).ok, `${c.method} ${JSON.stringify(c.target)} is safe to send`)
  const outcomes = await Promise.all(list.map((c) => runCase(c)))
  for (const o of outcomes) {
    if (o.judgement.failure) {
      t.comment(describe(o))
      t.fail(`${o.c.method} ${JSON.stringify(o.c.target)}: ${o.judgement.failure}`)
    } else t.pass(`${o.c.method} ${JSON.stringify(o.c.target)}: dockerd ${o.judgement.category}${o.judgement.evidence ? ` (${o.judgement.evidence.label})` : ''}, dockmoat ${o.view.kind === 'route' ? o.view.route.template : o.view.kind}`)
  }
})

t.test(`seed ${SEED}: ${COUNT} generated targets agree with dockerd`, async (t) => {
  const started = Date.now()
  const stats = await runAll(cases(SEED, COUNT), { concurrency: CONCURRENCY, keep: 100 })
  t.comment(summary(stats))
  t.equal(stats.total, COUNT, `all ${COUNT} cases were judged`)
  const routed = [...stats.buckets.entries()].filter(([b]) => b.startsWith('routed')).reduce((n, [, c]) => n + c, 0)
  t.ok(routed >= COUNT / 10, `at least a tenth of the cases reach a route in dockerd (${routed})`)
  t.ok(stats.confirmed >= COUNT / 20, `dockerd's answer named the route or object for enough cases (${stats.confirmed})`)
  if (stats.failureCount > 0) {
    // One line per kind of disagreement, and up to three full examples of each.
    const examples = new Map(groupFailures(stats.failures))
    for (const [key, { count }] of [...stats.groups.entries()].sort((a, b) => b[1].count - a[1].count)) {
      for (const o of (examples.get(key) ?? []).slice(0, 3)) t.comment(describe(o, SEED))
      t.fail(`${count} x ${key}`)
    }
    t.fail(`${stats.failureCount} of ${COUNT} targets are run by dockerd but classified otherwise by dockmoat (seed ${SEED}; replay one with node test/conformance/fuzz.ts --seed ${SEED} --start N --count 1)`)
  }
  t.ok(Date.now() - started < 120_000, `finished in ${((Date.now() - started) / 1000).toFixed(1)} s`)
})

t.test(`seed ${SEED}: through a running dockmoat (every grant on), dockerd runs what it would run for the target itself`, async (t) => {
  const proxy = await startProxy(Object.fromEntries(TOGGLES.map((toggle) => [toggle.name, '1'])))
  t.teardown(() => proxy.stop())
  const outcomes: ProxyOutcome[] = []
  const queue = [...cases(SEED, END_TO_END)]
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let c = queue.shift(); c !== undefined; c = queue.shift()) outcomes.push(await runThroughProxy(c, proxy.port))
  }))
  const count = (kind: ProxyOutcome['kind']): number => outcomes.filter((o) => o.kind === kind).length
  t.comment(`${END_TO_END} cases: ${count('forwarded')} forwarded and answered by dockerd, ${count('refused')} refused, ${count('refused-but-dockerd-runs-it')} refused although dockerd would run them (fail-closed: Node's parser or dockmoat's classifier)`)
  t.ok(count('forwarded') >= END_TO_END / 10, 'enough cases reach dockerd through dockmoat')
  const failures = outcomes.filter((o) => o.failure !== undefined)
  for (const o of failures.slice(0, 20)) t.fail(describeProxied(o, SEED))
  t.equal(failures.length, 0, 'dockerd never runs, through dockmoat, anything other than what the target itself names')
})

t.test('the generator is deterministic and every case is safe', async (t) => {
  const a = caseAt(SEED, 1234)
  const b = caseAt(SEED, 1234)
  t.same(a, b, 'case #1234 is the same on every call')
  t.not(caseAt(SEED, 1235).target + caseAt(SEED, 1236).target, a.target + a.target, 'cases differ')
  let unsafe = 0
  for (const c of cases(SEED + 1, 5000)) if (!safety(c.method, c.target).ok) unsafe++
  t.equal(unsafe, 0, 'no generated case fails the safety check')
  const methods = new Set([...cases(SEED, 2000)].map((c) => c.method))
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'DELETE', 'PATCH', 'CONNECT', 'get']) t.ok(methods.has(m), `method ${m} is generated`)
  const targets = [...cases(SEED, 3000)].map((c) => c.target)
  const seen = (re: RegExp): boolean => targets.some((x) => re.test(x))
  for (const [what, re] of [
    ['version /v1.41.0', /\/v1\.41\.0\//], ['version /v01.041', /\/v01\.041/], ['version /V1.41', /\/V1\.41/],
    ['encoded %76', /%76/], ['%2F', /%2F/i], ['%252F', /%252F/i], ['dot segment', /\/\.\.?(\/|$)/], ['encoded dot', /%2e/i],
    ['double slash', /[^:]\/\//], ['absolute form', /^[a-z0-9+.-]+:\/\//i], ['query', /\?/], ['fragment', /#/], ['semicolon', /;/],
    ['plus', /\+/], ['64-hex id', /[0-9a-f]{64}/],
  ] as const) t.ok(seen(re), `targets include ${what}`)
})
