// The decision: dockerd's route table crossed with the grants, then hand-written cases
// that do not read the table, so that a mistake in the table shows up here.
import t from 'tap'
import { alternatives, decide, type Decision, type Grants } from '../../src/policy.ts'
import { ROUTES, type Route } from '../../src/routes.ts'
import { TOGGLES, parseConfig, type Toggle } from '../../src/settings.ts'

// the type of a subtest (the last overload of t.test takes only the callback)
type TestT = Parameters<Parameters<typeof t.test>[0]>[0]

const NAMES = TOGGLES.map((x) => x.name)
/** Exactly these toggles on, every other off. */
function on(...names: Toggle[]): Grants {
  const grants = Object.fromEntries(NAMES.map((n) => [n, false])) as Record<Toggle, boolean>
  for (const name of names) grants[name] = true
  return grants
}
/** Every toggle on but these. */
function allBut(...names: Toggle[]): Grants {
  return on(...NAMES.filter((n) => !names.includes(n)))
}
const NONE = on()
const ALL = allBut()
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']

const show = (grants: Grants): string => NAMES.filter((n) => grants[n]).join('+') || 'no grants'

/** The template of the route the decision ran, as shown to users, or undefined. */
const shownRoute = (d: Decision): string | undefined => (d.route === undefined ? undefined : d.route.display)

/**
 * Asserts the decision for one request. `template` is dockerd's route as displayed
 * (`GET /containers/{name}/json`); written by hand, not read from the table.
 */
function check(t: TestT, method: string, target: string, grants: Grants, allow: boolean, template?: string): Decision {
  const d = decide(method, target, grants)
  const what = `${method} ${target} with ${show(grants)}`
  t.equal(d.allow, allow, `${what}: ${allow ? 'allowed' : 'refused'} (${d.reason})`)
  if (!allow) t.equal(!d.allow && d.status, 403, `${what}: 403`)
  if (d.allow && target.startsWith('/')) t.equal(d.forward, target, `${what}: forwards the raw target`)
  if (template !== undefined) t.equal(shownRoute(d), template, `${what}: runs ${template}`)
  return d
}

// ---------------------------------------------------------------------------------------
// The route table crossed with the grants

/** Concrete paths for a template: `abc123` for every variable, and for greedy ones a name with `/`. */
function samples(template: string): string[] {
  const plain = template.replace(/\{[^}]+\}/g, 'abc123')
  const out = [plain]
  if (/\{[^}:]+:\.[*+]\}/.test(template)) {
    out.push(template.replace(/\{[^}:]+:\.[*+]\}/g, 'web/db').replace(/\{[^}]+\}/g, 'abc123'))
    out.push(template.replace(/\{[^}:]+:\.[*+]\}/g, 'web%2Fdb').replace(/\{[^}]+\}/g, 'abc123'))
  }
  return out
}

t.test('the table is not empty and holds the routes the hand-written cases use', async (t) => {
  t.ok(ROUTES.length > 100, `${ROUTES.length} routes`)
  for (const shown of ['GET /containers/json', 'POST /containers/{name}/start', 'HEAD /_ping', 'HEAD /containers/{name}/archive', 'ANY /debug/vars', 'OPTIONS /{anyroute}']) {
    t.ok(ROUTES.some((r) => r.display === shown), `has ${shown}`)
  }
})

t.test('every route × grants', async (t) => {
  for (const route of ROUTES) {
    const shown = route.display
    // OPTIONS on a debug path runs dockerd's OPTIONS route, registered before the debug ones
    const methods = route.method === '*' ? METHODS.filter((m) => m !== 'OPTIONS') : [route.method]
    for (const sample of samples(route.template)) {
      for (const prefix of ['', '/v1.41']) {
        for (const method of methods) {
          const target = prefix + sample
          const at = `${method} ${target} (${shown})`

          const none = decide(method, target, NONE)
          t.equal(none.allow, false, `${at}: refused with no grants`)
          t.equal(!none.allow && none.status, 403, `${at}: 403 with no grants`)
          t.equal(none.route, route, `${at}: is this route`)
          t.ok(none.reason.startsWith(`dockmoat refused ${method} ${target} (${shown})`), `${at}: reason names the request and route: ${none.reason}`)

          const post = decide(method, target, on('POST'))
          t.equal(post.allow, false, `${at}: POST=1 alone allows nothing`)

          const ways = alternatives(route)
          if (route.section === 'NEVER') {
            t.same(ways, [], `${at}: no way to be allowed`)
            const all = decide(method, target, ALL)
            t.equal(all.allow, false, `${at}: NEVER route refused with every toggle on`)
            t.equal(!all.allow && all.status, 403, `${at}: 403`)
            t.match(all.reason, /never forwarded/, `${at}: says it is never forwarded`)
            continue
          }

          const all = decide(method, target, ALL)
          t.equal(all.allow, true, `${at}: allowed with every toggle on`)

          t.ok(ways.length > 0, `${at}: at least one way to be allowed`)
          for (const way of ways) {
            t.ok(way.length > 0, `${at}: no empty way`)
            const yes = decide(method, target, on(...way))
            t.equal(yes.allow, true, `${at}: allowed by exactly ${way.join('+')} (${yes.reason})`)
            t.equal(yes.route, route, `${at}: allowed as this route`)
            t.equal(yes.allow && yes.forward, target, `${at}: forwards the raw target`)
            t.equal(yes.reason, `${shown} allowed by ${way.map((n) => `${n}=1`).join(' + ')}`, `${at}: allowed reason`)
            for (const missing of way) {
              const rest = way.filter((n) => n !== missing)
              const no = decide(method, target, on(...rest))
              t.equal(no.allow, false, `${at}: refused with ${rest.join('+') || 'nothing'} (${way.join('+')} minus ${missing})`)
              t.equal(!no.allow && no.status, 403, `${at}: 403 without ${missing}`)
              t.ok(no.reason.includes(`${missing}=1`), `${at}: reason names ${missing}: ${no.reason}`)
              if (rest.length > 0) {
                t.ok(no.reason.includes(`(${rest.map((n) => `${n}=1`).join(', ')} already set)`), `${at}: reason says what is already set: ${no.reason}`)
              }
            }
          }
          // with no grants, the reason lists every way
          for (const way of ways) {
            t.ok(none.reason.includes(way.map((n) => `${n}=1`).join(' and ')), `${at}: no-grant reason lists ${way.join(' and ')}: ${none.reason}`)
          }
        }
      }
    }
  }
})

t.test('writes need POST=1 unless an action grant allows them', async (t) => {
  // hard-coded: the only routes an action grant opens
  const actionRoutes = new Set([
    'POST /containers/{name}/start', 'POST /containers/{name}/stop', 'POST /containers/{name}/restart',
    'POST /containers/{name}/kill', 'POST /containers/{name}/pause', 'POST /containers/{name}/unpause',
  ])
  const allButPost = allBut('POST')
  for (const route of ROUTES) {
    if (route.section === 'NEVER') continue
    const shown = route.display
    const target = samples(route.template)[0]!
    const isWrite = !['GET', 'HEAD'].includes(route.method) || shown === 'GET /containers/{name}/attach/ws'
    const d = decide(route.method, target, allButPost)
    t.equal(d.allow, !isWrite || actionRoutes.has(shown), `${shown} with every toggle but POST`)
    const sectionsOnly = decide(route.method, target, allBut('POST', 'ALLOW_START', 'ALLOW_STOP', 'ALLOW_RESTARTS', 'ALLOW_PAUSE', 'ALLOW_UNPAUSE'))
    t.equal(sectionsOnly.allow, !isWrite, `${shown} with every section and extra grant but no POST and no action grant`)
  }
})

// ---------------------------------------------------------------------------------------
// Hand-written cases: none of these read the table.

t.test('defaults: EVENTS, PING, VERSION only', async (t) => {
  const { grants } = parseConfig({})
  check(t, 'GET', '/_ping', grants, true, 'GET /_ping')
  check(t, 'HEAD', '/_ping', grants, true, 'HEAD /_ping')
  check(t, 'GET', '/v1.41/_ping', grants, true, 'GET /_ping')
  check(t, 'GET', '/events', grants, true, 'GET /events')
  check(t, 'GET', '/v1.41/events?filters=%7B%7D', grants, true, 'GET /events')
  check(t, 'GET', '/version', grants, true, 'GET /version')
  check(t, 'GET', '/info', grants, false, 'GET /info')
  check(t, 'GET', '/containers/json', grants, false, 'GET /containers/json')
  check(t, 'POST', '/containers/x/start', grants, false, 'POST /containers/{name}/start')
})

t.test('GET /containers/json needs CONTAINERS', async (t) => {
  check(t, 'GET', '/containers/json', NONE, false, 'GET /containers/json')
  check(t, 'GET', '/containers/json', on('CONTAINERS'), true, 'GET /containers/json')
  check(t, 'GET', '/v1.41/containers/json?all=1', on('CONTAINERS'), true, 'GET /containers/json')
  check(t, 'GET', '/containers/json', allBut('CONTAINERS'), false)
  const d = check(t, 'GET', '/containers/json', NONE, false)
  t.equal(d.reason, 'dockmoat refused GET /containers/json (GET /containers/json): set CONTAINERS=1', 'exact reason')
  const ok = check(t, 'GET', '/containers/json', on('CONTAINERS'), true)
  t.equal(ok.reason, 'GET /containers/json allowed by CONTAINERS=1', 'exact allowed reason')
})

t.test('action grants: start, stop, restarts, pause, unpause without POST or CONTAINERS', async (t) => {
  const actions = ['start', 'stop', 'restart', 'kill', 'pause', 'unpause'] as const
  const opens: Record<string, readonly string[]> = {
    ALLOW_START: ['start'],
    ALLOW_STOP: ['stop'],
    ALLOW_RESTARTS: ['restart', 'stop', 'kill'],
    ALLOW_PAUSE: ['pause'],
    ALLOW_UNPAUSE: ['unpause'],
  }
  for (const [grant, allowed] of Object.entries(opens)) {
    for (const action of actions) {
      for (const target of [`/containers/x/${action}`, `/v1.41/containers/abc123/${action}?t=10`, `/containers/web/db/${action}`]) {
        check(t, 'POST', target, on(grant as Toggle), allowed.includes(action), `POST /containers/{name}/${action}`)
      }
    }
    // nothing else
    for (const [method, target] of [
      ['GET', '/containers/json'], ['GET', '/containers/x/json'], ['POST', '/containers/create'], ['DELETE', '/containers/x'],
      ['POST', '/containers/x/wait'], ['POST', '/containers/x/exec'], ['POST', '/containers/x/update'], ['POST', '/containers/x/rename'],
      ['POST', '/containers/x/attach'], ['GET', '/containers/x/logs'], ['POST', '/exec/x/start'],
    ] as const) {
      check(t, method, target, on(grant as Toggle), false)
    }
  }
  check(t, 'POST', '/containers/x/start', on('ALLOW_START'), true, 'POST /containers/{name}/start')
  check(t, 'POST', '/containers/x/start', on('CONTAINERS'), false)
  check(t, 'POST', '/containers/x/start', on('POST'), false)
  check(t, 'POST', '/containers/x/start', on('CONTAINERS', 'POST'), true)
  check(t, 'POST', '/containers/x/start', allBut('CONTAINERS', 'ALLOW_START'), false)
  check(t, 'GET', '/containers/x/start', on('ALLOW_START'), false) // GET is not the POST route
  check(t, 'PUT', '/containers/x/start', allBut(), false)
  const stop = decide('POST', '/containers/x/stop', NONE)
  for (const fragment of ['dockmoat refused POST /containers/x/stop (POST /containers/{name}/stop): set ', 'CONTAINERS=1 and POST=1', 'ALLOW_STOP=1', 'ALLOW_RESTARTS=1', ', or ']) {
    t.ok(stop.reason.includes(fragment), `stop refusal mentions ${JSON.stringify(fragment)}: ${stop.reason}`)
  }
  t.equal(decide('POST', '/containers/x/restart', on('ALLOW_RESTARTS')).reason, 'POST /containers/{name}/restart allowed by ALLOW_RESTARTS=1', 'allowed reason names the action grant')
})

t.test('CONTAINERS=1 POST=0: data-leaking reads need their own grant', async (t) => {
  const reads: [string, Toggle][] = [['archive', 'ALLOW_ARCHIVE'], ['export', 'ALLOW_EXPORT'], ['logs', 'ALLOW_LOGS'], ['changes', 'ALLOW_CHANGES'], ['top', 'ALLOW_TOP']]
  for (const [what, grant] of reads) {
    const template = `GET /containers/{name}/${what}`
    const target = `/containers/x/${what}`
    const d = check(t, 'GET', target, on('CONTAINERS'), false, template)
    t.ok(d.reason.includes(`set ${grant}=1 (CONTAINERS=1 already set)`), `reason: ${d.reason}`)
    check(t, 'GET', target, on('CONTAINERS', grant), true, template)
    check(t, 'GET', `/v1.41${target}?follow=1`, on('CONTAINERS', grant), true, template)
    const without = check(t, 'GET', target, on(grant), false, template)
    t.ok(without.reason.includes(`set CONTAINERS=1 (${grant}=1 already set)`), `reason: ${without.reason}`)
    check(t, 'GET', target, on(grant, 'POST'), false)
    // another read's grant does not open this one
    for (const [, other] of reads.filter(([, g]) => g !== grant)) check(t, 'GET', target, on('CONTAINERS', other), false)
    check(t, 'GET', target, allBut(grant), false)
  }
  t.equal(decide('GET', '/containers/x/logs', on('CONTAINERS')).reason,
    'dockmoat refused GET /containers/x/logs (GET /containers/{name}/logs): set ALLOW_LOGS=1 (CONTAINERS=1 already set)', 'exact logs refusal')
  // plain reads are allowed
  check(t, 'GET', '/containers/x/json', on('CONTAINERS'), true, 'GET /containers/{name}/json')
  check(t, 'GET', '/containers/x/stats?stream=0', on('CONTAINERS'), true, 'GET /containers/{name}/stats')
  // writes are not
  const create = check(t, 'POST', '/containers/create', on('CONTAINERS'), false, 'POST /containers/create')
  t.ok(create.reason.includes('set POST=1 (CONTAINERS=1 already set)'), `reason: ${create.reason}`)
  check(t, 'DELETE', '/containers/x', on('CONTAINERS'), false, 'DELETE /containers/{name}')
  check(t, 'DELETE', '/containers/x', on('CONTAINERS', 'POST'), true, 'DELETE /containers/{name}')
  // services and tasks logs
  check(t, 'GET', '/services/x/logs', on('SERVICES'), false, 'GET /services/{id}/logs')
  check(t, 'GET', '/services/x/logs', on('SERVICES', 'ALLOW_LOGS'), true, 'GET /services/{id}/logs')
  check(t, 'GET', '/services/x/logs', on('CONTAINERS', 'ALLOW_LOGS'), false)
  check(t, 'GET', '/tasks/x/logs', on('TASKS'), false, 'GET /tasks/{id}/logs')
  check(t, 'GET', '/tasks/x/logs', on('TASKS', 'ALLOW_LOGS'), true, 'GET /tasks/{id}/logs')
})

t.test('archive: GET, HEAD, PUT', async (t) => {
  check(t, 'PUT', '/containers/x/archive?path=/', on('CONTAINERS', 'POST', 'ALLOW_ARCHIVE'), true, 'PUT /containers/{name}/archive')
  const noPost = check(t, 'PUT', '/containers/x/archive?path=/', on('CONTAINERS', 'ALLOW_ARCHIVE'), false, 'PUT /containers/{name}/archive')
  t.ok(noPost.reason.includes('set POST=1 (CONTAINERS=1, ALLOW_ARCHIVE=1 already set)'), `reason: ${noPost.reason}`)
  const noGrant = check(t, 'PUT', '/containers/x/archive', on('CONTAINERS', 'POST'), false)
  t.ok(noGrant.reason.includes('set ALLOW_ARCHIVE=1 (CONTAINERS=1, POST=1 already set)'), `reason: ${noGrant.reason}`)
  check(t, 'PUT', '/containers/x/archive', on('POST', 'ALLOW_ARCHIVE'), false)
  check(t, 'PUT', '/containers/x/archive', allBut('ALLOW_ARCHIVE'), false)

  check(t, 'HEAD', '/containers/x/archive?path=/etc/passwd', on('CONTAINERS'), false, 'HEAD /containers/{name}/archive')
  check(t, 'HEAD', '/containers/x/archive?path=/etc/passwd', on('CONTAINERS', 'ALLOW_ARCHIVE'), true, 'HEAD /containers/{name}/archive')
  check(t, 'HEAD', '/v1.41/containers/x/archive', on('ALLOW_ARCHIVE'), false, 'HEAD /containers/{name}/archive')
  check(t, 'GET', '/containers/x/archive?path=/', on('CONTAINERS', 'ALLOW_ARCHIVE'), true, 'GET /containers/{name}/archive')
  // the legacy copy endpoint copies files out too
  check(t, 'POST', '/containers/x/copy', on('CONTAINERS', 'POST'), false, 'POST /containers/{name}/copy')
  check(t, 'POST', '/containers/x/copy', on('CONTAINERS', 'POST', 'ALLOW_ARCHIVE'), true, 'POST /containers/{name}/copy')
})

t.test('attach/ws writes although it is a GET', async (t) => {
  const d = check(t, 'GET', '/containers/x/attach/ws?stdin=1&stream=1', on('CONTAINERS'), false, 'GET /containers/{name}/attach/ws')
  t.ok(d.reason.includes('set POST=1 (CONTAINERS=1 already set)'), `reason: ${d.reason}`)
  check(t, 'GET', '/containers/x/attach/ws', on('CONTAINERS', 'POST'), true, 'GET /containers/{name}/attach/ws')
  check(t, 'GET', '/containers/x/attach/ws', on('POST'), false)
  check(t, 'GET', '/containers/x/attach/ws', allBut('POST'), false)
  check(t, 'POST', '/containers/x/attach', on('CONTAINERS'), false, 'POST /containers/{name}/attach')
  check(t, 'POST', '/containers/x/attach', on('CONTAINERS', 'POST'), true, 'POST /containers/{name}/attach')
})

t.test('exec needs EXEC and POST, not CONTAINERS', async (t) => {
  check(t, 'POST', '/containers/x/exec', on('EXEC', 'POST'), true, 'POST /containers/{name}/exec')
  check(t, 'POST', '/containers/x/exec', on('CONTAINERS', 'POST'), false, 'POST /containers/{name}/exec')
  check(t, 'POST', '/containers/x/exec', on('EXEC'), false)
  check(t, 'POST', '/containers/x/exec', allBut('EXEC'), false)
  check(t, 'POST', '/exec/x/start', on('EXEC', 'POST'), true, 'POST /exec/{name}/start')
  check(t, 'POST', '/exec/x/start', on('CONTAINERS', 'POST'), false, 'POST /exec/{name}/start')
  check(t, 'POST', '/exec/x/start', on('ALLOW_START'), false)
  check(t, 'POST', '/exec/x/start', on('EXEC'), false)
  check(t, 'POST', '/exec/x/resize?h=10&w=80', on('EXEC', 'POST'), true, 'POST /exec/{name}/resize')
  check(t, 'GET', '/exec/x/json', on('EXEC'), true, 'GET /exec/{id}/json')
  check(t, 'GET', '/exec/x/json', on('CONTAINERS'), false, 'GET /exec/{id}/json')
  check(t, 'GET', '/exec/x/json', allBut('EXEC'), false)
})

t.test('greedy names: the whole route decides, as in dockerd', async (t) => {
  check(t, 'GET', '/containers/x/logs/json', on('CONTAINERS'), true, 'GET /containers/{name}/json')
  check(t, 'GET', '/containers/x%2Flogs/json', on('CONTAINERS'), true, 'GET /containers/{name}/json')
  check(t, 'GET', '/v1.41/containers/x/logs/json', on('CONTAINERS'), true, 'GET /containers/{name}/json')
  check(t, 'GET', '/containers/x/json/logs', on('CONTAINERS'), false, 'GET /containers/{name}/logs')
  check(t, 'GET', '/containers/x/json/archive', on('CONTAINERS'), false, 'GET /containers/{name}/archive')
  check(t, 'GET', '/containers/x/top/export', on('CONTAINERS', 'ALLOW_TOP'), false, 'GET /containers/{name}/export')
  check(t, 'POST', '/containers/web/restart/exec', on('ALLOW_RESTARTS'), false, 'POST /containers/{name}/exec')
  check(t, 'POST', '/containers/web/restart/exec', allBut('EXEC'), false, 'POST /containers/{name}/exec')
  check(t, 'POST', '/containers/web/restart/exec', on('EXEC', 'POST'), true, 'POST /containers/{name}/exec')
  check(t, 'POST', '/containers/web%2Frestart/exec', on('ALLOW_RESTARTS'), false, 'POST /containers/{name}/exec')
  check(t, 'POST', '/containers/x/exec/start', on('ALLOW_START'), true, 'POST /containers/{name}/start') // starts container `x/exec`
  check(t, 'POST', '/containers/x/start/kill', on('ALLOW_START'), false, 'POST /containers/{name}/kill')
  check(t, 'POST', '/containers/web/db/stop', on('ALLOW_STOP'), true, 'POST /containers/{name}/stop')
  check(t, 'DELETE', '/containers/web/db', on('CONTAINERS', 'POST'), true, 'DELETE /containers/{name}')
  check(t, 'GET', '/exec/a/b/json', on('EXEC'), true, 'GET /exec/{id}/json')
  // `.` in dockerd's patterns is any byte but \n: a name holding \n matches no route there
  check(t, 'GET', '/containers/a%0ab/json', ALL, false)
  t.match(decide('GET', '/containers/a%0ab/json', ALL).reason, /no Docker Engine API route/, '\\n in a greedy name: no route')
  check(t, 'GET', '/containers/a%0db/json', on('CONTAINERS'), true, 'GET /containers/{name}/json')
  check(t, 'GET', '/containers/%ff/json', on('CONTAINERS'), true, 'GET /containers/{name}/json')
  // `{id}` is [^/]+, which matches \n in Go as in JavaScript
  check(t, 'GET', '/services/a%0ab', on('SERVICES'), true, 'GET /services/{id}')
  check(t, 'GET', '/services/a/b', ALL, false)
})

t.test('HEAD exists only for /_ping and archive', async (t) => {
  const d = check(t, 'HEAD', '/containers/json', ALL, false)
  t.match(d.reason, /no HEAD route/, `reason: ${d.reason}`)
  t.match(d.reason, /only GET/, 'names the methods dockerd has')
  for (const target of ['/info', '/version', '/events', '/containers/x/json', '/images/json', '/v1.41/info']) check(t, 'HEAD', target, ALL, false)
  check(t, 'HEAD', '/_ping', on('PING'), true, 'HEAD /_ping')
  check(t, 'HEAD', '/v1.41/_ping', on('PING'), true, 'HEAD /_ping')
  check(t, 'HEAD', '/_ping', allBut('PING'), false, 'HEAD /_ping')
  check(t, 'HEAD', '/containers/x/archive', on('CONTAINERS', 'ALLOW_ARCHIVE'), true, 'HEAD /containers/{name}/archive')
  check(t, 'HEAD', '/containers/x/archive', allBut('ALLOW_ARCHIVE'), false, 'HEAD /containers/{name}/archive')
})

t.test('the version prefix', async (t) => {
  for (const target of ['/V1.41/info', '/v/info', '/vv1.41/info', '/v1.41a/info', '/v1.41/v1.41/info', '/version1/info', '/v1,41/info', '/1.41/info']) {
    const d = check(t, 'GET', target, ALL, false)
    t.match(d.reason, /no Docker Engine API route/, `${target}: no route`)
  }
  for (const target of ['/v1.41/info', '/v1.41.0/info', '/v01.041/info', '/v1.41./info', '/v1/info', '/v.../info', '/v1.55/info', '/v1.12/info']) {
    check(t, 'GET', target, on('INFO'), true, 'GET /info')
    check(t, 'GET', target, allBut('INFO'), false, 'GET /info')
  }
})

t.test('the path is decoded once before routing', async (t) => {
  const d = check(t, 'GET', '/%69nfo', NONE, false, 'GET /info')
  t.ok(d.reason.includes('set INFO=1'), `reason: ${d.reason}`)
  check(t, 'GET', '/%69nfo', on('INFO'), true, 'GET /info')
  check(t, 'GET', '/%69nfo', allBut('INFO'), false)
  check(t, 'GET', '/%73ecrets', on('INFO', 'CONTAINERS'), false, 'GET /secrets')
  check(t, 'GET', '/%73ecrets', on('SECRETS'), true, 'GET /secrets')
  check(t, 'GET', '/v1.41/%63ontainers/json', on('CONTAINERS'), true, 'GET /containers/json')
  check(t, 'GET', '/containers/a%252Fb/json', on('CONTAINERS'), true, 'GET /containers/{name}/json')
  check(t, 'POST', '/containers/x/%73tart', on('ALLOW_START'), true, 'POST /containers/{name}/start')
  check(t, 'GET', '/containers/x/%6cogs', on('CONTAINERS'), false, 'GET /containers/{name}/logs')
  const absolute = check(t, 'GET', 'http://docker/v1.41/%73ecrets?x=1', on('SECRETS'), true, 'GET /secrets')
  t.equal(absolute.allow && absolute.forward, '/v1.41/%73ecrets?x=1', 'absolute form is forwarded in origin form, still encoded')
  check(t, 'GET', 'http://docker/v1.41/secrets', allBut('SECRETS'), false, 'GET /secrets')
})

t.test('methods are case-sensitive', async (t) => {
  for (const method of ['get', 'Get', 'gET']) {
    const d = check(t, method, '/info', ALL, false)
    t.equal(d.route, undefined, `${method}: no route`)
    t.ok(d.reason.startsWith(`dockmoat refused ${method} /info`), `reason names ${method}`)
  }
  check(t, 'post', '/containers/x/start', on('ALLOW_START'), false)
  check(t, 'head', '/_ping', ALL, false)
  check(t, 'options', '/info', ALL, false)
})

t.test('image and plugin references with / and :', async (t) => {
  check(t, 'POST', '/images/library/alpine:3.20/tag?repo=x&tag=y', on('IMAGES', 'POST'), true, 'POST /images/{name}/tag')
  check(t, 'POST', '/images/library/alpine:3.20/tag', on('IMAGES'), false, 'POST /images/{name}/tag')
  check(t, 'GET', '/images/library/alpine:3.20/json', on('IMAGES'), true, 'GET /images/{name}/json')
  check(t, 'GET', '/images/library/alpine:3.20/json', allBut('IMAGES'), false, 'GET /images/{name}/json')
  check(t, 'GET', '/images/registry.example:5000/team/app:1.0/history', on('IMAGES'), true, 'GET /images/{name}/history')
  check(t, 'GET', '/images/library/alpine:3.20/get', on('IMAGES'), true, 'GET /images/{name}/get')
  check(t, 'GET', '/images/get?names=alpine', on('IMAGES'), true, 'GET /images/get')
  check(t, 'DELETE', '/images/library/alpine:3.20', on('IMAGES', 'POST'), true, 'DELETE /images/{name}')
  check(t, 'POST', '/images/docker.io/library/alpine/push', on('IMAGES'), false, 'POST /images/{name}/push')
  check(t, 'GET', '/plugins/vieux/sshfs:latest/json', on('PLUGINS'), true, 'GET /plugins/{name}/json')
  check(t, 'GET', '/distribution/docker.io/library/alpine:3.20/json', on('DISTRIBUTION'), true, 'GET /distribution/{name}/json')
  check(t, 'GET', '/distribution/docker.io/library/alpine:3.20/json', on('IMAGES'), false)
})

t.test('networks, volumes, swarm, system', async (t) => {
  check(t, 'GET', '/networks/', on('NETWORKS'), true, 'GET /networks/')
  check(t, 'GET', '/networks', on('NETWORKS'), true, 'GET /networks')
  check(t, 'GET', '/networks/abc', on('NETWORKS'), true, 'GET /networks/{id}')
  check(t, 'GET', '/networks/abc', allBut('NETWORKS'), false, 'GET /networks/{id}')
  check(t, 'POST', '/networks/abc/connect', on('NETWORKS'), false, 'POST /networks/{id}/connect')
  check(t, 'POST', '/networks/abc/connect', on('NETWORKS', 'POST'), true, 'POST /networks/{id}/connect')
  check(t, 'DELETE', '/networks/abc', on('NETWORKS', 'POST'), true, 'DELETE /networks/{id}')
  check(t, 'GET', '/volumes/data', on('VOLUMES'), true, 'GET /volumes/{name}')
  check(t, 'PUT', '/volumes/data', on('VOLUMES'), false, 'PUT /volumes/{name}')
  check(t, 'POST', '/volumes/create', on('VOLUMES', 'POST'), true, 'POST /volumes/create')
  check(t, 'GET', '/swarm', on('SWARM'), true, 'GET /swarm')
  check(t, 'GET', '/swarm', allBut('SWARM'), false, 'GET /swarm')
  check(t, 'GET', '/swarm/unlockkey', on('SWARM'), true, 'GET /swarm/unlockkey')
  check(t, 'POST', '/swarm/init', on('SWARM'), false, 'POST /swarm/init')
  check(t, 'GET', '/system/df', on('SYSTEM'), true, 'GET /system/df')
  check(t, 'GET', '/system/df', on('INFO'), false, 'GET /system/df')
  check(t, 'POST', '/auth', on('AUTH'), false, 'POST /auth')
  check(t, 'POST', '/auth', on('AUTH', 'POST'), true, 'POST /auth')
  check(t, 'POST', '/build', on('BUILD', 'POST'), true, 'POST /build')
  check(t, 'POST', '/session', on('SESSION', 'POST'), true, 'POST /session')
  check(t, 'POST', '/grpc', on('GRPC', 'POST'), true, 'POST /grpc')
  check(t, 'POST', '/grpc', on('BUILD', 'POST'), false, 'POST /grpc')
  check(t, 'POST', '/commit?container=x', on('COMMIT', 'POST'), true, 'POST /commit')
  check(t, 'POST', '/commit?container=x', on('CONTAINERS', 'POST'), false, 'POST /commit')
})

t.test('checkpoints: dockerd registers the checkpoint router first, on every daemon', async (t) => {
  // moby cmd/dockerd: "we need to add the checkpoint router before the container router
  // or the DELETE gets masked"; the routes answer 501 unless the daemon is experimental.
  check(t, 'DELETE', '/containers/x/checkpoints/y', on('CONTAINERS', 'POST'), true, 'DELETE /containers/{name}/checkpoints/{checkpoint}')
  check(t, 'DELETE', '/containers/x/checkpoints/y', on('CONTAINERS'), false, 'DELETE /containers/{name}/checkpoints/{checkpoint}')
  check(t, 'DELETE', '/containers/x/checkpoints/y', allBut('CONTAINERS'), false)
  // `{name}` there is [^/]+: with a / in the name it is a container delete again
  check(t, 'DELETE', '/containers/x/y/checkpoints/z', on('CONTAINERS', 'POST'), true, 'DELETE /containers/{name}')
  check(t, 'GET', '/containers/x/checkpoints', on('CONTAINERS'), true, 'GET /containers/{name}/checkpoints')
  check(t, 'POST', '/containers/x/checkpoints', on('CONTAINERS'), false, 'POST /containers/{name}/checkpoints')
})

t.test('debug endpoints and OPTIONS are never forwarded', async (t) => {
  for (const target of ['/debug/vars', '/debug/pprof/heap', '/debug/pprof/', '/debug/pprof/cmdline', '/debug/pprof/profile?seconds=1', '/debug/pprof/goroutine', '/v1.41/debug/vars', '/%64ebug/vars']) {
    for (const method of METHODS) {
      const d = check(t, method, target, ALL, false)
      t.match(d.reason, method === 'OPTIONS' ? /OPTIONS does nothing/ : /never forwarded/, `${method} ${target}: ${d.reason}`)
    }
  }
  t.equal(shownRoute(decide('GET', '/debug/vars', ALL)), 'ANY /debug/vars', 'shown as ANY')
  t.equal(shownRoute(decide('PATCH', '/debug/pprof/heap', ALL)), 'ANY /debug/pprof/{name}', 'shown as ANY with {name}')
  for (const target of ['/_ping', '/info', '/containers/json', '/containers/x/start', '/', '/anything/at/all']) {
    const d = check(t, 'OPTIONS', target, ALL, false, 'OPTIONS /{anyroute}')
    t.match(d.reason, /OPTIONS does nothing in dockerd and is never forwarded/, `OPTIONS ${target}`)
  }
})

t.test('unknown paths: 403, whatever the grants', async (t) => {
  for (const [method, target] of [
    ['GET', '/secrets/x/y'], ['GET', '/foo'], ['GET', '/'], ['GET', '/containers'], ['GET', '/containers/'], ['GET', '/v1.41'],
    ['GET', '/v1.41/'], ['GET', '/images'], ['POST', '/containers/x/frobnicate'], ['GET', '/_ping/x'], ['GET', '/infos'],
    ['GET', '/info/'], ['GET', '/containers/json/'], ['PATCH', '/containers/x'], ['GET', '/grpc'], ['PUT', '/info'],
  ] as const) {
    const d = check(t, method, target, ALL, false)
    t.ok(d.reason.startsWith(`dockmoat refused ${method} ${target}: `), `reason names the request: ${d.reason}`)
    t.match(d.reason, /no Docker Engine API route|dockerd has no \w+ route for this path/, `reason: ${d.reason}`)
  }
  const wrongMethod = decide('GET', '/containers/x/start', ALL)
  t.match(wrongMethod.reason, /dockerd has no GET route for this path \(only [^)]*POST/, `wrong method: ${wrongMethod.reason}`)
  t.equal(wrongMethod.route, undefined, 'no route for a wrong method')
})

t.test('targets dockerd would not route: 400', async (t) => {
  for (const target of [
    '//containers/json', '/containers/x/../json', '/%2e%2e/info', '/info/.', '/./info', '/containers//json', '/v1.41//info',
    '/containers/x%2F..%2Fy/json', '/%zz', '/info%', '/info%4', '*', 'foo', 'http://docker', 'http://docker//info',
  ]) {
    const d = decide('GET', target, ALL)
    t.equal(d.allow, false, `${target} refused`)
    t.equal(!d.allow && d.status, 400, `${target}: 400`)
    t.ok(d.reason.startsWith(`dockmoat refused GET ${target}: `), `reason: ${d.reason}`)
  }
  t.match(decide('GET', '/containers/x/../json', ALL).reason, /clean form.*"\/containers\/json"/, 'says where dockerd would redirect')
  t.match(decide('GET', '/%zz', ALL).reason, /percent-escape/, 'says the escape is invalid')
})

t.test('POST=1 alone allows nothing', async (t) => {
  for (const [method, target] of [
    ['POST', '/containers/create'], ['DELETE', '/containers/x'], ['POST', '/containers/x/start'], ['POST', '/containers/x/kill'],
    ['POST', '/images/create?fromImage=alpine'], ['DELETE', '/images/alpine'], ['PUT', '/volumes/x'], ['POST', '/volumes/create'],
    ['POST', '/build'], ['POST', '/swarm/init'], ['POST', '/networks/create'], ['POST', '/plugins/pull'], ['POST', '/session'],
    ['POST', '/grpc'], ['POST', '/auth'], ['POST', '/commit'], ['POST', '/exec/x/start'], ['POST', '/containers/x/exec'],
    ['GET', '/containers/json'], ['GET', '/info'], ['GET', '/_ping'], ['GET', '/events'], ['GET', '/version'],
    ['GET', '/containers/x/attach/ws'], ['PUT', '/containers/x/archive'],
  ] as const) {
    check(t, method, target, on('POST'), false)
  }
})
