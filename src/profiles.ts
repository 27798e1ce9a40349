// POLICY_FILE's profiles (read by policy-file.ts): per client, the first profile whose
// `match` holds, and its configuration with `${CN}` and `${PROFILE}` filled in. Pure.
import { isIP, type BlockList } from 'node:net'
import { ConfigError, parseConfig, type Config, type Listen } from './settings.ts'

/** What a connection tells about its client (identity.ts, and the listener it came in on). */
export interface Who {
  listener: string
  /** The remote address, or `unix`. */
  address: string
  cn?: string
  sans?: readonly string[]
  /** The name of the container whose address it came from (soft: an address can be taken). */
  container?: string
}

export interface Match {
  cn?: RegExp[]
  san?: RegExp[]
  source?: BlockList
  listener?: string[]
  container?: RegExp[]
}

export interface Profile {
  name: string
  match: Match
  /** Values as written, `${CN}` and `${PROFILE}` not yet substituted. */
  env: Record<string, string>
}

/** A listener of its own (a port or a unix socket per client is the identity the kernel guarantees). */
export type ListenerSpec = Listen & { name: string }

export interface PolicyFile {
  profiles: Profile[]
  /** Plain listeners beside the environment's (`plain`) and the TLS one (`tls`). */
  listeners: ListenerSpec[]
  /** Whether a profile matches on `container`: only then does dockmoat look up the caller's container. */
  usesContainers: boolean
  /** What an unmatched client gets: refused, or the environment's own configuration. */
  unmatched: 'refuse' | 'environment'
}

/** The first profile whose every match key holds (a key's list: any of them); none when nothing matches. */
export function selectProfile(policy: PolicyFile, who: Who): Profile | undefined {
  return policy.profiles.find(({ match }) =>
    (match.listener === undefined || match.listener.includes(who.listener)) &&
    (match.container === undefined || (who.container !== undefined && match.container.some((re) => re.test(who.container!)))) &&
    (match.cn === undefined || (who.cn !== undefined && match.cn.some((re) => re.test(who.cn!)))) &&
    (match.san === undefined || (who.sans ?? []).some((san) => match.san!.some((re) => re.test(san.replace(/^(DNS|IP Address|URI|email):/, ''))))) &&
    (match.source === undefined || (who.address !== 'unix' && match.source.check(who.address.replace(/^::ffff:/, ''), isIP(who.address.replace(/^::ffff:/, '')) === 6 ? 'ipv6' : 'ipv4'))))
}

/** The profile's configuration for this client: the environment's process settings, the profile's decisions. */
export function profileConfig(profile: Profile, who: Who, environment: Config): Config | string {
  if (Object.values(profile.env).some((value) => value.includes('${CN}'))) {
    if (who.cn === undefined) return `profile ${profile.name} uses \${CN}, and this client showed no client certificate`
    // Substituted into lists (`,`), paths (`/`, `..`) and patterns (`*`, `?`): only a CN
    // that can mean nothing but itself in each of them is used.
    if (!SAFE_CN.test(who.cn) || who.cn.includes('..')) return `profile ${profile.name} uses \${CN}, and the certificate's CN ${JSON.stringify(who.cn)} is not one it can use (letters, digits and _.@- only)`
  }
  try {
    const own = parseConfig(Object.fromEntries(Object.entries(profile.env).map(([k, v]) => [k, substitute(v, who.cn ?? '', profile.name)])))
    return { ...environment, grants: own.grants, allowBind: own.allowBind, allowCaps: own.allowCaps, allowNames: own.allowNames, allowImages: own.allowImages, maxBodyBytes: own.maxBodyBytes, cgroupParent: own.cgroupParent, owner: own.owner, mode: own.mode }
  } catch (error) {
    if (error instanceof ConfigError) return `profile ${profile.name} does not apply to this client: ${error.message}`
    throw error
  }
}

const SAFE_CN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/

const SUBSTITUTIONS = /\$\{(CN|PROFILE)\}/g

/** `${CN}` and `${PROFILE}` in a profile's value. */
export function substitute(value: string, cn: string, profile: string): string {
  return value.replace(SUBSTITUTIONS, (_, name: string) => (name === 'CN' ? cn : profile))
}
