// Who is asking, and the configuration that decides their calls: the environment's, or,
// with POLICY_FILE, the first profile that matches (profiles.ts), worked out once per
// connection (a connection's certificate and listener do not change).
import type { Request } from './http1.ts'
import type { TLSSocket } from 'node:tls'
import type { Config } from './settings.ts'
import { bindView, type BindView } from './bind-view.ts'
import { peerOf } from './identity.ts'
import { profileConfig, selectProfile, type PolicyFile, type Who } from './profiles.ts'

export interface Client {
  config: Config
  bindView: BindView
  /** The profile that matched, with POLICY_FILE. */
  profile?: string
}

export type Admission = Client | { refused: string }

/** Container names by IP address, as dockerd reports them (NetworkSettings.Networks). */
export type ListAddresses = () => Promise<Map<string, string>>

export class Clients {
  private readonly byConnection = new WeakMap<object, { generation: number; admission: Admission }>()
  // A request keeps the configuration it was admitted with to its end (body, ownership,
  // log line), whatever a SIGHUP reloads meanwhile.
  private readonly byRequest = new WeakMap<Request, Admission>()
  private readonly byProfile = new Map<string, Client>()
  private readonly listeners = new WeakMap<object, string>()
  private generation = 0
  private policy: PolicyFile | undefined
  readonly environment: Client
  private readonly containers = new WeakMap<object, { name?: string }>()
  private readonly lookups = new WeakMap<object, Promise<void>>()

  private readonly listAddresses: ListAddresses

  constructor(environment: Config, policy?: PolicyFile, listAddresses: ListAddresses = async () => new Map()) {
    this.policy = policy
    this.listAddresses = listAddresses
    this.environment = { config: environment, bindView: bindView(environment.allowBind) }
  }

  /** A new policy (SIGHUP): every connection is judged by it from its next request on. */
  reload(policy: PolicyFile): void {
    this.policy = policy
    this.byProfile.clear()
    this.generation++
  }

  /** The listener a connection came in on (`plain`, `tls`, or a POLICY_FILE listener's name). */
  arrived(socket: object, listener: string): void {
    this.listeners.set(socket, listener)
  }

  /**
   * With profiles that match on `container`, the lookup of the caller's container, until
   * it is known; then undefined, and `admit` may answer.
   */
  pending(req: Request): Promise<void> | undefined {
    if (this.policy?.usesContainers !== true || this.containers.has(req.socket)) return undefined
    let lookup = this.lookups.get(req.socket)
    if (lookup === undefined) {
      const address = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '')
      // Listed anew for each connection: addresses are reused as soon as a container is
      // gone, so an older list could name the wrong container.
      lookup = (address === '' ? Promise.resolve(undefined) : this.listAddresses().then((map) => map.get(address))).then((name) => {
        this.containers.set(req.socket, name === undefined ? {} : { name })
      }, () => {
        this.containers.set(req.socket, {})
      })
      this.lookups.set(req.socket, lookup)
    }
    return lookup
  }

  admit(req: Request): Admission {
    // Without POLICY_FILE there is nothing to reload: no per-request bookkeeping.
    if (this.policy === undefined) return this.admitConnection(req)
    let admission = this.byRequest.get(req)
    if (admission === undefined) this.byRequest.set(req, (admission = this.admitConnection(req)))
    return admission
  }

  private admitConnection(req: Request): Admission {
    // Never reached in practice (the TLS server ends such connections at once): kept so
    // that no request of an unverified TLS client can be decided.
    if ('encrypted' in req.socket && this.environment.config.tls?.ca !== undefined && !(req.socket as TLSSocket).authorized) {
      return { refused: 'a client certificate signed by TLS_CA is required' }
    }
    if (this.policy === undefined) return this.environment
    const known = this.byConnection.get(req.socket)
    if (known !== undefined && known.generation === this.generation) return known.admission
    const container = this.containers.get(req.socket)?.name
    const admission = this.select(this.policy, { ...whoIs(req, this.listeners.get(req.socket) ?? 'plain'), ...(container === undefined ? {} : { container }) })
    this.byConnection.set(req.socket, { generation: this.generation, admission })
    return admission
  }

  /** The profile a request was admitted under, for its log line. */
  profileOf(req: Request): string | undefined {
    const known = this.byRequest.get(req)
    return known !== undefined && 'profile' in known ? known.profile : undefined
  }

  private select(policy: PolicyFile, who: Who): Admission {
    const profile = selectProfile(policy, who)
    if (profile === undefined) {
      if (policy.unmatched === 'environment') return this.environment
      return { refused: `no profile of POLICY_FILE matches this client (${describe(who)}), and the file says unmatched: refuse` }
    }
    const key = `${profile.name}\0${who.cn ?? ''}`
    const cached = this.byProfile.get(key)
    if (cached !== undefined) return cached
    const config = profileConfig(profile, who, this.environment.config)
    if (typeof config === 'string') return { refused: config }
    const client: Client = { config, bindView: bindView(config.allowBind), profile: profile.name }
    this.byProfile.set(key, client)
    return client
  }
}

export function whoIs(req: Request, listener: string): Who {
  const peer = peerOf(req.socket)
  return {
    listener,
    address: req.socket.remoteAddress ?? 'unix',
    ...(peer?.cn === undefined ? {} : { cn: peer.cn }),
    ...(peer?.sans === undefined ? {} : { sans: peer.sans }),
  }
}

export function describe(who: Who): string {
  return [
    `listener ${who.listener}`, `address ${who.address}`, who.cn === undefined ? 'no client certificate' : `cn ${who.cn}`,
    ...(who.container === undefined ? [] : [`container ${who.container}`]),
  ].join(', ')
}
