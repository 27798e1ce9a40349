// Puts dockmoat's classification of a (method, target) pair next to the real dockerd's
// answer and judges them. Shared by conformance.test.ts (fixed seed, CI) and fuzz.ts
// (random seed, long runs).
//
// A FAILURE is a pair that dockerd would RUN (its answer shows a route's handler ran)
// while dockmoat names no route, refuses the target as malformed or unclean, or names a
// different route than the one dockerd's answer identifies (a different template, or a
// different object name parsed out of the path). dockmoat refusing something dockerd only
// redirects, 404s or rejects is fine.

import { matchRoute, type Route } from '../../src/routes.ts'
import { deriveTarget } from '../../src/target.ts'
import { decide, type Grants } from '../../src/policy.ts'
import { TOGGLES } from '../../src/settings.ts'
import { ask, categorize, evidence, type Answer, type Category, type Evidence, type NamedFamily } from './dockerd-oracle.ts'
import type { Case } from './generator.ts'

export const ALL_GRANTS: Grants = Object.fromEntries(TOGGLES.map((t) => [t.name, true])) as Grants

export type DockmoatView =
  | {
    kind: 'route'; route: Route; path: string; forward: string; vars: string[]
    /** dockmoat's compiled pattern matched, but the template itself (as Go reads it) does not. */
    mismatch?: boolean
  }
  | { kind: 'method' | 'none'; path: string; forward: string }
  | { kind: 'refused'; problem: string }

/** dockmoat's own view: deriveTarget, then matchRoute, and the variables its template captures. */
export function dockmoatView(method: string, target: string): DockmoatView {
  const derived = deriveTarget(target)
  if (!derived.ok) return { kind: 'refused', problem: derived.problem }
  const match = matchRoute(method, derived.path)
  if (match.kind !== 'route') return { kind: match.kind, path: derived.path, forward: derived.forward }
  const m = capturing(match.route.template).exec(derived.path)
  if (m === null) return { kind: 'route', route: match.route, path: derived.path, forward: derived.forward, vars: [], mismatch: true }
  return { kind: 'route', route: match.route, path: derived.path, forward: derived.forward, vars: m.slice(1) }
}

const captureCache = new Map<string, RegExp>()
/** The template with its variables captured; `.` spelt `[^\n]` as Go's regexp means it. */
function capturing(template: string): RegExp {
  let re = captureCache.get(template)
  if (re === undefined) {
    let source = ''
    for (const part of template.split(/(\{[^}]+\})/)) {
      if (part.startsWith('{')) {
        const colon = part.indexOf(':')
        const inner = colon === -1 ? '[^/]+' : part.slice(colon + 1, -1)
        source += '(' + inner.replace(/\./g, '[^\\n]') + ')'
      } else {
        source += part.replace(/[.*+?^$()[\]\\|{}]/g, '\\$&')
      }
    }
    re = new RegExp('^(?:/v[0-9.]+)?' + source + '$')
    captureCache.set(template, re)
  }
  return re
}

/** Which kind of object a template's first variable names, as dockerd's messages call it. */
export function familyOf(template: string): NamedFamily | undefined {
  const m = /^\/([a-z]+)\/\{/.exec(template)
  const families: Record<string, NamedFamily> = {
    containers: 'container', exec: 'exec', images: 'image', volumes: 'volume', networks: 'network', plugins: 'plugin',
    services: 'service', nodes: 'node', tasks: 'task', secrets: 'secret', configs: 'config',
  }
  return m ? families[m[1]!] : undefined
}

/** dockmoat's variable (latin1 bytes) as the Unicode text dockerd's JSON would show it. */
function asDockerdText(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8')
}

function collapseReplacement(s: string): string {
  return s.replace(/\uFFFD+/g, '\uFFFD')
}

/**
 * dockerd prints image references normalised (`library/x` is `x:latest`, `docker.io/a/b`
 * is `a/b:latest`, a bare 64-hex id is `sha256:<id>`): the spellings one name may take.
 */
function imageSpellings(s: string): Set<string> {
  const out = new Set<string>()
  const add = (x: string): void => {
    out.add(x)
    const untagged = x.replace(/:latest$/, '')
    out.add(untagged)
    out.add(untagged.replace(/^sha256:(?=[0-9a-f]{64}$)/, ''))
    // Familiar form: a docker.io domain and a library/ path are left out.
    const slash = untagged.indexOf('/')
    if (slash !== -1 && /^(docker\.io|index\.docker\.io)$/.test(untagged.slice(0, slash))) {
      const path = untagged.slice(slash + 1)
      out.add(path)
      if (/^library\/[^/]+$/.test(path)) out.add(path.slice('library/'.length))
    }
    if (/^library\/[^/]+$/.test(untagged)) out.add(untagged.slice('library/'.length))
  }
  add(s)
  return out
}

function sameName(family: NamedFamily, fromDockerd: string, fromDockmoat: string): boolean {
  const a = collapseReplacement(fromDockerd)
  const b = collapseReplacement(asDockerdText(fromDockmoat))
  if (a === b) return true
  if (family === 'image' || family === 'plugin') {
    const mine = imageSpellings(b)
    return [...imageSpellings(a)].some((x) => mine.has(x))
  }
  return false
}

function sameEvidenceName(ev: Evidence, fromDockmoat: string): boolean {
  if (ev.family === undefined || ev.name === undefined) return true
  return sameName(ev.family, ev.name, fromDockmoat) || (ev.alternative !== undefined && sameName(ev.family, ev.alternative, fromDockmoat))
}

export interface Judgement {
  failure?: string
  /** For statistics: dockerd's category and dockmoat's view. */
  bucket: string
  /** dockerd's answer named the route or object, and dockmoat agreed. */
  confirmed: boolean
  /** dockmoat names a route that dockerd did not run (harmless: it over-matches). */
  overmatch?: string
  category: Category
  evidence?: Evidence
}

export function judge(c: Case, view: DockmoatView, answer: Answer): Judgement {
  const category = categorize(answer)
  const ev = category === 'routed' ? evidence(answer) : undefined
  const dm = view.kind === 'route' ? `route ${view.route.method} ${view.route.template}` : view.kind
  const base: Judgement = { bucket: `${category} / ${dm.split(' ')[0]}`, confirmed: false, category, ...(ev ? { evidence: ev } : {}) }

  if (category === 'no-answer' || category === 'unknown') {
    return { ...base, failure: `the oracle cannot interpret dockerd's answer (${answer.error ?? `status ${answer.status}`})` }
  }
  // Node hands CONNECT to the server's 'connect' event, which dockmoat does not handle:
  // the connection is closed and nothing is forwarded, whatever the target (the
  // adversarial suite checks this). Go reads CONNECT targets in authority form
  // (`CONNECT docker/debug/vars` runs /debug/vars), which the classifier need not model.
  if (c.method === 'CONNECT') return { ...base, bucket: `${category} / CONNECT (never forwarded)` }
  if (category !== 'routed') {
    if (view.kind === 'route' && category === 'not-routed') base.overmatch = `${view.route.method} ${view.route.template}`
    return base
  }
  if (view.kind === 'refused') return { ...base, failure: `dockerd runs a route, dockmoat refuses the target: ${view.problem}` }
  if (view.kind !== 'route') return { ...base, failure: `dockerd runs a route, dockmoat names none (${view.kind === 'method' ? 'wrong method for the path' : 'no route has this path'}: ${JSON.stringify(view.path)})` }

  if (view.mismatch) {
    return { ...base, failure: `dockmoat's matcher takes ${JSON.stringify(view.path)} for ${dm}, a template that does not match it as dockerd reads templates` }
  }
  const decision = decide(c.method, c.target, ALL_GRANTS)
  if (!decision.allow && decision.route?.template !== view.route.template) {
    return { ...base, failure: `decide() disagrees with matchRoute(): ${decision.reason}` }
  }
  if (ev === undefined) return base

  const template = view.route.template
  if (ev.method !== undefined && view.route.method !== ev.method) {
    return { ...base, failure: `dockerd ran a ${ev.method} route (${ev.label}), dockmoat names ${dm}` }
  }
  if (ev.template !== undefined && !ev.template.test(template)) {
    return { ...base, failure: `dockerd ran another route (${ev.label}: ${JSON.stringify(answer.message)}), dockmoat names ${dm}` }
  }
  if (ev.family !== undefined && ev.name !== undefined) {
    const family = familyOf(template)
    if (family !== ev.family) {
      return { ...base, failure: `dockerd parsed a ${ev.family} name ${JSON.stringify(ev.name)} (${ev.label}), dockmoat names ${dm}, which takes ${family ? 'a ' + family : 'no'} name` }
    }
    const value = view.vars[0] ?? ''
    if (!sameEvidenceName(ev, value)) {
      return { ...base, failure: `dockerd parsed the ${ev.family} name ${JSON.stringify(ev.name)}, dockmoat's ${dm} parses ${JSON.stringify(asDockerdText(value))}` }
    }
  }
  return { ...base, confirmed: true }
}

export interface Outcome {
  c: Case
  view: DockmoatView
  answer: Answer
  judgement: Judgement
  /** For absolute-form targets: dockerd's answer to what dockmoat would forward. */
  forwarded?: { target: string; answer: Answer; category: Category }
}

/** Describes one outcome in full, for a failure report. */
export function describe(o: Outcome, seed?: number): string {
  const v = o.view
  const dm = v.kind === 'route'
    ? `${v.route.method} ${v.route.template} (section ${v.route.section}, vars ${JSON.stringify(v.vars.map(asDockerdText))}, path ${JSON.stringify(v.path)})`
    : v.kind === 'refused' ? `refused: ${v.problem}` : `${v.kind} (path ${JSON.stringify(v.path)})`
  const a = o.answer
  const lines = [
    `${o.judgement.failure}`,
    `  request:  ${JSON.stringify(o.c.method)} ${JSON.stringify(o.c.target)}${seed !== undefined ? `   (seed ${seed}, case #${o.c.index})` : ''}`,
    `  origin:   ${o.c.origin}`,
    `  dockmoat: ${dm}`,
    `  dockerd:  ${a.status} ${o.judgement.category}${a.headers['api-version'] ? ' (Api-Version)' : ''}${a.headers.location ? ` Location: ${a.headers.location}` : ''} ${JSON.stringify(a.message.slice(0, 200))}${o.judgement.evidence ? ` [${o.judgement.evidence.label}]` : ''}`,
  ]
  if (o.forwarded) lines.push(`  forwarded ${JSON.stringify(o.forwarded.target)}: ${o.forwarded.answer.status} ${o.forwarded.category} ${JSON.stringify(o.forwarded.answer.message.slice(0, 200))}`)
  return lines.join('\n')
}

/** Sends one case to dockerd (and its forwarded form when dockmoat rewrites it) and judges it. */
export async function runCase(c: Case, socketPath?: string): Promise<Outcome> {
  const view = dockmoatView(c.method, c.target)
  const options = socketPath ? { socketPath } : {}
  let answer = await ask(c.method, c.target, options)
  // A loaded daemon (other suites run beside this one) may time out once: ask again.
  for (let retry = 0; retry < 2 && answer.status === 0; retry++) answer = await ask(c.method, c.target, options)
  const judgement = judge(c, view, answer)
  const outcome: Outcome = { c, view, answer, judgement }
  // dockmoat forwards origin-form: what it sends must route exactly as the original did.
  if (!judgement.failure && view.kind === 'route' && view.forward !== c.target && judgement.category === 'routed') {
    const forwarded = await ask(c.method, view.forward, options)
    const category = categorize(forwarded)
    outcome.forwarded = { target: view.forward, answer: forwarded, category }
    const before = evidence(answer)
    const after = evidence(forwarded)
    if (category !== 'routed' || before?.label !== after?.label || before?.name !== after?.name) {
      judgement.failure = 'dockmoat forwards a target that dockerd routes differently from the one it classified'
    }
  }
  return outcome
}

export interface Stats {
  total: number
  /** The first `keep` failures, in full. */
  failures: Outcome[]
  failureCount: number
  /** Every failure counted by what went wrong (names left out), with its first example. */
  groups: Map<string, { count: number; example: Outcome }>
  buckets: Map<string, number>
  confirmed: number
  overmatch: Map<string, number>
  ms: number
}

/** Runs cases with `concurrency` connections in flight; failures beyond `keep` are only counted. */
export async function runAll(source: Iterable<Case>, options: { concurrency?: number; keep?: number; socketPath?: string; onOutcome?: (o: Outcome) => void; shouldStop?: () => boolean } = {}): Promise<Stats> {
  const started = performance.now()
  const stats: Stats = { total: 0, failures: [], failureCount: 0, groups: new Map(), buckets: new Map(), confirmed: 0, overmatch: new Map(), ms: 0 }
  const iterator = source[Symbol.iterator]()
  const keep = options.keep ?? 200
  const worker = async (): Promise<void> => {
    for (;;) {
      if (options.shouldStop?.()) return
      const next = iterator.next()
      if (next.done) return
      const outcome = await runCase(next.value, options.socketPath)
      stats.total++
      const j = outcome.judgement
      stats.buckets.set(j.bucket, (stats.buckets.get(j.bucket) ?? 0) + 1)
      if (j.confirmed) stats.confirmed++
      if (j.overmatch) stats.overmatch.set(j.overmatch, (stats.overmatch.get(j.overmatch) ?? 0) + 1)
      if (j.failure) {
        stats.failureCount++
        if (stats.failures.length < keep) stats.failures.push(outcome)
        const key = failureKey(outcome)
        const group = stats.groups.get(key)
        if (group) group.count++
        else stats.groups.set(key, { count: 1, example: outcome })
      }
      options.onOutcome?.(outcome)
    }
  }
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker))
  stats.ms = performance.now() - started
  return stats
}

/** What went wrong, with the names left out. */
export function failureKey(o: Outcome): string {
  return (o.judgement.failure ?? '').replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
}

/** Failures grouped by what went wrong, largest first. */
export function groupFailures(failures: Outcome[]): [string, Outcome[]][] {
  const groups = new Map<string, Outcome[]>()
  for (const o of failures) {
    const key = failureKey(o)
    const list = groups.get(key) ?? []
    list.push(o)
    groups.set(key, list)
  }
  return [...groups.entries()].sort((a, b) => b[1].length - a[1].length)
}

export function summary(stats: Stats): string {
  const lines = [`${stats.total} cases in ${(stats.ms / 1000).toFixed(1)} s: ${stats.failureCount} failures, ${stats.confirmed} routed cases where dockerd's answer named the route or object and dockmoat agreed`]
  lines.push('dockerd category / dockmoat view:')
  for (const [bucket, n] of [...stats.buckets.entries()].sort((a, b) => b[1] - a[1])) lines.push(`  ${String(n).padStart(6)}  ${bucket}`)
  if (stats.overmatch.size > 0) {
    lines.push('dockmoat names a route dockerd 20.10 does not route (harmless over-matching):')
    for (const [route, n] of [...stats.overmatch.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12)) lines.push(`  ${String(n).padStart(6)}  ${route}`)
  }
  return lines.join('\n')
}

// ---------------------------------------------------------------------------------------
// End to end: the same bytes through a running dockmoat (every grant on). Whatever dockerd
// runs through dockmoat must be the route dockmoat classified, exactly as dockerd runs the
// target dockmoat says it forwards: Node's parser and undici must neither rewrite the
// target nor let another route run. (Refusals by Node's stricter parser are counted.)

export interface ProxyOutcome {
  c: Case
  view: DockmoatView
  proxied: Answer
  /** dockerd's answer to the target dockmoat forwards, asked directly. */
  direct?: Answer
  failure?: string
  kind: 'forwarded' | 'refused' | 'refused-but-dockerd-runs-it'
}

function ranInDockerd(a: Answer): boolean {
  return a.headers['api-version'] !== undefined || a.headers['content-type'] === 'application/vnd.docker.raw-stream'
}

export async function runThroughProxy(c: Case, port: number): Promise<ProxyOutcome> {
  const view = dockmoatView(c.method, c.target)
  const proxied = await ask(c.method, c.target, { port })
  if (view.kind !== 'route') {
    const out: ProxyOutcome = { c, view, proxied, kind: 'refused' }
    if (ranInDockerd(proxied)) out.failure = `dockmoat's classifier does not name a route (${view.kind}), yet dockerd answered through dockmoat: ${proxied.status} ${JSON.stringify(proxied.message.slice(0, 120))}`
    return out
  }
  let direct = await ask(c.method, view.forward)
  for (let retry = 0; retry < 2 && direct.status === 0; retry++) direct = await ask(c.method, view.forward)
  const directCategory = categorize(direct)
  if (!ranInDockerd(proxied)) {
    return { c, view, proxied, direct, kind: directCategory === 'routed' && c.method !== 'CONNECT' && view.route.section !== 'NEVER' ? 'refused-but-dockerd-runs-it' : 'refused' }
  }
  const out: ProxyOutcome = { c, view, proxied, direct, kind: 'forwarded' }
  const before = evidence(direct)
  const after = evidence(proxied)
  if (view.route.section === 'NEVER') {
    out.failure = `dockmoat forwarded ${view.route.method} ${view.route.template}, a route it never forwards`
  } else if (directCategory !== 'routed' && directCategory !== 'version-rejected') {
    out.failure = `through dockmoat dockerd answered ${proxied.status} ${JSON.stringify(proxied.message.slice(0, 120))}, but for ${JSON.stringify(view.forward)} it answers ${direct.status} (${directCategory})`
  } else if (before?.label !== after?.label || before?.name !== after?.name) {
    out.failure = `through dockmoat dockerd ran ${after?.label ?? 'a route'} ${JSON.stringify(after?.name ?? '')}, for ${JSON.stringify(view.forward)} itself ${before?.label ?? 'a route'} ${JSON.stringify(before?.name ?? '')}`
  } else {
    const j = judge({ ...c, target: view.forward }, view, proxied)
    if (j.failure) out.failure = `through dockmoat: ${j.failure}`
  }
  return out
}

export function describeProxied(o: ProxyOutcome, seed?: number): string {
  const v = o.view
  return [
    `${o.failure}`,
    `  request:  ${JSON.stringify(o.c.method)} ${JSON.stringify(o.c.target)}${seed !== undefined ? `   (seed ${seed}, case #${o.c.index})` : ''}`,
    `  dockmoat: ${v.kind === 'route' ? `${v.route.method} ${v.route.template}, forwards ${JSON.stringify(v.forward)}` : v.kind}`,
    `  proxied:  ${o.proxied.status} ${JSON.stringify(o.proxied.message.slice(0, 160))}`,
    ...(o.direct ? [`  direct:   ${o.direct.status} ${JSON.stringify(o.direct.message.slice(0, 160))}`] : []),
  ].join('\n')
}
