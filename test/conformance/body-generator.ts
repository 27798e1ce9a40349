// A seeded generator of request BODIES for the body oracle (body-oracle.ts): container
// create, exec create and volume create bodies, written as raw JSON text so that they
// can hold what JSON.stringify never writes and Go's encoding/json still reads
// (body-facts §4):
//   - keys in any case, with `ſ` (U+017F) for s and `K` (U+212A, Kelvin) for k, and
//     with `\uXXXX` escapes (`"\u0050rivileged"`): Go folds them all onto the field;
//   - lookalike keys that Go does NOT fold (dotless `ı`, `İ`, Cyrillic and Greek
//     letters, fullwidth letters, a zero-width space, a trailing space), holding the
//     values an attacker would want applied;
//   - the same field twice (last wins), `null` after a value (a no-op on scalars and
//     structs, a reset on slices, maps and pointers);
//   - the judged fields: Privileged, Binds, Mounts, VolumesFrom, the namespace modes,
//     CapAdd/CapDrop, SecurityOpt, MaskedPaths/ReadonlyPaths, Devices, DeviceCgroupRules,
//     NetworkingConfig.EndpointsConfig; exec Privileged and User; volume Name, Driver,
//     DriverOpts;
//   - 20.10's top-level HostConfig fields, with and without a `HostConfig` key,
//     `"HostConfig":null` between two HostConfigs, duplicate HostConfig objects merging;
//   - duplicate `Binds`/`Mounts`/`Devices` arrays of different lengths (a later array
//     decodes into the backing array of the earlier one: reflect keeps elements beyond
//     the length, and a `null` element leaves one as it was), duplicate `DriverOpts`
//     and `Options` maps merging, `NetworkingConfig.EndpointsConfig` keys;
//   - type mismatches (`"Privileged":"true"`), a few syntax errors, and leading and
//     trailing whitespace.
// Everything is deterministic: case `i` of seed `s` is always the same body for the
// same names (`bodyCaseAt(seed, i, names)`), so a failure is replayed from its seed and
// index alone.
//
// SAFETY. The bodies are sent to the real dockerd, which creates containers, execs and
// volumes from them, and nothing is ever started (but the helper the oracle runs for
// exec), so binds of `/`, devices and privileges never take effect; local volumes are
// mounted only on first use, which never comes. Every object a body can create is named
// with `names.prefix` (containers by the oracle, volumes in the body), anonymous volumes
// die with their container, exec instances with the helper; volume drivers are only ""
// and "local" (an unknown driver is a 30 s plugin lookup), and `container:` modes and
// VolumesFrom name only the helper (which has no mounts).

import { Rng, mix } from './generator.ts'
import { TEST_IMAGE } from '../helpers/docker.ts'

export type BodyKind = 'create' | 'exec' | 'volume'

/** The names a run gives its objects; they are written into the bodies. */
export interface BodyNames {
  /** Every object a body may create starts with it, e.g. `dm-oracle-1234-a1b2-`. */
  prefix: string
  /** The running helper container (exec target, `container:` modes): name and full id. */
  helper: string
  helperId: string
  image: string
}

export const DEFAULT_NAMES: BodyNames = {
  prefix: 'dm-oracle-0-',
  helper: 'dm-oracle-0-helper',
  helperId: '0'.repeat(64),
  image: TEST_IMAGE,
}

export interface BodyCase {
  /** Index within the seed. */
  index: number
  kind: BodyKind
  /** The body exactly as sent, as text (sent UTF-8 encoded). */
  body: string
  /** The tricks the body plays, for reports and coverage. */
  tricks: string[]
  /** The container name (`?name=`) for a create; '' otherwise. */
  name: string
  /** Every named volume the body may make dockerd create (removed after the case). */
  volumes: string[]
}

/** Case `index` of `seed`: the same body on every call for the same names. */
export function bodyCaseAt(seed: number, index: number, names: BodyNames = DEFAULT_NAMES): BodyCase {
  const rng = new Rng(mix(seed, index, 0xb0d1e5))
  const kind = rng.weighted<BodyKind>([[70, 'create'], [15, 'exec'], [15, 'volume']])
  const w = new Writer(rng, names, index)
  let body = kind === 'create' ? createBody(w) : kind === 'exec' ? execBody(w) : volumeBody(w)
  body = frame(w, body)
  return { index, kind, body, tricks: [...w.tricks].sort(), name: kind === 'create' ? `${names.prefix}c${index}` : '', volumes: w.volumes }
}

/** Cases `start`, `start + 1`, ... of `seed`. */
export function* bodyCases(seed: number, count: number, names: BodyNames = DEFAULT_NAMES, start = 0): Generator<BodyCase> {
  for (let i = start; i < start + count; i++) yield bodyCaseAt(seed, i, names)
}

// ---------------------------------------------------------------------------------------
// Writing JSON text

/** Non-folding stand-ins for ASCII letters: Go's fold maps none of them onto a-z. */
const LOOKALIKES: Record<string, string[]> = {
  i: ['\u0131', '\u0456', '\u00ec'], I: ['\u0130', '\u0406', '\u00cc'],
  o: ['\u043e', '\u03bf'], O: ['\u041e', '\u039f'], e: ['\u0435'], E: ['\u0415'], a: ['\u0430'], A: ['\u0410'],
  c: ['\u0441'], C: ['\u0421'], p: ['\u0440'], P: ['\u0420'], s: ['\u0455', '\u00df'], S: ['\u0405'],
  k: ['\u03ba', '\u043a'], K: ['\u039a', '\u041a'], d: ['\u0501'], n: ['\u0578'], M: ['\u041c'], B: ['\u0392'],
}

export class Writer {
  readonly tricks = new Set<string>()
  readonly volumes: string[] = []
  private destination = 0
  readonly rng: Rng
  readonly names: BodyNames
  readonly index: number
  constructor(rng: Rng, names: BodyNames, index: number) {
    this.rng = rng
    this.names = names
    this.index = index
  }

  tag(trick: string): void {
    this.tricks.add(trick)
  }

  /** Whitespace between tokens: usually none. */
  ws(): string {
    return this.rng.chance(0.8) ? '' : this.rng.pick([' ', '  ', '\n', '\t', '\r\n', ' \n\t '])
  }

  /** A JSON string literal for `value`, with escapes that do not change what it decodes to. */
  str(value: string, rate = 0.02): string {
    const rng = this.rng
    let out = '"'
    for (const ch of value) {
      const code = ch.codePointAt(0)!
      if (ch === '"' || ch === '\\') out += rng.chance(0.2) ? `\\u${hex4(rng, code)}` : `\\${ch}`
      else if (code < 0x20) out += ({ 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' } as Record<number, string>)[code] ?? `\\u${hex4(rng, code)}`
      else if (code > 0xffff) out += ch
      else if (rng.chance(rate)) {
        out += `\\u${hex4(rng, code)}`
        this.tag('escape')
      } else if (ch === '/' && rng.chance(0.05)) out += '\\/'
      else out += ch
    }
    return `${out}"`
  }

  /** A key that Go's encoding/json matches to the struct field `name`. */
  key(name: string): string {
    const rng = this.rng
    const how = rng.weighted([[12, 'exact'], [3, 'lower'], [2, 'upper'], [2, 'mixed'], [2, 'long-s'], [2, 'kelvin'], [2, 'escaped-key']] as const)
    switch (how) {
      case 'exact': return this.str(name, 0.01)
      case 'lower': this.tag('key-case'); return this.str(name.toLowerCase())
      case 'upper': this.tag('key-case'); return this.str(name.toUpperCase())
      case 'mixed': {
        this.tag('key-case')
        return this.str([...name].map((c) => (rng.chance(0.5) ? c.toLowerCase() : c.toUpperCase())).join(''))
      }
      case 'long-s':
      case 'kelvin': {
        const letter = how === 'long-s' ? /s/i : /k/i
        const positions = [...name].flatMap((c, i) => (letter.test(c) ? [i] : []))
        if (positions.length === 0) return this.str(name, 0.02)
        const at = new Set(positions.filter(() => rng.chance(0.6)))
        if (at.size === 0) at.add(rng.pick(positions))
        this.tag(how)
        const replaced = [...name].map((c, i) => (at.has(i) ? (how === 'long-s' ? '\u017f' : '\u212a') : c)).join('')
        // Either raw UTF-8 or as a `\u` escape: Go decodes the escape before it matches.
        return this.str(replaced, rng.chance(0.3) ? 1 : 0)
      }
      case 'escaped-key': {
        this.tag('escaped-key')
        const at = rng.int(name.length)
        return this.str(name.slice(0, at), 0.2).slice(0, -1) + `\\u${hex4(rng, name.charCodeAt(at))}` + this.str(name.slice(at + 1), 0.2).slice(1)
      }
    }
  }

  /** A key that looks like `name` but that Go matches to no field: its value goes nowhere. */
  decoy(name: string): string {
    const rng = this.rng
    this.tag('lookalike')
    const chars = [...name]
    const how = rng.weighted([[6, 'letter'], [1, 'zero-width'], [1, 'space'], [1, 'fullwidth']] as const)
    if (how === 'letter') {
      const candidates = chars.flatMap((c, i) => (LOOKALIKES[c] ? [i] : []))
      if (candidates.length > 0) {
        const at = rng.pick(candidates)
        chars[at] = rng.pick(LOOKALIKES[chars[at]!]!)
        if (chars[at] === '\u0131') this.tag('dotless-i')
        return this.str(chars.join(''), rng.chance(0.2) ? 1 : 0.02)
      }
    }
    if (how === 'zero-width') return this.str(`${name.slice(0, 3)}\u200b${name.slice(3)}`)
    if (how === 'space') return this.str(rng.chance(0.5) ? `${name} ` : ` ${name}`)
    // Fullwidth letters (U+FF21...) fold among themselves, never onto ASCII.
    const first = name.charCodeAt(0)
    return this.str(String.fromCharCode(first + 0xfee0) + name.slice(1))
  }

  member(key: string, value: string): string {
    return `${this.ws()}${key}${this.ws()}:${this.ws()}${value}${this.ws()}`
  }

  object(members: readonly string[]): string {
    return members.length === 0 ? `{${this.ws()}}` : `{${members.join(',')}}`
  }

  array(items: readonly string[]): string {
    return items.length === 0 ? `[${this.ws()}]` : `[${items.map((item) => `${this.ws()}${item}${this.ws()}`).join(',')}]`
  }

  /** A fresh absolute mount destination: every generated Binds/Mounts element has its own. */
  target(): string {
    return `/dmo${++this.destination}`
  }

  /** A fresh named volume, recorded for removal. */
  volume(): string {
    const name = `${this.names.prefix}c${this.index}-v${this.volumes.length}`
    this.volumes.push(name)
    return name
  }
}

function hex4(rng: Rng, code: number): string {
  const hex = code.toString(16).padStart(4, '0')
  return rng.chance(0.5) ? hex : hex.toUpperCase()
}

/** Merges member lists in a random order that keeps the order within each list. */
function interleave(rng: Rng, ...lists: string[][]): string[] {
  const queues = lists.map((list) => [...list]).filter((list) => list.length > 0)
  const out: string[] = []
  while (queues.length > 0) {
    const i = rng.int(queues.length)
    out.push(queues[i]!.shift()!)
    if (queues[i]!.length === 0) queues.splice(i, 1)
  }
  return out
}

/** Leading and trailing whitespace, and now and then a syntax error. */
function frame(w: Writer, body: string): string {
  const rng = w.rng
  if (rng.chance(0.03)) {
    w.tag('syntax')
    const breakage = rng.pick([
      (b: string) => b.replace(/\}\s*$/, ',}'),
      (b: string) => b.replace(/\}\s*$/, ''),
      (b: string) => `\ufeff${b}`,
      (b: string) => b.replace(/^\{/, "{'Tty':false,"),
      (b: string) => b.replace(/^\{/, '{"Tty":tRue,'),
      (b: string) => b.replace(/^\{/, '{"Env":["A=\t1"],'),
      (b: string) => b.replace(/^\{/, '{"Memory":NaN,'),
      (b: string) => b.replace(/^\{/, '{/* x */'),
      (b: string) => b.replace(/^\{/, '{"Tty":false,,'),
      (b: string) => b.replace(/^\{/, '{"Env":["\\x41"],'),
    ])
    body = breakage(body)
  }
  if (rng.chance(0.1)) {
    w.tag('leading-whitespace')
    body = rng.pick([' ', '\n', '\r\n', '\t ']) + body
  }
  if (rng.chance(0.2)) {
    w.tag('trailing-whitespace')
    body += rng.pick([' ', '\n', '\r\n', '\t', '  \n\n', '\n\t \r\n'])
  }
  return body
}

// ---------------------------------------------------------------------------------------
// Field values

/** Options the local driver accepts at create (validOpts and mandatoryOpts of 20.10). */
const LOCAL_OPTIONS: readonly (readonly [string, string][])[] = [
  [['type', 'tmpfs'], ['device', 'tmpfs']],
  [['type', 'tmpfs'], ['device', 'tmpfs'], ['o', 'size=1m']],
  [['type', 'tmpfs'], ['device', 'tmpfs'], ['o', 'size=1m,uid=1000']],
  [['type', 'none'], ['device', '/'], ['o', 'bind']],
  [['type', 'none'], ['device', '/tmp'], ['o', 'rbind,ro']],
  [['type', 'none'], ['device', '/etc'], ['o', 'BIND']],
  [['type', 'ext4'], ['device', '/dev/zq-nothing']],
  [['type', 'none'], ['device', '/x/../'], ['o', ' bind ']],
  [],
]

/** A local-driver options map, written as one or more objects under `key` that merge into it. */
function optionsMembers(w: Writer, key: () => string, depthTag: string): string[] {
  const rng = w.rng
  const chosen = [...rng.pick(LOCAL_OPTIONS)]
  const entry = ([k, v]: readonly [string, string]): string => w.member(w.str(k, 0.05), w.str(v))
  const shape = rng.weighted([[6, 'one'], [3, 'split'], [1, 'null-between'], [1, 'override'], [1, 'null'], [1, 'duplicate-key']] as const)
  if (shape === 'one' || chosen.length === 0) return [w.member(key(), w.object(chosen.map(entry)))]
  if (shape === 'duplicate-key') {
    // One key twice in one object: the last wins (map keys are exact, no fold).
    w.tag(`${depthTag}-duplicate-key`)
    const [k] = rng.pick(chosen)
    return [w.member(key(), w.object([entry([k, 'zq-first']), ...chosen.map(entry)]))]
  }
  if (shape === 'null') {
    w.tag(`${depthTag}-null`)
    return [w.member(key(), w.object(chosen.map(entry))), w.member(key(), 'null')]
  }
  if (shape === 'split') {
    // {type} then {device, o}: Go keeps the map and adds to it.
    w.tag(`${depthTag}-merge`)
    const cut = 1 + rng.int(chosen.length)
    const parts = [chosen.slice(0, cut), chosen.slice(cut)].filter((p) => p.length > 0)
    return parts.map((part) => w.member(key(), w.object(part.map(entry))))
  }
  if (shape === 'override') {
    // An earlier value for a key, replaced by the later map.
    w.tag(`${depthTag}-merge`)
    const [k] = rng.pick(chosen)
    return [w.member(key(), w.object([entry([k, 'zq-replaced'])])), w.member(key(), w.object(chosen.map(entry)))]
  }
  // Junk the null clears: only the later map counts.
  w.tag(`${depthTag}-null-between`)
  return [
    w.member(key(), w.object([entry(['Type', 'zq']), entry(['device', '/'])])),
    w.member(key(), 'null'),
    w.member(key(), w.object(chosen.map(entry))),
  ]
}

function bindString(w: Writer): string {
  const rng = w.rng
  const d = w.target()
  const how = rng.weighted([[6, 'host'], [2, 'volume'], [1, 'anonymous']] as const)
  if (how === 'anonymous') return w.str(d)
  if (how === 'volume') return w.str(`${w.volume()}:${d}${rng.pick(['', '', ':ro', ':nocopy', ':rw,nocopy'])}`)
  const source = rng.pick(['/tmp', '/', '/etc', '/var/tmp', '/x/../', '//tmp//', '/tmp/./.', '/etc/'])
  return w.str(`${source}:${d}${rng.pick(['', '', '', ':ro', ':rw', ':z', ':ro,Z', ':rprivate', ':rw,rslave'])}`, 0.03)
}

/** One `Mounts` element, whole. */
function mountObject(w: Writer): string {
  const rng = w.rng
  const type = rng.weighted([[4, 'bind'], [4, 'volume'], [1, 'tmpfs']] as const)
  const members: string[] = [w.member(w.key('Type'), w.str(type)), w.member(w.key('Target'), w.str(w.target()))]
  if (type === 'bind') {
    const source = rng.pick(['/tmp', '/etc', '/', '/dev/null', '/var/tmp'])
    members.push(w.member(w.key('Source'), w.str(source)))
    // A source above dockerd's root (/var/lib/docker) must propagate rslave or rshared.
    if (source === '/') members.push(w.member(w.key('BindOptions'), w.object([w.member(w.key('Propagation'), w.str(rng.pick(['rslave', 'rshared'])))])))
    else if (rng.chance(0.3)) members.push(w.member(w.key('BindOptions'), w.object([w.member(w.key('Propagation'), w.str(rng.pick(['rprivate', 'rshared', 'rslave', 'private'])))])))
    if (rng.chance(0.2)) members.push(w.member(w.key('ReadOnly'), 'true'))
  } else if (type === 'volume') {
    const named = rng.chance(0.6)
    if (named) members.push(w.member(w.key('Source'), w.str(w.volume())))
    if (rng.chance(0.6)) {
      const driver: string[] = []
      if (rng.chance(0.3)) driver.push(w.member(w.key('Name'), w.str(rng.pick(['', 'local']))))
      driver.push(...optionsMembers(w, () => w.key('Options'), 'options'))
      members.push(w.member(w.key('VolumeOptions'), w.object([w.member(w.key('DriverConfig'), w.object(driver))])))
    }
    if (named && rng.chance(0.15)) members.push(w.member(w.key('ReadOnly'), 'true'))
  } else if (rng.chance(0.5)) {
    members.push(w.member(w.key('TmpfsOptions'), w.object([w.member(w.key('SizeBytes'), '1048576')])))
  }
  if (rng.chance(0.1)) {
    // The same key twice in one element: the last wins.
    w.tag('mount-duplicate-key')
    members.push(w.member(w.key('Target'), w.str(w.target())))
  }
  return w.object(shuffle(rng, members))
}

/**
 * A patch for an element a later `Mounts` array decodes into: it merges into the
 * struct already there (a new Target, VolumeOptions given to a volume mount whose
 * options merge, or nothing at all: `{}`).
 */
function mountPatch(w: Writer): string {
  const rng = w.rng
  const how = rng.weighted([[3, 'target'], [2, 'options'], [1, 'empty'], [1, 'propagation'], [3, 'whole'], [1, 'null-pointer'], [1, 'null-field']] as const)
  if (how === 'whole') return mountObject(w)
  if (how === 'null-pointer') {
    // A pointer set to nil inside an element that stays: its options are gone.
    w.tag('mount-null-pointer')
    return w.object([w.member(w.key(rng.pick(['VolumeOptions', 'BindOptions', 'TmpfsOptions'])), 'null'), w.member(w.key('Target'), w.str(w.target()))])
  }
  if (how === 'null-field') {
    // null on a string field of the element: it keeps what it had.
    w.tag('mount-null-field')
    return w.object([w.member(w.key(rng.pick(['Type', 'Source', 'Target'])), 'null')])
  }
  if (how === 'empty') return w.object([])
  if (how === 'target') return w.object([w.member(w.key('Target'), w.str(w.target()))])
  if (how === 'propagation') return w.object([w.member(w.key('BindOptions'), w.object([w.member(w.key('Propagation'), w.str('rshared'))]))])
  return w.object([w.member(w.key('VolumeOptions'), w.object([w.member(w.key('DriverConfig'), w.object(optionsMembers(w, () => w.key('Options'), 'options')))]))])
}

function deviceObject(w: Writer): string {
  const rng = w.rng
  const members = [w.member(w.key('PathOnHost'), w.str('/dev/null'))]
  if (rng.chance(0.8)) members.push(w.member(w.key('PathInContainer'), w.str(`/dev/dmo-null${w.target().slice(4)}`)))
  if (rng.chance(0.6)) members.push(w.member(w.key('CgroupPermissions'), w.str(rng.pick(['rwm', 'r', 'rw']))))
  return w.object(shuffle(rng, members))
}

const MASKED = ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware']
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']

function pathList(w: Writer, defaults: readonly string[]): string {
  const rng = w.rng
  const how = rng.weighted([[2, 'empty'], [2, 'defaults'], [2, 'fewer'], [1, 'more'], [1, 'one']] as const)
  const list = how === 'empty' ? [] : how === 'defaults' ? [...defaults] : how === 'fewer' ? defaults.filter(() => rng.chance(0.7)) : how === 'more' ? [...defaults, '/proc/dmo'] : [rng.pick(defaults)]
  return w.array(list.map((p) => w.str(p)))
}

const CAP_ADD = ['NET_ADMIN', 'sys_admin', 'CAP_SYS_PTRACE', 'ALL', 'all', 'chown', 'Cap_Net_Raw', '\u017fys_time', 'net_adm\u0131n', 'SYS_MODULE', 'cap_dac_read_search', 'SYS_RAWIO']
const CAP_DROP = ['ALL', 'NET_RAW', 'chown', 'MKNOD', 'cap_setuid']
const SECURITY_OPT = [
  'no-new-privileges', 'no-new-privileges:true', 'no-new-privileges=false', 'seccomp=unconfined', 'seccomp:unconfined',
  'apparmor=unconfined', 'label=disable', 'label:disable', 'label=type:spc_t', 'disable', 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}',
]
const DEVICE_RULES = ['c 1:3 rwm', 'c 1:5 r', 'b 8:* rwm', 'a *:* rwm', 'c *:* m']

function strslice(w: Writer, pool: readonly string[]): string {
  const rng = w.rng
  if (rng.chance(0.3)) {
    w.tag('strslice-string')
    return w.str(rng.pick(pool))
  }
  const items = Array.from({ length: rng.int(4) }, () => w.str(rng.pick(pool)))
  return w.array(items)
}

interface FieldSpec {
  weight: number
  value: (w: Writer) => string
  /** Values of a type Go refuses for the field. */
  wrong: readonly string[]
  /** Arrays: a later array of another length decodes into this one's backing array. */
  element?: (w: Writer) => string
  patch?: (w: Writer) => string
}

const modes = (pool: (names: BodyNames) => string[]) => (w: Writer): string => w.str(w.rng.pick(pool(w.names)), 0.03)

export const HOST_FIELDS: Readonly<Record<string, FieldSpec>> = {
  Privileged: { weight: 6, value: (w) => w.rng.pick(['true', 'true', 'false']), wrong: ['"true"', '1', '0', '[]', '{}', '"false"'] },
  Binds: {
    weight: 5,
    value: (w) => w.array(Array.from({ length: 1 + w.rng.int(3) }, () => bindString(w))),
    element: bindString,
    patch: bindString,
    wrong: ['"/tmp:/x"', '[1]', '{}', 'true', '[["/tmp:/x"]]', '[{}]'],
  },
  Mounts: {
    weight: 5,
    value: (w) => w.array(Array.from({ length: 1 + w.rng.int(3) }, () => mountObject(w))),
    element: mountObject,
    patch: mountPatch,
    wrong: ['{}', '"x"', '[1]', '[{"Type":1}]', '[{"Target":["/x"]}]', '[{"VolumeOptions":"x"}]', '[{"VolumeOptions":{"DriverConfig":{"Options":{"type":1}}}}]', '[{"BindOptions":[]}]'],
  },
  NetworkMode: { weight: 4, value: modes((n) => ['', 'default', 'bridge', 'none', 'host', 'host', `container:${n.helper}`, `container:${n.helperId}`, 'Host', `${n.prefix}net`]), wrong: ['1', '["host"]', 'true', '{}'] },
  PidMode: { weight: 3, value: modes((n) => ['', 'host', 'host', `container:${n.helper}`]), wrong: ['1', '["host"]', 'false'] },
  IpcMode: { weight: 3, value: modes((n) => ['', 'host', 'host', 'private', 'shareable', 'none', `container:${n.helper}`]), wrong: ['1', '{}'] },
  UTSMode: { weight: 2, value: modes(() => ['', 'host']), wrong: ['1', 'true'] },
  UsernsMode: { weight: 2, value: modes(() => ['', 'host']), wrong: ['[]', 'true'] },
  CgroupnsMode: { weight: 2, value: modes(() => ['', 'host', 'private']), wrong: ['1', '{}'] },
  CapAdd: { weight: 4, value: (w) => strslice(w, CAP_ADD), wrong: ['1', '[1]', '{}', 'true', '[["NET_ADMIN"]]', '[{}]'] },
  CapDrop: { weight: 2, value: (w) => strslice(w, CAP_DROP), wrong: ['1', '[true]', '{}'] },
  SecurityOpt: {
    weight: 3,
    value: (w) => w.array(Array.from({ length: 1 + w.rng.int(2) }, () => w.str(w.rng.pick(SECURITY_OPT)))),
    element: (w) => w.str(w.rng.pick(SECURITY_OPT)),
    patch: (w) => w.str(w.rng.pick(SECURITY_OPT)),
    wrong: ['"seccomp=unconfined"', '[1]', '{}'],
  },
  MaskedPaths: { weight: 2, value: (w) => pathList(w, MASKED), wrong: ['"/proc/kcore"', '[1]', '{}'] },
  ReadonlyPaths: { weight: 2, value: (w) => pathList(w, READONLY), wrong: ['"/proc/sys"', '[false]'] },
  Devices: {
    weight: 3,
    value: (w) => w.array(Array.from({ length: 1 + w.rng.int(2) }, () => deviceObject(w))),
    element: deviceObject,
    patch: (w) => (w.rng.chance(0.5) ? w.object([w.member(w.key('PathInContainer'), w.str(`/dev/dmo-null${w.target().slice(4)}`))]) : deviceObject(w)),
    wrong: ['{}', '["/dev/null"]', '[{"PathOnHost":1}]', '"/dev/null"'],
  },
  // Only the helper: it has no mounts to copy, and a missing container is refused.
  VolumesFrom: {
    weight: 1,
    value: (w) => w.array([w.str(w.rng.pick([w.names.helper, `${w.names.helper}:ro`, `${w.names.helper}:rw`, w.names.helperId]))]),
    wrong: ['"x"', '[1]'],
  },
  DeviceCgroupRules: {
    weight: 2,
    value: (w) => w.array(Array.from({ length: 1 + w.rng.int(2) }, () => w.str(w.rng.pick(DEVICE_RULES)))),
    element: (w) => w.str(w.rng.pick(DEVICE_RULES)),
    patch: (w) => w.str(w.rng.pick(DEVICE_RULES)),
    wrong: ['"c 1:3 rwm"', '[1]'],
  },
}

/** Fields Go decodes and the guard ignores; valid values only. */
const NOISE: readonly (readonly [string, string])[] = [
  ['Tty', 'false'], ['Env', '["DMO=1"]'], ['WorkingDir', '"/"'], ['StopSignal', '"SIGTERM"'], ['AutoRemove', 'false'],
  ['ReadonlyRootfs', 'false'], ['Init', 'null'], ['Memory', '0'], ['ShmSize', '0'], ['OomKillDisable', 'null'],
  ['Dns', '[]'], ['ExtraHosts', 'null'], ['Sysctls', '{}'], ['Tmpfs', '{}'], ['RestartPolicy', '{"Name":"no"}'],
]

/** Keys a JavaScript reader could trip over; Go just ignores them. */
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'TopHostConfig']

// ---------------------------------------------------------------------------------------
// Container create

/** The members of one HostConfig (inner object or top level): judged fields and noise. */
function hostMembers(w: Writer, count: number, allowMismatch: { left: boolean }): string[] {
  const rng = w.rng
  const names = Object.keys(HOST_FIELDS)
  const weights = names.map((n) => [HOST_FIELDS[n]!.weight, n] as const)
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    const field = rng.weighted(weights)
    out.push(...fieldMembers(w, field, allowMismatch))
  }
  if (rng.chance(0.25)) {
    const [k, v] = rng.pick(NOISE)
    out.push(w.member(w.key(k), v))
  }
  if (rng.chance(0.12)) {
    // A value for a judged field under a key Go does not match: it must change nothing.
    const field = rng.pick(['Privileged', 'Binds', 'NetworkMode', 'CapAdd', 'PidMode', 'SecurityOpt', 'Devices', 'Mounts'])
    const value = rng.chance(0.2) ? rng.pick(HOST_FIELDS[field]!.wrong) : decoyValue(w, field)
    out.push(w.member(w.decoy(field), value))
  }
  if (rng.chance(0.04)) {
    w.tag('prototype-key')
    out.push(w.member(w.str(rng.pick(PROTOTYPE_KEYS)), w.object([w.member(w.str('Privileged'), 'true'), w.member(w.str('Binds'), '["/:/dmo-proto"]')])))
  }
  return out
}

/** What an attacker would put under a lookalike key. */
function decoyValue(w: Writer, field: string): string {
  switch (field) {
    case 'Privileged': return 'true'
    case 'Binds': return w.array([w.str(`/:${w.target()}`)])
    case 'NetworkMode': case 'PidMode': return w.str('host')
    case 'CapAdd': return w.str('ALL')
    case 'SecurityOpt': return w.array([w.str('seccomp=unconfined')])
    case 'Devices': return w.array([w.str('/dev/sda')])
    default: return w.array([w.object([w.member(w.str('Type'), w.str('bind')), w.member(w.str('Source'), w.str('/')), w.member(w.str('Target'), w.str(w.target()))])])
  }
}

/** One field: once, or repeated under other spellings (last wins, null, backing arrays). */
function fieldMembers(w: Writer, field: string, allowMismatch: { left: boolean }): string[] {
  const rng = w.rng
  const spec = HOST_FIELDS[field]!
  w.tag(`field:${field}`)
  if (allowMismatch.left && rng.chance(0.08)) {
    allowMismatch.left = false
    w.tag('type-mismatch')
    const wrong = w.member(w.key(field), rng.pick(spec.wrong))
    // A later valid value does not undo Go's error: it is saved and returned at the end.
    return rng.chance(0.3) ? [wrong, w.member(w.key(field), spec.value(w))] : [wrong]
  }
  const how = rng.weighted([[10, 'once'], [2, 'twice'], [2, 'then-null'], [1, 'null-then'], [spec.element ? 3 : 0, 'backing']] as const)
  if (how === 'once') return [w.member(w.key(field), spec.value(w))]
  if (how === 'twice') {
    w.tag('duplicate-field')
    return [w.member(w.key(field), spec.value(w)), w.member(w.key(field), spec.value(w))]
  }
  if (how === 'then-null') {
    w.tag('null-after-value')
    return [w.member(w.key(field), spec.value(w)), w.member(w.key(field), 'null')]
  }
  if (how === 'null-then') {
    w.tag('null-before-value')
    return [w.member(w.key(field), 'null'), w.member(w.key(field), spec.value(w))]
  }
  // Arrays of different lengths under one field: each decodes into the backing array
  // the earlier ones left, so a shorter array keeps the tail hidden, a longer one brings
  // it back, and a null element keeps what was there.
  w.tag(`${field.toLowerCase()}-backing`)
  const arrays = 2 + rng.int(2)
  const out: string[] = []
  for (let a = 0; a < arrays; a++) {
    // Up to 7 elements: past the first capacity (4) and the second (6).
    const length = a === 0 ? 2 + rng.int(5) : rng.int(8)
    const items: string[] = []
    for (let i = 0; i < length; i++) {
      if (a > 0 && rng.chance(0.25)) {
        w.tag('null-element')
        items.push('null')
      } else items.push(a === 0 ? spec.element!(w) : spec.patch!(w))
    }
    out.push(w.member(w.key(field), w.array(items)))
  }
  return out
}

function networkingMembers(w: Writer): string[] {
  const rng = w.rng
  w.tag('endpoints')
  const key = (): string => w.str(rng.pick(['bridge', 'host', 'host', 'none', 'default', 'Host', `${w.names.prefix}net`, '__proto__']), 0.05)
  const settings = (): string => (rng.chance(0.03) ? 'null' : rng.chance(0.8) ? w.object([]) : w.object([w.member(w.key('Links'), 'null')]))
  const endpoints = (): string => {
    if (rng.chance(0.05)) {
      w.tag('type-mismatch')
      return rng.pick(['[]', '"host"', '{"host":"x"}', '{"host":[]}'])
    }
    if (rng.chance(0.1)) {
      // One network twice in one map: the last value is the entry (a null first is fine).
      w.tag('endpoints-duplicate-key')
      const k = key()
      return w.object([w.member(k, rng.chance(0.5) ? 'null' : w.object([])), w.member(k, w.object([]))])
    }
    return w.object(rng.chance(0.9) ? [w.member(key(), settings())] : [])
  }
  const how = rng.weighted([[6, 'once'], [1, 'same-key-twice'], [1, 'null-between'], [1, 'outer-twice'], [1, 'null']] as const)
  let inner: string[]
  if (how === 'once') inner = [w.member(w.key('EndpointsConfig'), endpoints())]
  else if (how === 'same-key-twice') {
    // Two maps with the same one key merge into one entry (dockerd takes one network only).
    w.tag('endpoints-merge')
    const k = key()
    inner = [w.member(w.key('EndpointsConfig'), w.object([w.member(k, settings())])), w.member(w.key('EndpointsConfig'), w.object([w.member(k, w.object([]))]))]
  } else if (how === 'null-between') {
    w.tag('endpoints-null-between')
    inner = [w.member(w.key('EndpointsConfig'), endpoints()), w.member(w.key('EndpointsConfig'), 'null'), w.member(w.key('EndpointsConfig'), endpoints())]
  } else if (how === 'null') {
    inner = [w.member(w.key('EndpointsConfig'), endpoints()), w.member(w.key('EndpointsConfig'), 'null')]
  } else {
    w.tag('networkingconfig-merge')
    return [
      w.member(w.key('NetworkingConfig'), w.object([w.member(w.key('EndpointsConfig'), endpoints())])),
      w.member(w.key('NetworkingConfig'), rng.chance(0.5) ? 'null' : w.object([])),
      ...(rng.chance(0.5) ? [w.member(w.key('NetworkingConfig'), w.object([w.member(w.key('EndpointsConfig'), endpoints())]))] : []),
    ]
  }
  if (rng.chance(0.1)) inner.push(w.member(w.decoy('EndpointsConfig'), w.object([w.member(w.str('host'), w.object([]))])))
  return [w.member(w.key('NetworkingConfig'), w.object(inner))]
}

function createBody(w: Writer): string {
  const rng = w.rng
  const mismatch = { left: rng.chance(0.5) }
  const fields = (): number => 1 + rng.int(5)
  const image = [w.member(rng.chance(0.85) ? w.str('Image') : w.key('Image'), w.str(w.names.image, 0.01))]
  const hostConfig = (members: string[]): string => w.member(w.key('HostConfig'), w.object(members))
  const scenario = rng.weighted([
    [30, 'inner'], [18, 'top'], [10, 'top+inner'], [8, 'top+null'], [8, 'inner-null-inner'], [12, 'inner-merge'],
    [4, 'decoy-hostconfig'], [3, 'nothing'], [3, 'inner-then-null'], [2, 'hostconfig-mismatch'], [2, 'nested-hostconfig'],
  ] as const)
  w.tag(`scenario:${scenario}`)
  let sequence: string[] = []
  let loose: string[] = []
  switch (scenario) {
    case 'inner': sequence = [hostConfig(hostMembers(w, fields(), mismatch))]; break
    case 'top': loose = hostMembers(w, fields(), mismatch); break
    case 'top+inner':
      // Both: the inner HostConfig wins whole (20.10 getHostConfig), the top is ignored.
      loose = hostMembers(w, fields(), mismatch)
      sequence = [hostConfig(hostMembers(w, fields(), mismatch))]
      break
    case 'top+null':
      loose = hostMembers(w, fields(), mismatch)
      sequence = [w.member(w.key('HostConfig'), 'null')]
      break
    case 'inner-null-inner':
      // The null drops the first HostConfig: only the second is used.
      sequence = [hostConfig(hostMembers(w, fields(), mismatch)), w.member(w.key('HostConfig'), 'null'), hostConfig(hostMembers(w, fields(), mismatch))]
      if (rng.chance(0.5)) loose = hostMembers(w, fields(), mismatch)
      break
    case 'inner-merge':
      // A second HostConfig object decodes into the first: the union is used.
      sequence = Array.from({ length: 2 + rng.int(2) }, () => hostConfig(hostMembers(w, fields(), mismatch)))
      if (rng.chance(0.3)) loose = hostMembers(w, fields(), mismatch)
      break
    case 'inner-then-null':
      // The HostConfig is dropped again: the top-level fields (if any) are used.
      sequence = [hostConfig(hostMembers(w, fields(), mismatch)), w.member(w.key('HostConfig'), 'null')]
      if (rng.chance(0.7)) loose = hostMembers(w, fields(), mismatch)
      break
    case 'decoy-hostconfig':
      sequence = [w.member(w.decoy('HostConfig'), w.object(hostMembers(w, fields(), { left: false })))]
      if (rng.chance(0.5)) sequence.push(hostConfig(hostMembers(w, fields(), mismatch)))
      if (rng.chance(0.3)) loose = hostMembers(w, fields(), mismatch)
      break
    case 'nothing':
      if (rng.chance(0.5)) sequence = [hostConfig([])]
      break
    case 'hostconfig-mismatch':
      w.tag('type-mismatch')
      sequence = [w.member(w.key('HostConfig'), rng.pick(['"x"', '[]', 'true', '1', '[{}]']))]
      if (rng.chance(0.5)) sequence.push(hostConfig(hostMembers(w, fields(), { left: false })))
      break
    case 'nested-hostconfig':
      // A HostConfig inside HostConfig is an unknown field there: ignored.
      sequence = [hostConfig([...hostMembers(w, fields(), mismatch), w.member(w.str('HostConfig'), w.object([w.member(w.str('Privileged'), 'true')]))])]
      break
  }
  const networking = rng.chance(0.25) ? networkingMembers(w) : []
  const labels = rng.chance(0.3) ? [w.member(w.str('Labels'), w.object([w.member(w.str('org.dockmoat.oracle'), w.str(w.names.prefix))]))] : []
  return w.object(interleave(rng, image, sequence, shuffle(rng, loose), networking, labels))
}

// ---------------------------------------------------------------------------------------
// Exec create and volume create

function execBody(w: Writer): string {
  const rng = w.rng
  const members: string[] = []
  const privileged: string[] = []
  const count = rng.weighted([[1, 0], [6, 1], [3, 2], [1, 3]] as const)
  if (count > 1) w.tag('duplicate-field')
  for (let i = 0; i < count; i++) {
    const value = rng.weighted([[4, 'true'], [2, 'false'], [1, 'null']] as const)
    if (value === 'null') w.tag('null-after-value')
    privileged.push(w.member(w.key('Privileged'), value))
  }
  if (rng.chance(0.08)) {
    w.tag('type-mismatch')
    privileged.push(w.member(w.key(rng.pick(['Privileged', 'User'])), rng.pick(['"true"', '1', '0', '{}', '[]'])))
  }
  const user = Array.from({ length: rng.weighted([[4, 0], [4, 1], [1, 2]] as const) }, () => w.member(w.key('User'), rng.chance(0.1) ? 'null' : w.str(rng.pick(['', '0', 'root', 'nobody', '0:0', '65534']))))
  if (rng.chance(0.2)) members.push(w.member(w.decoy('Privileged'), rng.chance(0.8) ? 'true' : '"true"'))
  if (rng.chance(0.2)) members.push(w.member(w.key(rng.pick(['Tty', 'AttachStdout', 'Detach'])), 'false'))
  if (rng.chance(0.1)) members.push(w.member(w.key('Env'), '["DMO=1"]'))
  const cmd = [w.member(rng.chance(0.8) ? w.str('Cmd') : w.key('Cmd'), w.array([w.str('true')]))]
  return w.object(interleave(rng, cmd, privileged, user, shuffle(rng, members)))
}

function volumeBody(w: Writer): string {
  const rng = w.rng
  const names: string[] = []
  const count = rng.weighted([[1, 0], [7, 1], [2, 2]] as const)
  if (count > 1) w.tag('duplicate-field')
  if (count === 0) w.tag('anonymous-volume')
  for (let i = 0; i < count; i++) names.push(w.member(w.key('Name'), w.str(w.volume())))
  if (rng.chance(0.05)) {
    w.tag('null-after-value')
    names.push(w.member(w.key('Name'), 'null'))
  }
  const driver = Array.from({ length: rng.weighted([[4, 0], [4, 1], [1, 2]] as const) }, () => w.member(w.key('Driver'), rng.chance(0.15) ? 'null' : w.str(rng.pick(['local', 'local', '']))))
  const opts = rng.chance(0.8) ? optionsMembers(w, () => w.key('DriverOpts'), 'driveropts') : []
  const extra: string[] = [w.member(w.str('Labels'), w.object([w.member(w.str('org.dockmoat.oracle'), w.str(w.names.prefix))]))]
  if (rng.chance(0.15)) extra.push(w.member(w.decoy('DriverOpts'), w.object([w.member(w.str('Type'), w.str('zq')), w.member(w.str('device'), w.str('/'))])))
  if (rng.chance(0.1)) extra.push(w.member(w.decoy('Driver'), w.str('zq-no-such-driver')))
  if (rng.chance(0.08)) {
    w.tag('type-mismatch')
    extra.push(w.member(w.key(rng.pick(['Name', 'Driver', 'DriverOpts'])), rng.pick(['1', 'true', '[]', '{"o":1}', '{"type":null,"o":["bind"]}'])))
  }
  return w.object(interleave(rng, names, driver, opts, shuffle(rng, extra)))
}

function shuffle<T>(rng: Rng, list: readonly T[]): T[] {
  const out = [...list]
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}
