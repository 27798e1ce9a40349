// `dockmoat learn`: from dockmoat's own log lines (best from MODE=audit), the least
// configuration that would have allowed every call seen. Pure: lines in, text out.
import { alternatives, routeOf } from './policy.ts'
import type { Route } from './routes.ts'
import { TOGGLES, type Toggle } from './settings.ts'
import { isWithin } from './go-path.ts'
import { KNOWN_CAPABILITIES } from './capabilities.ts'

const REQUEST_MESSAGES = new Set(['request', 'refused', 'would be refused'])

/** What the log says was called: each route with its count, and the body grants used. */
interface Seen {
  routes: Map<Route, number>
  /** Body grants (`ALLOW_PRIVILEGED`, `ALLOW_BIND`) -> the calls that needed them, by route. */
  needs: Map<string, Map<Route, number>>
  /** List grants -> the values asked for (`ALLOW_BIND` -> `/srv/app`, ...). */
  values: Map<string, Set<string>>
  /** Calls no variable allows: unknown routes, `/debug/*`, bodies refused whatever the grants. */
  unallowable: Map<string, number>
  /** Values asked for that no variable can hold as asked (a bind path with a comma, an unknown capability). */
  unlearnable: Map<string, number>
  lines: number
  calls: number
  notJson: number
  foreign: number
  /** The same per client, when the lines say who asked (`cn`, or the POLICY_FILE `profile`). */
  clients: Map<string, Seen>
}

const empty = (): Seen => ({ routes: new Map(), needs: new Map(), values: new Map(), unallowable: new Map(), unlearnable: new Map(), lines: 0, calls: 0, notJson: 0, foreign: 0, clients: new Map() })

export function readLog(text: string): Seen {
  const seen = empty()
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue
    seen.lines++
    // `docker logs -t` and `docker-compose logs` put a timestamp or `name | ` first.
    const start = raw.indexOf('{')
    let line: Record<string, unknown>
    try {
      const parsed: unknown = start === -1 ? undefined : JSON.parse(raw.slice(start))
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object')
      line = parsed as Record<string, unknown>
    } catch {
      seen.notJson++
      continue
    }
    if (line.name !== 'dockmoat' || !REQUEST_MESSAGES.has(String(line.msg)) || typeof line.method !== 'string' || typeof line.path !== 'string') {
      seen.foreign++
      continue
    }
    const route = routeOf(line.method, line.path)
    // The line must name the route this build of dockmoat matches, or it is not ours to read.
    if ((route?.display ?? null) !== line.route) {
      seen.foreign++
      continue
    }
    record(seen, line, route)
    const who = typeof line.cn === 'string' ? `cn ${line.cn}` : typeof line.profile === 'string' ? `profile ${line.profile}` : undefined
    if (who !== undefined) {
      let client = seen.clients.get(who)
      if (client === undefined) seen.clients.set(who, (client = empty()))
      record(client, line, route)
    }
  }
  return seen
}

/** One call of the log. */
function record(seen: Seen, line: Record<string, unknown>, route: Route | undefined): void {
  seen.calls++
  const variables = Array.isArray(line.variables) ? line.variables : undefined
  if (route === undefined || route.section === 'NEVER' || (line.msg === 'refused' && line.status !== 403)) {
    count(seen.unallowable, route?.display ?? `${String(line.method)} ${String(line.path)} (no such route)`)
    return
  }
  // A refusal with no variable to name: no grant would have allowed this body.
  if (line.msg === 'refused' && variables !== undefined && variables.length === 0) {
    const reason = String(line.reason ?? 'refused')
    count(seen.unallowable, `${route.display} (${reason.slice(reason.indexOf('): ') + 3)})`)
    return
  }
  count(seen.routes, route)
  // A body dockerd refused gave nothing: its grants are not learned.
  if (line.msg !== 'refused' && typeof line.status === 'number' && line.status >= 400) return
  const needs = (Array.isArray(line.needs) ? line.needs : []).filter((need): need is string => typeof need === 'string' && learnable(seen, need))
  for (const need of needs) {
    const [name, value] = need.split(/=(.*)/s)
    if (value !== undefined) add(seen.values, name!, value)
  }
  for (const name of new Set(needs.map((need) => need.split('=')[0]!))) {
    let routes = seen.needs.get(name)
    if (routes === undefined) seen.needs.set(name, (routes = new Map()))
    count(routes, route)
  }
}

/**
 * A need is learned only as a value its variable holds unchanged: a bind path with a comma
 * or a control character (a newline would print lines of its own) or a name that is no
 * capability would grant something other than what was asked.
 */
function learnable(seen: Seen, need: string): boolean {
  const [name, value] = need.split(/=(.*)/s) as [string, string | undefined]
  const fits = value === undefined
    ? TOGGLES.some((toggle) => toggle.kind === 'guard' && toggle.name === name)
    : name === 'ALLOW_BIND' ? value.startsWith('/') && !/[,\x00-\x1f\x7f]/.test(value)
      : name === 'ALLOW_CAPS' && (value === 'ALL' || KNOWN_CAPABILITIES.has(value))
  if (!fits) count(seen.unlearnable, JSON.stringify(need))
  return fits
}

function add(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key)
  if (set === undefined) map.set(key, new Set([value]))
  else set.add(value)
}

function count<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

/** A variable to set, and the calls that needed it. */
export interface Suggestion { name: string; value: string; because: Map<Route, number> }

/**
 * The fewest grants under which every route seen has a way through (policy.ts
 * `alternatives`): routes with one way first, then each of the others by the way adding
 * the fewest variables (a single-action grant rather than POST=1 on a tie), then every
 * grant the others make redundant is dropped. Body grants are exactly those used.
 */
export function learn(seen: Seen): Suggestion[] {
  const routes = [...seen.routes.keys()]
  const chosen = new Set<Toggle>()
  const covered = (route: Route): Toggle[] | undefined => alternatives(route).find((way) => way.every((name) => chosen.has(name)))
  const byChoices = [...routes].sort((a, b) => alternatives(a).length - alternatives(b).length)
  for (const route of byChoices) {
    if (covered(route) !== undefined) continue
    const [best] = alternatives(route)
      .map((way) => ({ way, added: way.filter((name) => !chosen.has(name)) }))
      .sort((a, b) => a.added.length - b.added.length || Number(a.added.includes('POST')) - Number(b.added.includes('POST')))
    for (const name of best!.way) chosen.add(name)
  }
  for (const name of [...chosen].reverse()) {
    chosen.delete(name)
    if (!routes.every((route) => covered(route) !== undefined)) chosen.add(name)
  }

  const used: Suggestion[] = []
  const unusedDefaults: Suggestion[] = []
  for (const toggle of TOGGLES) {
    const because = new Map<Route, number>()
    if (toggle.kind === 'guard') {
      for (const [route, n] of seen.needs.get(toggle.name) ?? []) because.set(route, n)
    } else {
      for (const route of routes) if (covered(route)!.includes(toggle.name)) because.set(route, seen.routes.get(route)!)
    }
    if (because.size > 0) used.push({ name: toggle.name, value: '1', because })
    else if (toggle.default) unusedDefaults.push({ name: toggle.name, value: '0', because })
  }
  const binds = [...seen.values.get('ALLOW_BIND') ?? []]
  const narrowest = binds.filter((path) => !binds.some((other) => other !== path && isWithin(other, path))).sort()
  if (narrowest.length > 0) used.push({ name: 'ALLOW_BIND', value: narrowest.join(','), because: seen.needs.get('ALLOW_BIND')! })
  const caps = seen.values.get('ALLOW_CAPS')
  if (caps !== undefined) used.push({ name: 'ALLOW_CAPS', value: caps.has('ALL') ? 'ALL' : [...caps].sort().join(','), because: seen.needs.get('ALLOW_CAPS')! })
  return [...used, ...unusedDefaults]
}

const SHOWN_CALLS = 4

/** The suggestion as compose `environment:` lines, each after a comment naming the calls that needed it. */
export function renderLearned(seen: Seen, suggestions: Suggestion[]): string {
  const skipped = seen.notJson + seen.foreign
  const out = [
    `# dockmoat learn: ${seen.calls} calls in ${seen.lines} lines` +
      (skipped === 0 ? '' : ` (${skipped} skipped: ${seen.notJson} not JSON, ${seen.foreign} not dockmoat request lines)`),
  ]
  if (seen.calls === 0) {
    out.push('# no calls seen: nothing to grant. Give `learn` the log of a dockmoat that served the client (MODE=audit).')
    return out.join('\n') + '\n'
  }
  out.push('# The least configuration that would have allowed every call seen:', 'environment:')
  out.push(...variableLines(suggestions, '  ', (name, value) => `- ${name}=${value}`))
  if (seen.unallowable.size > 0) out.push(`# Also seen, and allowed by no variable: ${unallowable(seen)}`)
  if (seen.unlearnable.size > 0) out.push(`# Not learned, as no variable holds them as asked: ${[...seen.unlearnable].map(([what, n]) => `${what} ×${n}`).join(', ')}`)
  if (seen.clients.size > 0) {
    out.push('', '# One profile per client, for POLICY_FILE: the calls of each, learned alone.', 'profiles:')
    // POLICY_FILE refuses a name used twice: a CN's name gives way to a profile's and to an earlier CN's.
    const taken = new Set([...seen.clients.keys()].filter((who) => who.startsWith('profile ')).map((who) => who.slice('profile '.length)))
    for (const [who, calls] of seen.clients) {
      const [kind, name] = who.split(/ (.*)/s) as ['cn' | 'profile', string]
      out.push(`  - name: ${kind === 'profile' ? name : unique(profileName(name), taken)}`)
      // A CN with * or ? would be a glob in `match: cn`, matching others too.
      const exact = kind === 'cn' && !/[*?]/.test(name)
      out.push(exact ? `    match: { cn: ${JSON.stringify(name)} }` : `    match: TODO   # ${kind === 'cn' ? `the CN ${JSON.stringify(name)} would match as a glob: write its match by hand` : `copy the match of your profile ${name}`} (dockmoat refuses to start until you do)`)
      out.push('    env:', ...variableLines(learn(calls), '      ', (variable, value) => `${variable}: ${value}`))
      if (calls.unallowable.size > 0) out.push(`    # also seen, and allowed by no variable: ${unallowable(calls)}`)
    }
  }
  return out.join('\n') + '\n'
}

/** Each variable after a comment naming the calls that needed it. */
function variableLines(suggestions: Suggestion[], indent: string, line: (name: string, value: string) => string): string[] {
  return suggestions.flatMap(({ name, value, because }) => {
    const calls = [...because].sort((a, b) => b[1] - a[1])
    const shown = calls.slice(0, SHOWN_CALLS).map(([route, n]) => `${route.display} ×${n}`).join(', ')
    const more = calls.length > SHOWN_CALLS ? `, and ${calls.length - SHOWN_CALLS} more` : ''
    const warning = name === 'ALLOW_BIND' && value.split(',').includes('/') ? ' (/ allows any host path: look at these calls)' : ''
    return [`${indent}# ${calls.length === 0 ? 'not used (on by default)' : shown + more}${warning}`, indent + line(name, value)]
  })
}

function unallowable(seen: Seen): string {
  return [...seen.unallowable].map(([what, n]) => `${what} ×${n}`).join(', ')
}

/** `base`, or `base-2`, `base-3`... whichever is not taken yet (and is from now on). */
function unique(base: string, taken: Set<string>): string {
  let name = base
  for (let n = 2; taken.has(name); n++) name = `${base}-${n}`
  taken.add(name)
  return name
}

/** A CN as a profile name (letters, digits and _.-). */
function profileName(cn: string): string {
  return cn.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'client'
}
