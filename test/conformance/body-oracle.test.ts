// The body oracle on a fixed seed: container create, exec and volume bodies written the
// ways Go's encoding/json reads and JSON.parse does not (body-generator.ts) are sent to
// the REAL dockerd, and what dockerd applied is compared, field by field, with what
// dockmoat's body guard decoded (body-oracle.ts). A subset goes through a running
// dockmoat too, framed in several ways, and must be applied exactly as sent directly.
// Long runs with random seeds: `npm run fuzz -- --bodies --minutes 5`.
import t from 'tap'
import { requireDocker } from '../helpers/docker.ts'
import { dockerd } from '../adversarial/raw.ts'
import { startProxy } from '../helpers/proxy.ts'
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../../src/guard/inspect.ts'
import type { GoObject, GoValue } from '../../src/guard/go-decode.ts'
import { HOST_FIELDS, bodyCaseAt, bodyCases, type BodyCase, type BodyKind, type BodyNames } from './body-generator.ts'
import {
  BodyOracle, FRAMINGS, bodySummary, describeBody, describeProxied, runBodies, runThroughProxy,
  type BodyOutcome, type OutcomeKind, type ProxyOutcome, type View,
} from './body-oracle.ts'

/** The CI seed. Change it only together with a look at what the new seed covers. */
const SEED = 20261201
const COUNT = 6000
const CONCURRENCY = 4
/** How many of the seed's cases also go through a running dockmoat (spread over the framings). */
const THROUGH_PROXY = 600

await requireDocker()
const started = Date.now()
// dockerd 20.10 makes a body's anonymous volumes before it may refuse the create, and
// rm -v leaves those of --mount-style volumes: what appears during the run, unnamed and
// unused, is this run's (a volume in use cannot be removed without force).
const volumesBefore = new Set(await anonymousVolumes())
const oracle = await BodyOracle.open()
t.teardown(async () => {
  await oracle.close()
  for (const name of await anonymousVolumes()) {
    if (!volumesBefore.has(name)) await dockerd('DELETE', `/v1.41/volumes/${name}`).catch(() => undefined)
  }
})

async function anonymousVolumes(): Promise<string[]> {
  const listed = await dockerd('GET', '/v1.41/volumes')
  const volumes = (listed.json as { Volumes?: { Name: string; Labels?: Record<string, string> | null }[] | null }).Volumes ?? []
  return volumes.filter((v) => /^[0-9a-f]{64}$/.test(v.Name) && Object.keys(v.Labels ?? {}).length === 0).map((v) => v.Name)
}
const names = oracle.names

t.test('calibration: dockerd\'s defaults are the ones the guard assumes', async (t) => {
  const cal = oracle.calibration
  t.ok(['private', 'shareable'].includes(cal.ipcMode), `an empty IpcMode becomes ${JSON.stringify(cal.ipcMode)}`)
  t.ok(['private', 'host'].includes(cal.cgroupnsMode), `an empty CgroupnsMode becomes ${JSON.stringify(cal.cgroupnsMode)}`)
  t.same(cal.maskedPaths, DEFAULT_MASKED_PATHS, 'null MaskedPaths become the guard\'s DEFAULT_MASKED_PATHS')
  t.same(cal.readonlyPaths, DEFAULT_READONLY_PATHS, 'null ReadonlyPaths become the guard\'s DEFAULT_READONLY_PATHS')
  t.same(cal.labelDisable, ['label=disable'], 'dockerd adds label=disable to a privileged container\'s SecurityOpt')
})

// Facts of body-facts.md §1 and §4, each with what dockerd must be seen to apply: they
// check the oracle's reading of dockerd as much as the guard.
interface Fact {
  what: string
  kind: BodyKind
  body: (n: BodyNames, name: string) => string
  outcome: OutcomeKind
  /** Fields of dockerd's view (body-oracle.ts) and the values dockerd must show. */
  applied?: View
}
const image = (n: BodyNames): string => JSON.stringify(n.image)
const FACTS: Fact[] = [
  { what: 'top-level HostConfig fields without a HostConfig key', kind: 'create', body: (n) => `{"Image":${image(n)},"Privileged":true,"Binds":["/:/host"]}`, outcome: 'agreed', applied: { Privileged: true, Binds: ['/:/host'] } },
  { what: 'the last of two casings wins', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"Privileged":false,"privileged":true}}`, outcome: 'agreed', applied: { Privileged: true } },
  { what: 'long s (U+017F) folds onto s', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"Bind\\u017F":["/tmp:/x"]}}`, outcome: 'agreed', applied: { Binds: ['/tmp:/x'] } },
  { what: 'Kelvin sign (U+212A) folds onto k', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"Networ\\u212AMode":"host"}}`, outcome: 'agreed', applied: { NetworkMode: 'host' } },
  { what: 'long s in the HostConfig key itself', kind: 'create', body: (n) => `{"Image":${image(n)},"Ho\u017ftConfig":{"Privileged":true}}`, outcome: 'agreed', applied: { Privileged: true } },
  { what: 'an escaped key is unescaped before it is matched', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"\\u0050rivileged":true}}`, outcome: 'agreed', applied: { Privileged: true } },
  { what: 'dotless i (U+0131) does not fold onto i', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"Pr\u0131vileged":true}}`, outcome: 'agreed', applied: { Privileged: false } },
  { what: 'null on a bool is a no-op', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"Privileged":true,"privileged":null}}`, outcome: 'agreed', applied: { Privileged: true } },
  { what: 'null on a slice clears it', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"Binds":["/tmp:/x"],"binds":null}}`, outcome: 'agreed', applied: { Binds: [] } },
  { what: 'HostConfig null between two HostConfigs drops the first', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"Privileged":true},"HostConfig":null,"HostConfig":{"Binds":["/tmp:/x"]}}`, outcome: 'agreed', applied: { Privileged: false, Binds: ['/tmp:/x'] } },
  { what: 'HostConfig null: the top level is used', kind: 'create', body: (n) => `{"Image":${image(n)},"privileged":true,"HostConfig":null}`, outcome: 'agreed', applied: { Privileged: true } },
  { what: 'a HostConfig object wins over the top level whole', kind: 'create', body: (n) => `{"Image":${image(n)},"Privileged":true,"HostConfig":{}}`, outcome: 'agreed', applied: { Privileged: false } },
  { what: 'two HostConfig objects merge', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"Privileged":true},"hostconfig":{"Binds":["/tmp:/x"]}}`, outcome: 'agreed', applied: { Privileged: true, Binds: ['/tmp:/x'] } },
  {
    what: 'a shorter Binds array hides the tail, a null element keeps it', kind: 'create',
    body: (n) => `{"Image":${image(n)},"HostConfig":{"Binds":["/tmp:/a","/tmp:/b","/tmp:/c"],"binds":["/tmp:/d"],"BINDS":["/tmp:/e",null]}}`,
    outcome: 'agreed', applied: { Binds: ['/tmp:/e', '/tmp:/b'] },
  },
  {
    what: 'a second Mounts array merges into the first one\'s elements, Options maps too', kind: 'create',
    body: (n) => `{"Image":${image(n)},"HostConfig":{"Mounts":[{"Type":"volume","Target":"/a","VolumeOptions":{"DriverConfig":{"Options":{"type":"tmpfs"}}}}],"mounts":[{"VolumeOptions":{"DriverConfig":{"Options":{"device":"tmpfs"}}}}]}}`,
    outcome: 'agreed', applied: { Mounts: [{ Type: 'volume', Source: '', Target: '/a', Propagation: '', Driver: '', Options: { device: 'tmpfs', type: 'tmpfs' } }] },
  },
  {
    what: 'a hidden Mounts element comes back', kind: 'create',
    body: (n) => `{"Image":${image(n)},"HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/a"},{"Type":"tmpfs","Target":"/b"}],"Mounts":[{"Type":"tmpfs","Target":"/c"}],"Mounts":[{},{}]}}`,
    outcome: 'agreed', applied: { Mounts: [{ Type: 'tmpfs', Source: '', Target: '/c', Propagation: '', Driver: '', Options: {} }, { Type: 'tmpfs', Source: '', Target: '/b', Propagation: '', Driver: '', Options: {} }] },
  },
  { what: 'CapAdd takes one string (strslice)', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"CapAdd":"NET_ADMIN"}}`, outcome: 'agreed', applied: { CapAdd: ['NET_ADMIN'] } },
  { what: 'container:<name> is stored as the id', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"PidMode":"container:${n.helper}"}}`, outcome: 'agreed', applied: { PidMode: `container:${names.helperId}` } },
  { what: 'MaskedPaths [] stays empty (no defaults)', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"MaskedPaths":[]}}`, outcome: 'agreed', applied: { MaskedPaths: [] } },
  { what: 'the EndpointsConfig key names the network', kind: 'create', body: (n) => `{"Image":${image(n)},"NetworkingConfig":{"EndpointsConfig":{"host":{}}}}`, outcome: 'agreed', applied: { Networks: ['host'] } },
  { what: 'Privileged "true" is a type error', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"Privileged":"true"}}`, outcome: 'both-refused' },
  { what: 'a type error is not undone by a later valid value', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":{"Privileged":1,"privileged":true}}`, outcome: 'both-refused' },
  { what: 'HostConfig must be an object', kind: 'create', body: (n) => `{"Image":${image(n)},"HostConfig":"x"}`, outcome: 'both-refused' },
  { what: 'a trailing comma is a syntax error', kind: 'create', body: (n) => `{"Image":${image(n)},}`, outcome: 'both-refused' },
  { what: 'exec: null after true keeps it privileged', kind: 'exec', body: () => '{"Cmd":["true"],"Privileged":true,"privileged":null}', outcome: 'agreed', applied: { Privileged: true } },
  { what: 'exec: a lookalike key is not Privileged', kind: 'exec', body: () => '{"Cmd":["true"],"Pr\u0131vileged":true,"User":"0"}', outcome: 'agreed', applied: { Privileged: false, User: '0' } },
  { what: 'exec: Privileged "true" is a type error', kind: 'exec', body: () => '{"Cmd":["true"],"Privileged":"true"}', outcome: 'both-refused' },
  { what: 'volume: DriverOpts maps merge', kind: 'volume', body: (_n, name) => `{"Name":"${name}","DriverOpts":{"type":"tmpfs","device":"tmpfs"},"driveropts":{"o":"size=1m"}}`, outcome: 'agreed', applied: { Options: { device: 'tmpfs', o: 'size=1m', type: 'tmpfs' } } },
  { what: 'volume: null between DriverOpts maps drops the first', kind: 'volume', body: (_n, name) => `{"Name":"${name}","DriverOpts":{"type":"none","device":"/","o":"bind"},"DriverOpts":null,"DriverOpts":{"type":"tmpfs","device":"tmpfs"}}`, outcome: 'agreed', applied: { Options: { device: 'tmpfs', type: 'tmpfs' } } },
  { what: 'volume: a null body creates an anonymous volume', kind: 'volume', body: () => 'null', outcome: 'agreed', applied: { Name: '(anonymous)', Driver: 'local' } },
  { what: 'create: an array is not an object', kind: 'create', body: () => '[]', outcome: 'both-refused' },
  { what: 'volume: the last Name wins', kind: 'volume', body: (_n, name) => `{"Name":"${name}-first","name":"${name}"}`, outcome: 'agreed', applied: { Name: 'NAME' } },
]

function factCase(fact: Fact, i: number): BodyCase {
  const name = `${names.prefix}f${i}`
  return { index: 1_000_000 + i, kind: fact.kind, body: fact.body(names, name), tricks: ['fact'], name: fact.kind === 'create' ? name : '', volumes: fact.kind === 'volume' ? [name, `${name}-first`] : [] }
}

t.test('facts of body-facts.md: dockerd applies what they say, and the guard agrees', async (t) => {
  for (const [i, fact] of FACTS.entries()) {
    const c = factCase(fact, i)
    const o = await oracle.run(c)
    if (o.kind === 'disagreement') t.comment(describeBody(o))
    t.equal(o.kind, fact.outcome, `${fact.what}: ${fact.outcome}`)
    for (const [field, value] of Object.entries(fact.applied ?? {})) {
      t.same(o.applied?.[field], field === 'Name' && value === 'NAME' ? c.volumes[0] : value, `${fact.what}: dockerd shows ${field} ${JSON.stringify(value === 'NAME' ? c.volumes[0] : value)}`)
    }
  }
})

// The comparison is not vacuous: the guard's decoded value, changed in one judged field,
// must be a disagreement against what dockerd applied.
t.test('the oracle catches a guard that decodes one field otherwise', async (t) => {
  type Mutation = [string, (v: GoObject) => void]
  const host = (v: GoObject): GoObject => v.HostConfig as GoObject
  const checks: { kind: BodyKind; body: string; volume?: string; mutations: Mutation[] }[] = [
    {
      kind: 'create',
      body: `{"Image":${image(names)},"HostConfig":{"Privileged":true,"Binds":["/tmp:/x"],"CapAdd":["NET_ADMIN"],"PidMode":"host","MaskedPaths":[],"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/n"}],"Mounts":[{"Type":"volume","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"tmpfs","device":"tmpfs"}}}}]},"NetworkingConfig":{"EndpointsConfig":{"host":{}}}}`,
      mutations: [
        ['Privileged', (v) => { host(v).Privileged = false }],
        ['Binds', (v) => { host(v).Binds = ['/etc:/x'] }],
        ['CapAdd', (v) => { host(v).CapAdd = [] }],
        ['PidMode', (v) => { host(v).PidMode = '' }],
        ['MaskedPaths', (v) => { host(v).MaskedPaths = null }],
        ['Devices', (v) => { host(v).Devices = [] }],
        ['Mounts options', (v) => { ((((host(v).Mounts as GoObject[])[0]!.VolumeOptions as GoObject).DriverConfig as GoObject).Options as Map<string, GoValue>).delete('type') }],
        ['EndpointsConfig', (v) => { (v.NetworkingConfig as GoObject).EndpointsConfig = new Map([['bridge', {}]]) }],
        ['which HostConfig', (v) => { v.TopHostConfig = host(v); v.HostConfig = {} }],
      ],
    },
    { kind: 'exec', body: '{"Cmd":["true"],"Privileged":true,"User":"0"}', mutations: [['Privileged', (v) => { v.Privileged = false }], ['User', (v) => { v.User = '' }]] },
    { kind: 'volume', body: `{"Name":"${names.prefix}m0","DriverOpts":{"type":"tmpfs","device":"tmpfs"}}`, volume: `${names.prefix}m0`, mutations: [['DriverOpts', (v) => { (v.DriverOpts as Map<string, GoValue>).set('o', 'bind') }], ['Name', (v) => { v.Name = '' }]] },
  ]
  for (const [i, check] of checks.entries()) {
    const c: BodyCase = { index: 5_000_000 + i, kind: check.kind, body: check.body, tricks: ['mutation'], name: check.kind === 'create' ? `${names.prefix}m${i}` : '', volumes: check.volume ? [check.volume] : [] }
    const o = await oracle.run(c)
    t.equal(o.kind, 'agreed', `${check.kind}: the unchanged guard agrees with dockerd`)
    for (const [what, mutate] of check.mutations) {
      const value = structuredClone(o.guard.value!)
      mutate(value)
      const j = oracle.judge(c, { value }, o.status, o.message, { view: o.applied!, leftovers: [] })
      t.equal(j.kind, 'disagreement', `${check.kind}: a guard that decodes ${what} otherwise disagrees (${j.failure?.slice(0, 120) ?? 'no failure'})`)
    }
  }
})

// Where dockerd accepts what the guard refuses to read: the guard must stay on the safe
// side (refuse), or else read it exactly as dockerd did.
const STRICTER: { what: string; body: (n: BodyNames) => string }[] = [
  { what: 'trailing data after the value (20.10 ignores it)', body: (n) => `{"Image":${image(n)}} {"HostConfig":{"Privileged":true}}` },
  { what: 'closing brackets after the value (Decoder.More() is false)', body: (n) => `{"Image":${image(n)}}}}]` },
  { what: 'a lone surrogate escape (Go reads U+FFFD)', body: (n) => `{"Image":${image(n)},"Labels":{"x":"\\ud800"}}` },
]

t.test('bodies dockerd reads and the guard refuses to: the guard stays on the safe side', async (t) => {
  for (const [i, s] of STRICTER.entries()) {
    const name = `${names.prefix}s${i}`
    const o = await oracle.run({ index: 2_000_000 + i, kind: 'create', body: s.body(names), tricks: ['stricter'], name, volumes: [] })
    t.comment(`${s.what}: dockerd ${o.status}, guard ${o.guard.problem === undefined ? 'decodes it' : `refuses (${o.guard.problem})`}`)
    t.ok(o.guard.problem !== undefined || o.kind === 'agreed', `${s.what}: the guard refuses it, or decodes what dockerd applied`)
  }
})

// Nesting: Go's scanner takes up to 10,000 levels (then "exceeded max depth"); the guard
// must answer each body, decoding or refusing it, and never throw.
const DEPTHS = [1000, 2000, 2500, 3000, 3250, 3500, 3750, 4000, 4250, 4500, 4750, 5000, 5500, 6000, 9000, 10_001]
const nested = (n: BodyNames, depth: number, object: boolean): string =>
  `{"Image":${image(n)},"Dmo":${object ? '{"a":'.repeat(depth) : '['.repeat(depth)}${object ? `1${'}'.repeat(depth)}` : ']'.repeat(depth)}}`

t.test('deeply nested bodies: the guard decodes or refuses each, never throws', async (t) => {
  for (const [i, depth] of DEPTHS.entries()) {
    for (const object of [false, true]) {
      const name = `${names.prefix}n${i}${object ? 'o' : 'a'}`
      const o = await oracle.run({ index: 3_000_000 + i, kind: 'create', body: nested(names, depth, object), tricks: ['nested'], name, volumes: [] })
      const shown = `${object ? 'objects' : 'arrays'} ${depth} deep (dockerd ${o.status}${o.status >= 400 ? ` ${o.message}` : ''})`
      if (o.failure !== undefined && o.guard.problem?.startsWith('threw') === true) t.fail(`${shown}: ${o.failure}; body: {"Image":…,"Dmo":${object ? '{"a":' : '['}×${depth}…}`)
      else t.ok(o.kind === 'agreed' || o.kind === 'both-refused' || (o.guard.problem !== undefined && o.status < 400), `${shown}: the guard ${o.guard.problem === undefined ? 'decodes it as dockerd does' : `refuses it (${o.guard.problem.slice(0, 80)})`}`)
    }
  }
})

t.test(`seed ${SEED}: ${COUNT} generated bodies, dockerd applies what the guard decodes`, async (t) => {
  const stats = await runBodies(oracle, bodyCases(SEED, COUNT, names), { concurrency: CONCURRENCY, keep: 50 })
  t.comment(bodySummary(stats))
  t.equal(stats.total, COUNT, `all ${COUNT} bodies were judged`)
  for (const o of stats.disagreements.slice(0, 20)) t.fail(describeBody(o, SEED))
  t.equal(stats.disagreementCount, 0, `no disagreement between dockerd and the guard (seed ${SEED})`)
  const k = stats.byKind
  const decoded = k.agreed + k['refused-other']
  t.ok(k['refused-other'] < decoded / 8, `dockerd refuses only a minority of the bodies the guard decodes for reasons of its own (${k['refused-other']} of ${decoded})`)
  t.ok(k.agreed >= COUNT * 0.6, `most bodies are created by dockerd and compared field by field (${k.agreed})`)
  t.ok(k['both-refused'] >= COUNT / 40, `type mismatches and syntax errors are refused by both (${k['both-refused']})`)
  t.ok(stats.goSemantics >= COUNT / 10, `in many created bodies Go's rules, not JSON.parse's, decided what dockerd applied (${stats.goSemantics})`)
  t.ok(stats.escalated >= COUNT / 5, `many created bodies escalate, each refused by the guard with no grant (${stats.escalated})`)
  for (const kind of ['create', 'exec', 'volume'] as const) t.ok(stats.byBodyKind[kind].agreed >= COUNT / 20, `${kind} bodies were created and compared (${stats.byBodyKind[kind].agreed})`)
  // Each trick must have reached dockerd and been applied as the guard read it.
  for (const trick of [
    'escaped-key', 'long-s', 'kelvin', 'key-case', 'lookalike', 'dotless-i', 'duplicate-field', 'null-after-value', 'null-before-value',
    'scenario:top', 'scenario:top+inner', 'scenario:top+null', 'scenario:inner-null-inner', 'scenario:inner-merge', 'scenario:inner-then-null',
    'scenario:decoy-hostconfig', 'scenario:nested-hostconfig', 'binds-backing', 'mounts-backing', 'devices-backing', 'securityopt-backing',
    'null-element', 'mount-null-pointer', 'mount-null-field', 'options-merge', 'driveropts-merge', 'driveropts-null-between', 'driveropts-duplicate-key',
    'endpoints', 'endpoints-merge', 'endpoints-null-between', 'endpoints-duplicate-key', 'networkingconfig-merge', 'strslice-string',
    'prototype-key', 'trailing-whitespace', 'leading-whitespace', 'anonymous-volume',
    ...Object.keys(HOST_FIELDS).map((field) => `field:${field}`),
  ]) {
    const n = stats.tricksAgreed.get(trick) ?? 0
    t.ok(n >= 5, `trick ${trick}: ${n} bodies created by dockerd as the guard decoded them`)
  }
  t.comment(`${((Date.now() - started) / 1000).toFixed(1)} s since the oracle opened`)
})

t.test(`seed ${SEED}: through a running dockmoat (every grant), dockerd applies what it applies to the body sent directly`, async (t) => {
  const proxy = await startProxy({
    CONTAINERS: '1', POST: '1', EXEC: '1', VOLUMES: '1', ALLOW_PRIVILEGED: '1', ALLOW_HOST_NAMESPACES: '1', ALLOW_DEVICES: '1',
    ALLOW_UNCONFINED: '1', ALLOW_BIND: '/', ALLOW_CAPS: 'ALL',
  })
  t.teardown(() => proxy.stop())
  const outcomes: ProxyOutcome[] = []
  const directs: BodyOutcome[] = []
  const queue = Array.from({ length: THROUGH_PROXY }, (_, i) => i)
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      const c = bodyCaseAt(SEED, i, names)
      // The direct send first (judged as in the seed run), then the same body through dockmoat.
      const direct = await oracle.run(c)
      directs.push(direct)
      outcomes.push(await runThroughProxy(oracle, c, proxy.port, FRAMINGS[i % FRAMINGS.length]!, direct, SEED))
    }
  }))
  for (const o of directs.filter((d) => d.kind === 'disagreement').slice(0, 5)) t.fail(describeBody(o, SEED))
  const failures = outcomes.filter((o) => o.failure !== undefined)
  for (const o of failures.slice(0, 20)) t.fail(describeProxied(o, SEED))
  t.equal(failures.length, 0, `every body through dockmoat was applied as sent directly, or refused by dockmoat exactly when its guard cannot decode it (${THROUGH_PROXY} bodies)`)
  for (const framing of FRAMINGS) {
    const mine = outcomes.filter((o) => o.framing === framing)
    const created = mine.filter((o) => o.fromDockerd && o.status < 400).length
    const refused = mine.filter((o) => !o.fromDockerd).length
    t.ok(created >= mine.length / 2, `${framing}: ${created} of ${mine.length} bodies created through dockmoat and compared, ${refused} refused by dockmoat (the guard cannot decode them)`)
  }
  t.ok(outcomes.some((o) => !o.fromDockerd && o.status === 400), 'some bodies were refused by dockmoat itself, and dockerd created nothing for them')
  // A body nested deeper than the guard's parser recurses must still get an answer.
  for (const depth of [2500, 3000, 3500, 4000]) {
    const name = `${names.prefix}pn${depth}`
    const c: BodyCase = { index: 4_000_000 + depth, kind: 'create', body: nested(names, depth, false), tricks: ['nested'], name, volumes: [] }
    const direct = await oracle.run(c)
    const o = await runThroughProxy(oracle, c, proxy.port, 'content-length', direct, SEED)
    t.ok(o.status !== 0, `arrays ${depth} deep: dockmoat answers (${o.status === 0 ? 'no answer: the connection was left open' : `${o.status}${o.fromDockerd ? ' from dockerd' : ' from dockmoat'}`}; dockerd directly ${direct.status})`)
  }
  t.ok(directs.filter((d) => d.escalations !== undefined).length >= THROUGH_PROXY / 5, 'many of the forwarded bodies escalate (the grants let them through)')
})

t.test('the generator is deterministic and writes what Go reads and JSON.parse does not', async (t) => {
  t.same(bodyCaseAt(SEED, 1234, names), bodyCaseAt(SEED, 1234, names), 'case #1234 is the same on every call')
  t.not(bodyCaseAt(SEED, 1235, names).body, bodyCaseAt(SEED, 1236, names).body, 'cases differ')
  const other: BodyNames = { ...names, prefix: 'dm-oracle-x-' }
  t.equal(bodyCaseAt(SEED, 77, other).tricks.join(), bodyCaseAt(SEED, 77, names).tricks.join(), 'the names change the names only')
  const bodies = [...bodyCases(SEED, 2000, names)]
  const seen = (re: RegExp): number => bodies.filter((c) => re.test(c.body)).length
  for (const [what, re] of [
    ['\\u escapes in keys', /"[^"]*\\u00[0-9a-f]{2}[^"]*"\s*:/i], ['long s', /\u017f|\\u017f/i], ['Kelvin sign', /\u212a|\\u212a/i], ['dotless i', /\u0131|\\u0131/i],
    ['"HostConfig":null', /"HostConfig"\s*:\s*null/], ['a string for a bool', /:\s*"true"/], ['CR LF', /\r\n/], ['a raw tab', /\t/],
    ['a fullwidth letter', /[\uff21-\uff5a]/], ['a zero-width space', /\u200b/],
  ] as const) t.ok(seen(re) >= 3, `${what} appears in ${seen(re)} bodies`)
  const kinds = new Map<BodyKind, number>()
  for (const c of bodies) kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1)
  for (const kind of ['create', 'exec', 'volume'] as const) t.ok((kinds.get(kind) ?? 0) >= 200, `${kind} bodies: ${kinds.get(kind) ?? 0}`)
  t.ok(bodies.every((c) => c.volumes.every((v) => v.startsWith(names.prefix))), 'every volume a body may create carries the run prefix')
  t.ok(bodies.filter((c) => c.kind === 'create').every((c) => c.name.startsWith(names.prefix)), 'every container carries the run prefix')
})
