// dockmoat's reading of dockerd's boolean query parameters (query.ts queryFlag, routes.ts
// isEndless) against the REAL dockerd, which shows its own reading: `stats` answers with
// Content-Type application/json only when `stream` is false, and `logs` without `follow`
// ends as soon as the log is written out, where with it the answer stays open. A query
// with a pair Go's url.ParseQuery rejects (a `;`, a bad escape) gets dockerd's 400 from
// httputils.ParseForm instead: a short answer, never a stream.
import t, { type Test } from 'tap'
import http, { type IncomingMessage } from 'node:http'
import { DOCKER_SOCKET, cleanup, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { isEndless, matchRoute, type Route } from '../../src/routes.ts'
import { queryPairs } from '../../src/query.ts'

await requireDocker()
const image = await testImage()

/** Values Go's BoolValue reads differently from a naive reading: case, Unicode space, BOM, bad escapes, `;`. */
const VALUES = [
  '', '0', '1', 'no', 'NO', 'No', 'false', 'FALSE', 'none', 'None', 'yes', 'true', 'off', '00', '-1',
  '%20false%20', '%09no%0A', '+0+', '%C2%A0false%C2%A0', '%C2%85none', '%E2%80%83no%E3%80%80',
  '%A0false', 'false%A0', '%EF%BB%BFno', 'n%C3%B3', 'fal%00se', '%zzfalse', 'false%', 'no;',
]
/** Whole queries: the key absent, bare, repeated, dropped by a bad escape or a `;`. */
const QUERIES = (key: string): string[] => [
  'x=1', key, `${key}=`, `${key}=0&${key}=1`, `${key}=1&${key}=0`, `${key}=%zz&${key}=0`, `${key}=0;&${key}=1`,
  `${key.toUpperCase()}=0`, `${key}%3D0`, ...VALUES.map((value) => `${key}=${value}`),
]

function get(path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: DOCKER_SOCKET, path }, resolve)
    req.on('error', reject)
    req.setTimeout(15_000, () => req.destroy(new Error(`GET ${path}: no answer within 15 s`)))
  })
}

/** Whether dockerd keeps the answer open for `waitMs` after its headers. */
async function staysOpen(res: IncomingMessage, waitMs: number): Promise<boolean> {
  res.resume()
  const ended = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), waitMs)
    res.once('close', () => { clearTimeout(timer); resolve(true) })
  })
  res.destroy()
  return !ended
}

/** Whether query.ts finds a pair Go's url.ParseQuery rejects. */
const rejected = (query: string): boolean => queryPairs(query).some((pair) => pair.key === undefined || pair.value === undefined)

/**
 * Compares dockerd's reading of each query with isEndless; `streams` tells it from the
 * answer. All at once: a `stats` that does not stream answers after two samples, ~1 s.
 */
async function compare(t: Test, route: Route, path: string, queries: string[], streams: (res: IncomingMessage) => Promise<boolean>): Promise<void> {
  const answers = await Promise.all(queries.map(async (query) => {
    const res = await get(`${path}?${query}`)
    if (res.statusCode !== 200) res.destroy()
    return { query, status: res.statusCode, streams: res.statusCode === 200 ? await streams(res) : undefined }
  }))
  const seen = { stream: 0, once: 0, refused: 0 }
  for (const { query, status, streams: dockerdStreams } of answers) {
    if (rejected(query)) {
      t.equal(status, 400, `?${query}: dockerd refuses a query ParseQuery rejects`)
      seen.refused++
      continue
    }
    t.equal(status, 200, `?${query}: dockerd answers`)
    seen[dockerdStreams === true ? 'stream' : 'once']++
    t.equal(isEndless(route, `${path}?${query}`), dockerdStreams, `?${query}: dockerd ${dockerdStreams === true ? 'streams' : 'answers once'}`)
  }
  t.ok(seen.stream > 5 && seen.once > 5 && seen.refused > 3, `every reading occurs: ${JSON.stringify(seen)}`)
}

function routeOf(method: string, path: string): Route {
  const match = matchRoute(method, path)
  if (match.kind !== 'route') throw new Error(`no route for ${method} ${path}`)
  return match.route
}

const name = uniqueName('query-flags')
t.teardown(() => cleanup('container', [name]))
const run = await docker(['run', '-d', '--name', name, image, 'sh', '-c', 'echo ready; sleep 300'])
t.equal(run.code, 0, `container started ${run.stderr}`)

t.test('stats: a stream unless `stream` is false, as dockerd decides it', async (t) => {
  const path = `/v1.41/containers/${name}/stats`
  const route = routeOf('GET', path)
  t.equal(route.display, 'GET /containers/{name}/stats')
  await compare(t, route, path, QUERIES('stream'), async (res) => {
    res.destroy()
    return res.headers['content-type'] !== 'application/json'
  })
})

t.test('logs: a stream when `follow` is true, as dockerd decides it', async (t) => {
  const path = `/v1.41/containers/${name}/logs`
  const route = routeOf('GET', path)
  t.equal(route.display, 'GET /containers/{name}/logs')
  await compare(t, route, path, QUERIES('follow').map((query) => `stdout=1&${query}`), (res) => staysOpen(res, 1000))
})

t.test('routes whose answers are finite are never ended at once', async (t) => {
  for (const [method, path] of [['PUT', '/containers/x/archive'], ['GET', '/containers/x/archive'], ['GET', '/containers/x/export'], ['POST', '/images/create'], ['GET', '/images/get'], ['POST', '/build'], ['POST', '/plugins/pull']] as const) {
    t.equal(isEndless(routeOf(method, path), `${path}?follow=1&stream=1`), false, `${method} ${path}`)
  }
  for (const [method, path] of [['GET', '/events'], ['POST', '/containers/x/wait'], ['POST', '/containers/x/attach'], ['POST', '/exec/x/start']] as const) {
    t.equal(isEndless(routeOf(method, path), path), true, `${method} ${path}`)
  }
})
