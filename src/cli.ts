// dockmoat [serve] | check METHOD PATH | learn [LOGFILE|-] | healthcheck
import fs from './node-fs.ts'
import type { Logger } from 'pino'
import { createLogger } from './log.ts'
import { ConfigError, parseConfig, misspeltVariables, TOGGLES, type Config } from './settings.ts'
import { decideBody, decideRequest } from './policy.ts'
import { createProxy, HEALTH_PATH } from './proxy.ts'
import { isLoopback, listen, listenTls } from './listen.ts'
import { loadTls } from './tls.ts'
import { profileConfig, selectProfile, type PolicyFile, type Who } from './profiles.ts'
import { describe } from './clients.ts'
import { askDockerd } from './exchange.ts'
import type { BindView } from './bind-view.ts'
import { ownerRule } from './owner/rules.ts'
import { learn, readLog, renderLearned } from './learn.ts'

const USAGE = `usage: dockmoat [serve]            run the proxy (configured by environment variables)
       dockmoat check [--as cn=NAME,listener=L,address=IP] METHOD PATH [< BODY]
                                   print whether the current environment allows a call (exit 0 allowed,
                                   1 refused); a JSON body on stdin is judged as the proxy would
       dockmoat learn [LOGFILE|-]  read dockmoat's JSON log (a file, or stdin: docker logs dockmoat 2>&1 | dockmoat learn)
                                   and print the least environment that would have allowed every call in it
       dockmoat healthcheck        exit 0 when the proxy serves and dockerd answers through it`

/** A configuration error from `load` stops startup with its message (exit 2). */
function orExit<T>(load: () => T): T {
  try {
    return load()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`dockmoat: configuration error: ${error.message}\n`)
    process.exit(2)
  }
}

async function loadPolicy(path: string): Promise<PolicyFile> {
  // The YAML reader is loaded only when a policy file is given.
  const { readPolicy, PolicyError } = await import('./policy-file.ts')
  try {
    return readPolicy(path)
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error
    process.stderr.write(`dockmoat: POLICY_FILE is not valid:\n${error.message}\n`)
    process.exit(2)
  }
}

function loadConfig(): Config {
  return orExit(() => parseConfig(process.env))
}

async function check(args: string[]): Promise<never> {
  const as = args[0] === '--as' ? args[1] : undefined
  const [method, path, ...extra] = as === undefined ? args : args.slice(2)
  if (method === undefined || path === undefined || extra.length > 0) {
    process.stderr.write(USAGE + '\n')
    process.exit(2)
  }
  const environment = loadConfig()
  let config = environment
  let profile = ''
  if (as !== undefined) {
    if (environment.policyFile === undefined) {
      process.stderr.write('dockmoat check --as needs POLICY_FILE: without it every client gets the environment\'s configuration\n')
      process.exit(2)
    }
    const who = parseWho(as)
    const policy = await loadPolicy(environment.policyFile)
    const chosen = selectProfile(policy, who)
    const own = chosen === undefined ? undefined : profileConfig(chosen, who, environment)
    if (chosen === undefined && policy.unmatched === 'refuse') {
      process.stdout.write(`refused: no profile of ${environment.policyFile} matches ${describe(who)}, and the file says unmatched: refuse\n`)
      process.exit(1)
    }
    if (typeof own === 'string') {
      process.stdout.write(`refused: ${own}\n`)
      process.exit(1)
    }
    config = own ?? environment
    profile = chosen === undefined ? ' (no profile matches: the environment\'s configuration)' : ` (profile ${chosen.name})`
  }
  let decision = decideRequest(method, path, 'application/json', config)
  if (decision.allow && decision.readBody === true) {
    const body = process.stdin.isTTY ? Buffer.alloc(0) : fs.readFileSync(0)
    decision = decideBody(method, path, decision, body, config)
  }
  // Ownership is a question for dockerd at call time, which check does not ask.
  const ownership = decision.allow && config.owner !== undefined && ownerRule(decision.route) !== undefined
    ? ` (with OWNER=${config.owner.id}, dockmoat also asks dockerd whether the objects named are the owner's when the call is made; check cannot answer that)`
    : ''
  const audit = decision.allow && decision.wouldRefuse !== undefined ? ` (MODE=audit; enforced, it would be refused: ${decision.wouldRefuse.reason})` : ''
  process.stdout.write(`${decision.allow ? 'allowed' : 'refused'}${profile}: ${decision.reason}${audit}${ownership}\n`)
  process.exit(decision.allow ? 0 : 1)
}

/** `cn=alice,listener=tls,address=10.0.0.7`: the client `check --as` answers for. */
function parseWho(text: string): Who {
  const who: Who = { listener: 'plain', address: 'unix' }
  for (const part of text.split(',')) {
    const [key, value] = part.split(/=(.*)/s)
    if (value === undefined || !['cn', 'listener', 'address', 'san', 'container'].includes(key!)) {
      process.stderr.write(`dockmoat check --as ${JSON.stringify(text)}: give key=value pairs of cn, san, listener, address, container (such as cn=alice or listener=ci,address=10.0.0.7)\n`)
      process.exit(2)
    }
    if (key === 'san') who.sans = [...(who.sans ?? []), value]
    else who[key as 'cn' | 'listener' | 'address' | 'container'] = value
  }
  if (who.cn !== undefined && who.listener === 'plain' && !text.includes('listener=')) who.listener = 'tls'
  return who
}

function learnFromLog(args: string[]): void {
  const [file = '-'] = args
  if (args.length > 1 || (file === '-' && process.stdin.isTTY)) {
    process.stderr.write(USAGE + '\n')
    process.exit(2)
  }
  let text: string
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (error) {
    process.stderr.write(`dockmoat learn: cannot read ${file === '-' ? 'stdin' : file}: ${(error as Error).message}\n`)
    process.exit(2)
  }
  const seen = readLog(text)
  process.stdout.write(renderLearned(seen, learn(seen)))
}

function healthcheck(): void {
  const { listen, plain, tls } = loadConfig()
  const local = (host: string | undefined): string => (host === undefined || host === '::' || host === '0.0.0.0' ? '127.0.0.1' : host)
  const where = listen.kind === 'unix' ? { socketPath: listen.path } : { host: local(listen.host), port: plain ? listen.port : tls!.port }
  if (!plain && tls?.ca !== undefined) {
    process.stderr.write('dockmoat healthcheck: only the TLS listener serves, and it requires a client certificate; give the healthcheck a listener of its own: LISTEN_SOCKET=/tmp/dockmoat.sock (with --read-only, a tmpfs on /tmp)\n')
    process.exit(1)
  }
  // TLS without client certificates: the health answer needs none, and the server's
  // certificate is for the names clients use, not necessarily 127.0.0.1.
  // Loaded here only: serving needs neither (http1.ts reads requests itself).
  const get = (plain ? process.getBuiltinModule('node:http') : process.getBuiltinModule('node:https')).get
  const request = get({ ...where, path: HEALTH_PATH, timeout: 5000, ...(plain ? {} : { rejectUnauthorized: false }) }, (response) => {
    let text = ''
    response.on('data', (chunk: Buffer) => { text += chunk.toString() })
    response.on('end', () => {
      if (response.statusCode === 200) process.exit(0)
      process.stderr.write(`dockmoat healthcheck: ${response.statusCode} ${text}`)
      process.exit(1)
    })
  })
  request.on('timeout', () => request.destroy(new Error('no answer within 5 s')))
  request.on('error', (error) => {
    process.stderr.write(`dockmoat healthcheck: the proxy does not answer: ${error.message}\n`)
    process.exit(1)
  })
}

async function serve(): Promise<void> {
  const config = loadConfig()
  const log = createLogger(config.logLevel)
  for (const { name, suggestion } of misspeltVariables(process.env)) {
    log.warn(`${name} is not a dockmoat variable and is ignored; did you mean ${suggestion}?`)
  }
  const tls = config.tls === undefined ? undefined : orExit(() => loadTls(config.tls!))
  const policy = config.policyFile === undefined ? undefined : await loadPolicy(config.policyFile)
  const proxy = createProxy(config, log, tls?.options, policy)
  for (const warning of tls?.warnings ?? []) log.warn(warning)
  let closeMetrics = (): void => {}
  if (config.metricsListen !== undefined) {
    // Loaded only when asked for: a proxy without metrics never pays for prom-client.
    const metrics = (await import('./metrics.ts')).createMetrics(proxy.ctx, askDockerd)
    const bound = await metrics.listen(config.metricsListen).catch((error: Error) => {
      process.stderr.write(`dockmoat: ${error.message}\n`)
      return process.exit(1)
    })
    proxy.ctx.metrics = metrics
    closeMetrics = () => metrics.close()
    const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address
    log.info({ address: bound.address, port: bound.port }, `Prometheus metrics at http://${host}:${bound.port}/metrics`)
  }
  const listenerVariable = config.listen.kind === 'unix' ? 'LISTEN_SOCKET' : 'LISTEN_ADDRESS/LISTEN_PORT'
  const address = config.plain ? await bound(listenerVariable, listen(proxy.server, config.listen, log)) : {}
  const secure = proxy.tlsServer === undefined ? undefined : await bound('TLS_PORT', listenTls(proxy.tlsServer, config, log))
  const listeners: Record<string, unknown>[] = []
  for (const spec of policy?.listeners ?? []) {
    listeners.push({ name: spec.name, ...await bound(`POLICY_FILE listener ${spec.name}`, listen(proxy.plainServer(spec.name), spec, log)) })
  }
  log.info({
    ...address,
    ...(secure === undefined ? {} : { tls: { ...secure, clientCertificates: config.tls!.ca === undefined ? 'not asked for' : 'required (TLS_CA)' } }),
    ...(policy === undefined ? {} : { profiles: policy.profiles.map((p) => p.name), unmatched: policy.unmatched, listeners }),
    mode: config.mode,
    socketPath: config.socketPath,
    granted: TOGGLES.filter((t) => config.grants[t.name]).map((t) => t.name),
    allowBind: config.allowBind,
    allowCaps: config.allowCaps === 'ALL' ? 'ALL' : [...config.allowCaps],
    ...(config.cgroupParent === undefined ? {} : { cgroupParent: config.cgroupParent }),
    ...(config.owner === undefined ? {} : { owner: config.owner }),
  }, 'dockmoat listening')
  if (config.mode === 'audit') {
    log.warn('MODE=audit: NOTHING IS ENFORCED. Every call dockerd knows is forwarded as if every grant were set; calls the configuration would refuse are logged as "would be refused". Run `dockmoat learn` on this log for the least configuration, then remove MODE=audit')
  }
  if ('address' in address && !isLoopback(address.address)) {
    log.warn(`the plain listener ${String(address.address)}:${String(address.port)} is reachable beyond this host, and it does not know who is asking: anyone who can reach it gets these grants. Keep it on an internal network, or serve TLS with client certificates (TLS_CERT, TLS_KEY, TLS_CA)`)
  }
  describeBindView(proxy.ctx.clients.environment.bindView, log)
  probeSocket(config, log)

  // One failed exchange must never take every other client down with it.
  process.on('uncaughtException', (error) => log.error({ err: error }, 'unexpected error; the proxy keeps serving'))

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info({ signal, open: proxy.ctx.open }, 'shutting down')
    void proxy.shutdown(config.shutdownGraceMs).then(() => {
      closeMetrics()
      process.exit(0)
    })
  }
  if (config.policyFile !== undefined) {
    const file = config.policyFile
    process.on('SIGHUP', () => {
      void import('./policy-file.ts').then(({ readPolicy, PolicyError }) => {
        try {
          const next = readPolicy(file)
          proxy.ctx.clients.reload(next)
          log.info({ profiles: next.profiles.map((p) => p.name), unmatched: next.unmatched }, `SIGHUP: ${file} reloaded`)
        } catch (error) {
          if (!(error instanceof PolicyError)) throw error
          log.error({ problems: error.message.split('\n') }, `SIGHUP: ${file} is not valid; the policy in force stays as it was`)
        }
      })
    })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

/** Says at startup which ALLOW_BIND paths dockmoat resolves through symlinks, and which it cannot. */
function describeBindView(view: BindView, log: Logger): void {
  if (view.visible.length > 0) {
    log.info({ resolved: view.visible }, `ALLOW_BIND paths ${view.visible.join(', ')} are visible to dockmoat at the same paths: bind sources under them are resolved through symlinks and refused if they leave the allowed paths`)
  }
  if (view.hidden.length > 0) {
    log.warn({ unresolved: view.hidden }, `ALLOW_BIND paths ${view.hidden.join(', ')} are not visible to dockmoat: bind sources under them are judged by their path only, and a symlink inside them can lead anywhere on the host; ` +
      'mount each into dockmoat at the same path (read-only) to have sources resolved (see SECURITY.md)')
  }
}

/** A listener that cannot be bound stops startup, naming what configured it. */
async function bound<T>(what: string, listening: Promise<T>): Promise<T> {
  try {
    return await listening
  } catch (error) {
    process.stderr.write(`dockmoat: cannot listen (${what}): ${(error as Error).message}\n`)
    process.exit(2)
  }
}

/** Says at startup, in words, why the socket cannot be used (the usual EACCES). */
function probeSocket(config: Config, log: Logger): void {
  fs.access(config.socketPath, fs.constants.R_OK | fs.constants.W_OK, (error) => {
    if (error === null) return
    if (error.code === 'EACCES') {
      const gid = fs.statSync(config.socketPath).gid
      log.error(`cannot open ${config.socketPath} as uid ${process.getuid?.()}: it belongs to group ${gid}; ` +
        `add that group to the container: docker run --group-add ${gid} ... (compose: group_add: ["${gid}"])`)
    } else {
      log.error(`cannot open the Docker socket ${config.socketPath}: ${error.message}; mount it, e.g. -v /var/run/docker.sock:${config.socketPath}:ro`)
    }
  })
}

const [command, ...rest] = process.argv.slice(2)
switch (command) {
  case undefined:
  case 'serve':
    await serve()
    break
  case 'check':
    await check(rest)
    break
  case 'learn':
    learnFromLog(rest)
    break
  case 'healthcheck':
    healthcheck()
    break
  case '--help':
  case '-h':
  case 'help':
    process.stdout.write(USAGE + '\n')
    break
  default:
    process.stderr.write(`dockmoat: unknown command ${JSON.stringify(command)}\n${USAGE}\n`)
    process.exit(2)
}
