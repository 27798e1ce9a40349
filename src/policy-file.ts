// POLICY_FILE read and checked whole at startup (and on SIGHUP): YAML in, the profiles
// (profiles.ts) out, or every problem, each with its line and key.
import fs from './node-fs.ts'
import { BlockList, isIP } from 'node:net'
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml'
import { closestVariable, ConfigError, parseConfig, SETTINGS, TOGGLES } from './settings.ts'
import { globToRegExp } from './images.ts'
import { substitute, type ListenerSpec, type Match, type PolicyFile, type Profile } from './profiles.ts'

/** The variables a profile may set: what decides a call. Where and how dockmoat runs stays the environment's. */
const PROCESS_SETTINGS = new Set(['SOCKET_PATH', 'LISTEN_ADDRESS', 'LISTEN_PORT', 'DISABLE_IPV6', 'LISTEN_SOCKET', 'LISTEN_SOCKET_MODE', 'LOG_LEVEL', 'SHUTDOWN_GRACE_MS', 'METRICS_LISTEN', 'TLS_CERT', 'TLS_KEY', 'TLS_CA', 'TLS_PORT', 'POLICY_FILE'])
const PROFILE_VARIABLES: ReadonlySet<string> = new Set([...TOGGLES.map((t) => t.name), ...SETTINGS.map((s) => s.name)].filter((name) => !PROCESS_SETTINGS.has(name)))
const MATCH_KEYS = ['cn', 'san', 'source', 'listener', 'container']

export class PolicyError extends Error {}

/** The file read and checked; a PolicyError names the file and says what is wrong. */
export function readPolicy(path: string): PolicyFile {
  let text: string
  try {
    text = fs.readFileSync(path, 'utf8')
  } catch (error) {
    throw new PolicyError(`POLICY_FILE=${path} cannot be read: ${(error as Error).message}`)
  }
  return parsePolicy(text, path)
}

/** The file checked whole; a PolicyError lists every problem, one per line, as `file:line: key: problem`. */
export function parsePolicy(text: string, file: string): PolicyFile {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false })
  const errors: string[] = []
  const at = (node: Node | null | undefined): number => (node?.range == null ? 1 : lines.linePos(node.range[0]).line)
  const fail = (node: Node | null | undefined, key: string, problem: string): void => { errors.push(`${file}:${at(node)}: ${key}: ${problem}`) }
  for (const error of doc.errors) errors.push(`${file}:${lines.linePos(error.pos[0]).line}: ${error.message.split('\n')[0]}`)
  if (errors.length > 0) throw new PolicyError(errors.join('\n'))

  const root = doc.contents
  const policy: PolicyFile = { profiles: [], listeners: [], unmatched: 'refuse', usesContainers: false }
  // Listeners named by profiles, checked once every listener is known.
  const named: { node: Node | null; where: string; name: string }[] = []
  if (!isMap(root)) throw new PolicyError(`${file}:${at(root)}: the file must be a mapping with a profiles: list`)
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : ''
    const value = pair.value as Node | null
    if (key === 'unmatched') {
      const given = isScalar(value) ? String(value.value) : ''
      if (given === 'refuse' || given === 'environment') policy.unmatched = given
      else fail(value, 'unmatched', `${JSON.stringify(given)} is not one of refuse (the default), environment`)
    } else if (key === 'listeners') {
      if (!isSeq(value)) {
        fail(value, 'listeners', 'must be a list of listeners (- name: ..., port: ... or socket: ...)')
        continue
      }
      value.items.forEach((item, i) => {
        const listener = parseListener(item as Node, `listeners[${i}]`, fail)
        if (listener === undefined) return
        if (['plain', 'tls', ...policy.listeners.map((l) => l.name)].includes(listener.name)) fail(item as Node, `listeners[${i}].name`, `${JSON.stringify(listener.name)} is taken (plain and tls are the environment's listeners)`)
        policy.listeners.push(listener)
      })
    } else if (key === 'profiles') {
      if (!isSeq(value)) {
        fail(value, 'profiles', 'must be a list of profiles (- name: ...)')
        continue
      }
      value.items.forEach((item, i) => {
        const profile = parseProfile(item as Node, `profiles[${i}]`, fail, (node, where, name) => named.push({ node, where, name }))
        if (profile === undefined) return
        if (policy.profiles.some((p) => p.name === profile.name)) fail(item as Node, `profiles[${i}].name`, `${JSON.stringify(profile.name)} is used twice`)
        policy.profiles.push(profile)
      })
    } else {
      fail(pair.key as Node, key, 'is not a key of the policy file; use profiles:, listeners: and unmatched:')
    }
  }
  const listenerNames = ['plain', 'tls', ...policy.listeners.map((l) => l.name)]
  for (const { node, where, name } of named) {
    if (!listenerNames.includes(name)) fail(node, where, `${JSON.stringify(name)} is not a listener; use ${listenerNames.join(', ')}`)
  }
  if (!root.items.some((pair) => isScalar(pair.key) && pair.key.value === 'profiles')) errors.push(`${file}:1: profiles: missing; list at least one profile`)
  if (errors.length > 0) throw new PolicyError(errors.join('\n'))
  policy.usesContainers = policy.profiles.some((profile) => profile.match.container !== undefined)
  return policy
}

type Fail = (node: Node | null | undefined, key: string, problem: string) => void

function parseListener(node: Node, where: string, fail: Fail): ListenerSpec | undefined {
  if (!isMap(node)) {
    fail(node, where, 'must be a mapping: name:, and port: (with address:) or socket: (with mode:)')
    return undefined
  }
  const get = (key: string): string | undefined => {
    const value = node.get(key, true) as Node | undefined
    return isScalar(value) && value.value !== null ? String(value.value) : undefined
  }
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : ''
    if (!['name', 'port', 'address', 'socket', 'mode'].includes(key)) fail(pair.key as Node, `${where}.${key}`, 'is not a key of a listener; use name:, port:, address:, socket:, mode:')
  }
  const name = get('name')
  if (name === undefined || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    fail(node, `${where}.name`, 'must be a name of letters, digits and _.-')
    return undefined
  }
  const socket = get('socket')
  const port = get('port')
  if ((socket === undefined) === (port === undefined)) {
    fail(node, where, 'needs exactly one of port: (TCP) or socket: (a unix socket path)')
    return undefined
  }
  const env = socket === undefined
    ? { LISTEN_PORT: port, ...(get('address') === undefined ? {} : { LISTEN_ADDRESS: get('address') }) }
    : { LISTEN_SOCKET: socket, ...(get('mode') === undefined ? {} : { LISTEN_SOCKET_MODE: get('mode') }) }
  try {
    return { name, ...parseConfig(env).listen }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    fail(node, where, error.message.replace(/LISTEN_(SOCKET_MODE|SOCKET|PORT|ADDRESS)/g, (_, what: string) => ({ SOCKET_MODE: 'mode', SOCKET: 'socket', PORT: 'port', ADDRESS: 'address' })[what]!))
    return undefined
  }
}

type NamesListener = (node: Node | null, where: string, name: string) => void

function parseProfile(node: Node, where: string, fail: Fail, namesListener: NamesListener): Profile | undefined {
  if (!isMap(node)) {
    fail(node, where, 'must be a mapping with name:, match: and env:')
    return undefined
  }
  let name: string | undefined
  let match: Match = {}
  const env: Record<string, string> = {}
  let valuesValid = true
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : ''
    const value = pair.value as Node | null
    if (key === 'name') {
      name = isScalar(value) ? String(value.value) : undefined
      if (name === undefined || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) fail(value, `${where}.name`, 'must be a name of letters, digits and _.-')
    } else if (key === 'match') {
      match = parseMatch(value, `${where}.match`, fail, namesListener)
    } else if (key === 'env') {
      if (!isMap(value)) {
        fail(value, `${where}.env`, 'must be a mapping of variables, such as CONTAINERS: 1')
        continue
      }
      for (const item of value.items) {
        const variable = isScalar(item.key) ? String(item.key.value) : ''
        const valueNode = item.value as Node | null
        const at = `${where}.env.${variable}`
        if (!PROFILE_VARIABLES.has(variable)) {
          const suggestion = closestVariable(variable)
          fail(item.key as Node, at, PROCESS_SETTINGS.has(variable) ? 'is where and how dockmoat runs, set once in the environment, not per profile' : `is not a dockmoat variable${suggestion === undefined || PROCESS_SETTINGS.has(suggestion) ? '' : `; did you mean ${suggestion}?`}`)
          continue
        }
        if (!isScalar(valueNode) || valueNode.value === null || typeof valueNode.value === 'object') {
          fail(valueNode ?? (item.key as Node), at, 'must be a single value, such as 1 or /srv/app')
          continue
        }
        env[variable] = String(valueNode.value)
        // Each value alone, with the substitutions filled in, so the error names its line.
        const problem = configProblem({ [variable]: substitute(env[variable]!, 'cn', 'profile') })
        if (problem !== undefined && !/need[s]? OWNER/.test(problem)) {
          fail(valueNode, at, problem)
          valuesValid = false
        }
      }
    } else {
      fail(pair.key as Node, `${where}.${key}`, 'is not a key of a profile; use name:, match: and env:')
    }
  }
  if (name === undefined) {
    fail(node, `${where}.name`, 'missing')
    return undefined
  }
  // Then together (OWNER_LABEL needs OWNER...), once each value is valid alone.
  const whole = !valuesValid ? undefined : configProblem(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, substitute(v, 'cn', name!)])))
  if (whole !== undefined) fail(node, `${where}.env`, whole)
  return { name, match, env }
}

function parseMatch(node: Node | null, where: string, fail: Fail, namesListener: NamesListener): Match {
  const match: Match = {}
  if (!isMap(node)) {
    fail(node, where, `must be a mapping of ${MATCH_KEYS.join(', ')}`)
    return match
  }
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : ''
    const value = pair.value as Node | null
    const values = isSeq(value) ? value.items : [value]
    const texts = values.map((item) => (isScalar(item) && item.value !== null ? String(item.value) : undefined))
    if (texts.includes(undefined) || texts.length === 0) {
      fail(value, `${where}.${key}`, 'must be a value or a list of values')
      continue
    }
    const list = texts as string[]
    if (key === 'cn' || key === 'san' || key === 'container') match[key] = list.map(globToRegExp)
    else if (key === 'listener') {
      match.listener = list
      for (const name of list) namesListener(value, `${where}.listener`, name)
    }
    else if (key === 'source') {
      const blocks = new BlockList()
      for (const source of list) {
        const [address, bits] = source.split('/')
        const family = isIP(address ?? '')
        const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits)
        if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
          fail(value, `${where}.source`, `${JSON.stringify(source)} is not an address or CIDR such as 10.0.0.0/8 or fd00::/8`)
          continue
        }
        blocks.addSubnet(address!, prefix, family === 6 ? 'ipv6' : 'ipv4')
      }
      match.source = blocks
    } else fail(pair.key as Node, `${where}.${key}`, `is not a match key; use ${MATCH_KEYS.join(', ')}`)
  }
  return match
}


function configProblem(env: Record<string, string>): string | undefined {
  try {
    parseConfig(env)
    return undefined
  } catch (error) {
    if (error instanceof ConfigError) return error.message
    throw error
  }
}


