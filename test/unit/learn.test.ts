// MODE=audit's decisions (policy.ts) and `dockmoat learn` (learn.ts) as pure functions:
// what audit forwards and what it still refuses, and that the learned configuration
// allows every call seen, is the least one, and never names a grant nobody used.
import t from 'tap'
import { decide, decideBody, decideRequest, type Decision } from '../../src/policy.ts'
import { learn, readLog, renderLearned, type Suggestion } from '../../src/learn.ts'
import { matchRoute, ROUTES, type Route } from '../../src/routes.ts'
import { parseConfig, TOGGLES } from '../../src/settings.ts'
import { parsePolicy, PolicyError } from '../../src/policy-file.ts'
import { profileConfig, selectProfile } from '../../src/profiles.ts'

const audit = (env: Record<string, string> = {}) => parseConfig({ MODE: 'audit', ...env })

function judged(method: string, path: string, body: string | undefined, config: ReturnType<typeof parseConfig>): Decision {
  const decision = decideRequest(method, path, 'application/json', config)
  if (!decision.allow || decision.readBody !== true) return decision
  return decideBody(method, path, decision, Buffer.from(body ?? ''), config)
}

t.test('audit forwards what only a grant refuses, and keeps the refusal to report', async (t) => {
  const stop = decideRequest('POST', '/v1.41/containers/web/stop', undefined, audit({ CONTAINERS: '1' }))
  t.ok(stop.allow, 'a stop without POST=1 is forwarded')
  if (stop.allow) {
    t.equal(stop.forward, '/v1.41/containers/web/stop', 'to the same target')
    t.match(stop.wouldRefuse?.reason, /set POST=1 \(CONTAINERS=1 already set\), or ALLOW_STOP=1, or ALLOW_RESTARTS=1/, 'the refusal enforcing would give')
    t.same(stop.wouldRefuse?.variables, ['POST'], 'the variables it names')
  }
  const granted = decideRequest('GET', '/containers/json', undefined, audit({ CONTAINERS: '1' }))
  t.ok(granted.allow && granted.wouldRefuse === undefined, 'a granted call carries no refusal')

  const create = judged('POST', '/containers/create', '{"HostConfig":{"Privileged":true,"Binds":["/srv/app/data:/data","/srv/app:/app"],"CapAdd":["net_admin"]}}', audit())
  t.ok(create.allow, 'a privileged create with binds and a capability is forwarded')
  if (create.allow) {
    t.same([...create.needs!].sort(), ['ALLOW_BIND=/srv/app', 'ALLOW_BIND=/srv/app/data', 'ALLOW_CAPS=NET_ADMIN', 'ALLOW_PRIVILEGED'], 'every body grant it used')
    t.same([...create.wouldRefuse!.variables!].sort(), ['ALLOW_BIND', 'ALLOW_CAPS', 'ALLOW_PRIVILEGED', 'CONTAINERS', 'POST'], 'gate and guard variables both reported')
    t.match(create.wouldRefuse!.reason, /set CONTAINERS=1 and POST=1; and HostConfig.Privileged is true: set ALLOW_PRIVILEGED=1/, 'both refusals in words')
  }
  const grantedBody = judged('POST', '/containers/create', '{"HostConfig":{"Binds":["/srv/app:/app"]}}', audit({ CONTAINERS: '1', POST: '1', ALLOW_BIND: '/srv' }))
  t.ok(grantedBody.allow && grantedBody.wouldRefuse === undefined, 'a body the configuration allows carries no refusal')
  t.same(grantedBody.allow && grantedBody.needs, ['ALLOW_BIND=/srv/app'], '... but still says which grant it used')

  const enforced = judged('POST', '/containers/create', '{"HostConfig":{"Privileged":true}}', parseConfig({ CONTAINERS: '1', POST: '1' }))
  t.notOk(enforced.allow, 'enforce mode refuses the same body')
  t.same(!enforced.allow && enforced.variables, ['ALLOW_PRIVILEGED'], 'naming the variable')
  t.same(!enforced.allow && enforced.needs, ['ALLOW_PRIVILEGED'], 'and the grant it needs')
})

t.test('audit still refuses what no grant allows', async (t) => {
  const cases: [string, string, string | undefined, Record<string, string>, RegExp][] = [
    ['GET', '/debug/pprof/heap', undefined, {}, /debug endpoints/],
    ['GET', '/no/such/route', undefined, {}, /no Docker Engine API route/],
    ['OPTIONS', '/containers/json', undefined, {}, /OPTIONS does nothing/],
    ['GET', '/containers/../json', undefined, {}, /./],
    ['POST', '/containers/create', '{"HostConfig":', {}, /./],
    ['POST', '/containers/create', '{"HostConfig":{"CgroupParent":"/elsewhere"}}', { CGROUP_PARENT: '/ci' }, /CGROUP_PARENT=\/ci places every container there/],
    ['POST', '/containers/create', '{"Binds":["cache:/cache"]}', { OWNER: 'a' }, /HostConfig fields at the top level/],
  ]
  for (const [method, path, body, env, why] of cases) {
    const decision = judged(method, path, body, audit(env))
    t.notOk(decision.allow, `${method} ${path} ${body ?? ''} stays refused`)
    if (!decision.allow) {
      t.match(decision.reason, why, `says why: ${decision.reason}`)
      t.same(decision.variables ?? [], [], 'names no variable')
    }
  }
})

// ---------------------------------------------------------------------------------------
// learn

const line = (fields: Record<string, unknown>): string => JSON.stringify({ level: 30, time: 1, pid: 1, hostname: 'h', name: 'dockmoat', ...fields })

/** A path dockerd routes to this route (the first match), or undefined when an earlier route shadows it. */
function pathOf(route: Route): string | undefined {
  const path = route.template.replace(/\{[^}]+\}/g, 'abc123')
  const match = matchRoute(route.method === '*' ? 'GET' : route.method, path)
  return match.kind === 'route' && match.route === route ? path : undefined
}

const CALLABLE = ROUTES.filter((route) => route.section !== 'NEVER' && route.method !== '*' && pathOf(route) !== undefined)

function called(route: Route, msg = 'would be refused', extra: Record<string, unknown> = {}): string {
  return line({ msg, method: route.method, path: `/v1.41${pathOf(route)}`, route: route.display, decision: 'allow', status: 200, ...extra })
}

function env(suggestions: Suggestion[]): Record<string, string> {
  return Object.fromEntries(suggestions.map((s) => [s.name, s.value]))
}

const byDisplay = (display: string): Route => ROUTES.find((r) => r.display === display)!

t.test('learn: single-action grants where they suffice, POST=1 where it is needed anyway', async (t) => {
  const start = byDisplay('POST /containers/{name}/start')
  const stop = byDisplay('POST /containers/{name}/stop')
  const kill = byDisplay('POST /containers/{name}/kill')
  const list = byDisplay('GET /containers/json')
  const create = byDisplay('POST /containers/create')
  const learned = (routes: Route[]): Record<string, string> => env(learn(readLog(routes.map((r) => called(r)).join('\n'))))
  const chosen = (routes: Route[]): string[] => Object.entries(learned(routes)).filter(([, v]) => v === '1').map(([k]) => k).sort()

  t.same(chosen([list, start, stop]), ['ALLOW_START', 'ALLOW_STOP', 'CONTAINERS'], 'Sablier-like: reads plus start/stop, no POST=1')
  t.same(chosen([start, stop, kill]), ['ALLOW_RESTARTS', 'ALLOW_START'], 'ALLOW_RESTARTS serves stop and kill at once')
  t.same(chosen([list, start, create]), ['CONTAINERS', 'POST'], 'a create needs POST=1, which also serves start: no ALLOW_START')
  t.same(learned([list]), { CONTAINERS: '1', EVENTS: '0', PING: '0', VERSION: '0' }, 'unused defaults are turned off')
})

t.test('learn: the configuration allows every call seen, each grant is needed, none is unused', async (t) => {
  let seed = 20261201
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  for (let round = 0; round < 300; round++) {
    const routes = [...new Set(Array.from({ length: 1 + Math.floor(random() * 12) }, () => CALLABLE[Math.floor(random() * CALLABLE.length)]!))]
    const suggestions = learn(readLog(routes.map((r) => called(r)).join('\n')))
    const learnedEnv = env(suggestions)
    const grants = parseConfig(learnedEnv).grants
    const shown = routes.map((r) => r.display).join(', ')
    const refused = routes.filter((route) => !decide(route.method, pathOf(route)!, grants).allow)
    if (refused.length > 0) t.fail(`round ${round} (${shown}): learned ${JSON.stringify(learnedEnv)} refuses ${refused.map((r) => r.display).join(', ')}`)
    for (const { name, value, because } of suggestions) {
      if (value === '1' && because.size === 0) t.fail(`round ${round}: ${name}=1 suggested with no call needing it`)
      if (value !== '1') continue
      const without = parseConfig({ ...learnedEnv, [name]: '0' }).grants
      if (routes.every((route) => decide(route.method, pathOf(route)!, without).allow)) t.fail(`round ${round} (${shown}): ${name}=1 is not needed`)
    }
  }
  t.pass('300 random call sets: every call allowed, every grant needed')
})

t.test('learn: body grants are exactly those used, narrowest bind paths', async (t) => {
  const create = byDisplay('POST /containers/create')
  const log = [
    called(create, 'would be refused', { needs: ['ALLOW_BIND=/srv/app/data', 'ALLOW_CAPS=NET_ADMIN'] }),
    called(create, 'would be refused', { needs: ['ALLOW_BIND=/srv/app', 'ALLOW_BIND=/home/ci', 'ALLOW_CAPS=SYS_TIME', 'ALLOW_DEVICES'] }),
    called(create, 'request'),
  ].join('\n')
  const suggestions = learn(readLog(log))
  const learned = env(suggestions)
  t.equal(learned.ALLOW_BIND, '/home/ci,/srv/app', 'paths inside another seen path are left out')
  t.equal(learned.ALLOW_CAPS, 'NET_ADMIN,SYS_TIME', 'every capability added')
  t.equal(learned.ALLOW_DEVICES, '1', 'the body grant used')
  t.equal(learned.ALLOW_PRIVILEGED, undefined, 'no body grant nobody used')
  t.equal(suggestions.find((s) => s.name === 'ALLOW_BIND')!.because.get(create), 2, 'counted once per call, not per path')
  t.equal(suggestions.find((s) => s.name === 'CONTAINERS')!.because.get(create), 3, 'every call of the route counted')
})

t.test('learn: skips what is not a dockmoat request line, and says how many', async (t) => {
  const list = byDisplay('GET /containers/json')
  const log = [
    'not json at all',
    '{"truncated": ',
    line({ msg: 'dockmoat listening', port: 2375 }),
    JSON.stringify({ level: 30, name: 'traefik', msg: 'request', method: 'GET', path: '/x', route: null }),
    line({ msg: 'request', method: 'GET', path: '/containers/json', route: 'GET /containers/{name}/json' }),
    `2026-12-01T10:00:00.000000000Z ${called(list, 'request')}`,
    `dockmoat_1  | ${called(list, 'request')}`,
    line({ msg: 'refused', method: 'GET', path: '/debug/pprof/heap', route: 'ANY /debug/pprof/{name}', status: 403, variables: [] }),
    line({ msg: 'refused', method: 'GET', path: '/nope', route: null, status: 403, variables: [] }),
    '',
  ].join('\n')
  const seen = readLog(log)
  t.equal(seen.notJson, 2, 'two lines not JSON')
  t.equal(seen.foreign, 3, 'three lines not dockmoat request lines (startup, another program, a route this build would not match)')
  t.equal(seen.calls, 4, 'four calls, prefixes of docker logs -t and compose logs read through')
  const text = renderLearned(seen, learn(seen))
  t.match(text, /^# dockmoat learn: 4 calls in 9 lines \(5 skipped: 2 not JSON, 3 not dockmoat request lines\)\n/, 'the count heads the output')
  t.match(text, /\n {2}# GET \/containers\/json ×2\n {2}- CONTAINERS=1\n/, 'each variable after the calls that needed it')
  t.match(text, /# Also seen, and allowed by no variable: ANY \/debug\/pprof\/\{name\} ×1, GET \/nope \(no such route\) ×1/, 'calls no variable allows are listed, not granted')
  const empty = readLog('garbage\n')
  t.match(renderLearned(empty, learn(empty)), /no calls seen: nothing to grant/, 'a log with no calls grants nothing')
  t.equal(TOGGLES.filter((toggle) => toggle.default).length, 3, 'three toggles on by default (turned off when unused)')
})

t.test('learn: one profile per client when the log says who asked, ready for POLICY_FILE', async (t) => {
  const list = byDisplay('GET /containers/json')
  const start = byDisplay('POST /containers/{name}/start')
  const events = byDisplay('GET /events')
  const log = [
    called(list, 'request', { cn: 'alice', profile: 'developers' }),
    called(start, 'would be refused', { cn: 'alice', profile: 'developers' }),
    called(list, 'request', { cn: 'bob', profile: 'developers' }),
    called(events, 'request', { profile: 'traefik' }),
    called(list, 'request'),
  ].join('\n')
  const seen = readLog(log)
  t.same([...seen.clients.keys()], ['cn alice', 'cn bob', 'profile traefik'], 'clients by CN, else by profile; lines without either only in the whole')
  const text = renderLearned(seen, learn(seen))
  const block = text.slice(text.indexOf('profiles:'))
  t.match(block, /- name: traefik\n {4}match: TODO {3}# copy the match of your profile traefik/, 'a profile matched otherwise keeps a placeholder the file check refuses')
  let refused: unknown
  try {
    parsePolicy(block, 'learned.yaml')
  } catch (error) {
    refused = error
  }
  t.ok(refused instanceof PolicyError && /learned\.yaml:\d+: profiles\[2\]\.match: must be a mapping/.test(refused.message), `so the printed file does not start as it is (${String(refused)})`)
  const withoutTodo = block.slice(0, block.indexOf('  - name: traefik'))
  const policy = parsePolicy(withoutTodo, 'learned.yaml')
  t.same(policy.profiles.map((p) => p.name), ['alice', 'bob'], 'the CN profiles parse as a policy file')
  const environment = parseConfig({})
  for (const [cn, routes] of [['alice', [list, start]], ['bob', [list]]] as const) {
    const profile = selectProfile(policy, { listener: 'tls', address: '192.0.2.1', cn })
    t.equal(profile?.name, cn, `${cn} is matched by its own profile`)
    const config = profileConfig(profile!, { listener: 'tls', address: '192.0.2.1', cn }, environment)
    if (typeof config === 'string') {
      t.fail(config)
      continue
    }
    for (const route of routes) t.ok(decide(route.method, pathOf(route)!, config.grants).allow, `${cn}: ${route.display} allowed by the learned profile`)
    t.equal(config.grants.POST, false, `${cn}: no POST=1`)
  }
  const bob = selectProfile(policy, { listener: 'tls', address: '192.0.2.1', cn: 'bob' })!
  const bobConfig = profileConfig(bob, { listener: 'tls', address: '192.0.2.1', cn: 'bob' }, environment)
  t.notOk(typeof bobConfig === 'object' && decide(start.method, pathOf(start)!, bobConfig.grants).allow, 'bob never started anything: his profile does not allow it')
})

t.test('learn: CNs that make the same profile name, or a profile\'s, get names of their own', async (t) => {
  const list = byDisplay('GET /containers/json')
  const log = [
    called(list, 'request', { cn: 'web app' }),
    called(list, 'request', { cn: 'web/app' }),
    called(list, 'request', { cn: 'web-app-2' }),
    called(list, 'request', { profile: 'web-app' }),
  ].join('\n')
  const text = renderLearned(readLog(log), learn(readLog(log)))
  const block = text.slice(text.indexOf('profiles:'))
  const names = [...block.matchAll(/^ {2}- name: (.*)$/gm)].map((m) => m[1])
  t.same(names, ['web-app-2', 'web-app-3', 'web-app-2-2', 'web-app'], 'each name once: the profile keeps its own')
  const policy = parsePolicy(block.slice(0, block.indexOf('  - name: web-app\n')), 'learned.yaml')
  const chosen = ['web app', 'web/app', 'web-app-2'].map((cn) => selectProfile(policy, { listener: 'tls', address: '192.0.2.1', cn })?.name)
  t.same(chosen, ['web-app-2', 'web-app-3', 'web-app-2-2'], 'and the CN profiles parse as a policy file, each matching its own CN')
})

t.test('learn: a value no variable holds as asked is reported, never granted', async (t) => {
  const create = byDisplay('POST /containers/create')
  const log = [
    called(create, 'would be refused', { status: 201, needs: ['ALLOW_BIND=/srv/x\n  - ALLOW_PRIVILEGED=1', 'ALLOW_BIND=/srv/a,/etc', 'ALLOW_BIND=/srv/ok'] }),
    called(create, 'would be refused', { status: 201, needs: ['ALLOW_CAPS=NET_ADMIN,SYS_ADMIN', 'ALLOW_CAPS=SYS_TIME'] }),
    // dockerd refused this body: what it asked for had no effect
    called(create, 'would be refused', { status: 400, needs: ['ALLOW_DEVICES', 'ALLOW_BIND=/dev'] }),
    called(create, 'request', { cn: 'dev-*' }),
  ].join('\n')
  const seen = readLog(log)
  const learned = env(learn(seen))
  t.equal(learned.ALLOW_BIND, '/srv/ok', 'only the bind path that is one path')
  t.equal(learned.ALLOW_CAPS, 'SYS_TIME', 'only the capability that is one')
  t.equal(learned.ALLOW_PRIVILEGED, undefined, 'a newline in a path prints no grant of its own')
  t.equal(learned.ALLOW_DEVICES, undefined, 'nothing from a body dockerd refused')
  const text = renderLearned(seen, learn(seen))
  t.notMatch(text, /^\s+- ALLOW_PRIVILEGED/m, 'no ALLOW_PRIVILEGED line anywhere')
  t.match(text, /# Not learned, as no variable holds them as asked: "ALLOW_BIND=\/srv\/x\\n {2}- ALLOW_PRIVILEGED=1" ×1, "ALLOW_BIND=\/srv\/a,\/etc" ×1, "ALLOW_CAPS=NET_ADMIN,SYS_ADMIN" ×1/, 'each is listed, quoted')
  t.match(text, /- name: dev--\n {4}match: TODO {3}# the CN "dev-\*" would match as a glob: write its match by hand/, 'a CN with a glob character gets no match that would cover others')
})
