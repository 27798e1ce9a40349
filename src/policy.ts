// The decision: a pure function from (method, request-target, grants) to allow or
// refuse, with the route dockerd would run and the reason in words; then the body
// guard's verdict on what the request asks for (guard/inspect.ts).

import { matchRoute, routeParams, type Route } from './routes.ts'
import { deriveTarget } from './target.ts'
import { setQuery } from './query.ts'
import { TOGGLES, type Toggle } from './settings.ts'
import { inspectBody, inspectHead, inspectorFor, judgeResolved, type GuardPolicy, type GuardRefusal, type GuardVerdict, type HostPath, type Subject } from './guard/inspect.ts'

export { appendMembers } from './guard/inspect.ts'

export type Grants = Readonly<Record<Toggle, boolean>>

export type Decision =
  | {
    allow: true; route: Route; forward: string; reason: string; readBody?: boolean; hostPaths?: readonly HostPath[]
    /** JSON members to append to the body's top-level object before forwarding it. */
    appendToBody?: string
    /** What the body asked for that needs a grant (`ALLOW_BIND=/srv/app`, `ALLOW_PRIVILEGED`), granted or not: for `dockmoat learn`. */
    needs?: readonly string[]
    /** MODE=audit: the refusal the configuration would have given, had it been enforced. */
    wouldRefuse?: Refusal
    /** The image and command of a create or exec, for the log. */
    subject?: Subject
  }
  | Refusal

export interface Refusal {
  allow: false
  status: number
  route?: Route
  reason: string
  /** The variables that would allow the call (`CONTAINERS`, `POST`; `ALLOW_BIND`); none for what no variable allows. */
  variables?: readonly string[]
  /** As on an allowed decision: every grant the body asked for, and what it would have run. */
  needs?: readonly string[]
  subject?: Subject
}

/**
 * The route and grants, then what the guard sees without the body (build options,
 * BuildKit, plugin installs). `readBody` says the body must be read whole and judged by
 * `decideBody` before anything is forwarded.
 */
export function decideRequest(method: string, rawTarget: string, contentType: string | undefined, policy: GuardPolicy): Decision {
  const decision = gate(method, rawTarget, policy)
  if (!decision.allow) return decision
  const inspector = inspectorFor(decision.route)
  if (inspector === undefined) return decision
  const question = decision.forward.indexOf('?')
  const params = (): readonly string[] => {
    const target = deriveTarget(rawTarget)
    return (target.ok ? routeParams(decision.route, target.path)?.params : undefined) ?? []
  }
  const verdict = inspectHead(inspector, question === -1 ? '' : decision.forward.slice(question + 1), contentType, policy, params)
  if (!verdict.allow) return refusedByGuard(method, rawTarget, decision.route, verdict)
  const query = verdict.rewrite?.query
  const forward = query === undefined ? decision.forward : `${decision.forward.slice(0, question === -1 ? undefined : question)}?${setQuery(question === -1 ? '' : decision.forward.slice(question + 1), query)}`
  const reason = query === undefined ? decision.reason : `${decision.reason}; forwarded with ${Object.entries(query).map(([k, v]) => `${k}=${v}`).join(' ')}`
  const judged = withVerdict(method, rawTarget, { ...decision, forward, reason }, verdict)
  return inspector.body === undefined ? judged : { ...judged, readBody: true }
}

/** The guard's verdict on a whole body, for a decision that asked for it. */
export function decideBody(method: string, rawTarget: string, decision: Decision & { allow: true }, body: Uint8Array, policy: GuardPolicy): Decision {
  const verdict = inspectBody(inspectorFor(decision.route)!, body, policy)
  if (!verdict.allow) return refusedByGuard(method, rawTarget, decision.route, verdict)
  const members = verdict.rewrite?.members?.join(',')
  return withVerdict(method, rawTarget, {
    ...decision,
    ...(verdict.hostPaths === undefined ? {} : { hostPaths: verdict.hostPaths }),
    ...(members === undefined ? {} : { appendToBody: members, reason: `${decision.reason}; forwarded with ${members} appended` }),
  }, verdict)
}

/** The verdict on a decision's host paths once they were resolved through symlinks. */
export function decideResolved(method: string, rawTarget: string, decision: Decision & { allow: true }, resolved: readonly (string | undefined)[], roots: readonly string[], policy: GuardPolicy): Decision {
  const verdict = judgeResolved(decision.hostPaths ?? [], resolved, roots, policy)
  return verdict.allow ? withVerdict(method, rawTarget, decision, verdict) : refusedByGuard(method, rawTarget, decision.route, verdict)
}

function refusedByGuard(method: string, rawTarget: string, route: Route, verdict: GuardRefusal): Refusal {
  return { allow: false, status: verdict.status, route, reason: `dockmoat refused ${method} ${rawTarget} (${route.display}): ${verdict.reason}`, variables: verdict.variables,
    ...(verdict.needs === undefined ? {} : { needs: verdict.needs }),
    ...(verdict.subject === undefined ? {} : { subject: verdict.subject }),
  }
}

/** An allowed decision with what the guard saw: the grants used, and what audit mode waived. */
function withVerdict(method: string, rawTarget: string, decision: Decision & { allow: true }, verdict: GuardVerdict & { allow: true }): Decision & { allow: true } {
  const needs = verdict.needs === undefined ? decision.needs : [...new Set([...(decision.needs ?? []), ...verdict.needs])]
  const waived = verdict.wouldRefuse === undefined ? undefined : refusedByGuard(method, rawTarget, decision.route, verdict.wouldRefuse)
  const earlier = decision.wouldRefuse
  const wouldRefuse = waived === undefined ? earlier : earlier === undefined ? waived : {
    ...earlier, reason: `${earlier.reason}; and ${verdict.wouldRefuse!.reason}`, variables: [...new Set([...(earlier.variables ?? []), ...waived.variables!])],
  }
  return {
    ...decision,
    ...(needs === undefined ? {} : { needs }),
    ...(wouldRefuse === undefined ? {} : { wouldRefuse }),
    ...(verdict.subject === undefined ? {} : { subject: verdict.subject }),
  }
}

const EVERY_GRANT: Grants = Object.fromEntries(TOGGLES.map((t) => [t.name, true])) as Record<Toggle, boolean>

/**
 * The route and the grants. MODE=audit forwards what only a grant refused, as if every
 * grant were set, and keeps the refusal to report; what no grant allows (unknown routes,
 * `/debug/*`, a malformed target) stays refused.
 */
function gate(method: string, rawTarget: string, policy: GuardPolicy): Decision {
  const decision = decide(method, rawTarget, policy.grants)
  if (decision.allow || policy.mode !== 'audit' || (decision.variables ?? []).length === 0) return decision
  const granted = decide(method, rawTarget, EVERY_GRANT)
  return granted.allow ? { ...granted, wouldRefuse: decision } : decision
}

/** Whether dockerd may hijack the connection for this request (whatever the grants). */
/** The route dockerd runs for this request, whatever the grants; undefined when none. */
export function routeOf(method: string, rawTarget: string): Route | undefined {
  const target = deriveTarget(rawTarget)
  if (!target.ok) return undefined
  const match = matchRoute(method, target.path)
  return match.kind === 'route' ? match.route : undefined
}

export function isHijackRoute(method: string, rawTarget: string): boolean {
  return routeOf(method, rawTarget)?.hijack === true
}

/** Each inner list is one way to be allowed: every variable in it must be on. */
export function alternatives(route: Route): Toggle[][] {
  if (route.section === 'NEVER') return []
  const viaSection: Toggle[] = [route.section, ...(route.write ? ['POST' as const] : []), ...route.extras]
  return [viaSection, ...route.actions.map((action) => [action])]
}

export function decide(method: string, rawTarget: string, grants: Grants): Decision {
  const refused = `dockmoat refused ${method} ${rawTarget}`
  const target = deriveTarget(rawTarget)
  if (!target.ok) return { allow: false, status: 400, reason: `${refused}: ${target.problem}` }

  const match = matchRoute(method, target.path)
  if (match.kind === 'none') {
    return { allow: false, status: 403, reason: `${refused}: no Docker Engine API route has this path, and dockmoat forwards only dockerd's routes` }
  }
  if (match.kind === 'method') {
    return { allow: false, status: 403, reason: `${refused}: dockerd has no ${method} route for this path (only ${match.methods.join(', ')})` }
  }

  const route = match.route
  const shown = route.display
  if (route.section === 'NEVER') {
    const why = route.method === 'OPTIONS'
      ? 'OPTIONS does nothing in dockerd and is never forwarded'
      : 'debug endpoints expose the daemon\'s memory and command line and are never forwarded'
    return { allow: false, status: 403, route, reason: `${refused} (${shown}): ${why}` }
  }

  const verdict = verdictFor(route, grants)
  if (verdict.allow) return { allow: true, route, forward: target.forward, reason: verdict.reason }
  return { allow: false, status: 403, route, reason: `${refused} (${shown}): ${verdict.reason}`, variables: verdict.missing }
}

interface Verdict { allow: boolean; reason: string; missing?: readonly string[] }

// What a route needs depends only on the route and the grants, which are fixed for a
// run: worked out once per route, not as garbage on every request.
const verdicts = new WeakMap<Grants, Map<Route, Verdict>>()
function verdictFor(route: Route, grants: Grants): Verdict {
  let known = verdicts.get(grants)
  if (known === undefined) verdicts.set(grants, (known = new Map()))
  let verdict = known.get(route)
  if (verdict === undefined) known.set(route, (verdict = judge(route, grants)))
  return verdict
}

function judge(route: Route, grants: Grants): Verdict {
  const ways = alternatives(route)
  const granted = ways.find((way) => way.every((name) => grants[name]))
  if (granted !== undefined) return { allow: true, reason: `${route.display} allowed by ${granted.map((n) => `${n}=1`).join(' + ')}` }
  const options = ways.map((way) => {
    const missing = way.filter((name) => !grants[name])
    const present = way.filter((name) => grants[name])
    return missing.map((n) => `${n}=1`).join(' and ') + (present.length > 0 ? ` (${present.map((n) => `${n}=1`).join(', ')} already set)` : '')
  })
  return { allow: false, reason: `set ${options.join(', or ')}`, missing: ways[0]!.filter((name) => !grants[name]) }
}
