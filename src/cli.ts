// dockmoat [serve] | check METHOD PATH | healthcheck
import fs from 'node:fs'
import http from './node-http.ts'
import type { Logger } from 'pino'
import { createLogger } from './log.ts'
import { ConfigError, parseConfig, misspeltVariables, TOGGLES, type Config } from './settings.ts'
import { decideBody, decideRequest } from './policy.ts'
import { createProxy, HEALTH_PATH } from './proxy.ts'
import { listen } from './listen.ts'
import type { BindView } from './bind-view.ts'
import { ownerRule } from './owner/rules.ts'

const USAGE = `usage: dockmoat [serve]            run the proxy (configured by environment variables)
       dockmoat check METHOD PATH [< BODY]
                                   print whether the current environment allows a call (exit 0 allowed,
                                   1 refused); a JSON body on stdin is judged as the proxy would
       dockmoat healthcheck        exit 0 when the proxy serves and dockerd answers through it`

function loadConfig(): Config {
  try {
    return parseConfig(process.env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`dockmoat: configuration error: ${error.message}\n`)
    process.exit(2)
  }
}

function check(args: string[]): never {
  const [method, path] = args
  if (method === undefined || path === undefined || args.length !== 2) {
    process.stderr.write(USAGE + '\n')
    process.exit(2)
  }
  const config = loadConfig()
  let decision = decideRequest(method, path, 'application/json', config)
  if (decision.allow && decision.readBody === true) {
    const body = process.stdin.isTTY ? Buffer.alloc(0) : fs.readFileSync(0)
    decision = decideBody(method, path, decision, body, config)
  }
  // Ownership is a question for dockerd at call time, which check does not ask.
  const ownership = decision.allow && config.owner !== undefined && ownerRule(decision.route) !== undefined
    ? ` (with OWNER=${config.owner.id}, dockmoat also asks dockerd whether the objects named are the owner's when the call is made; check cannot answer that)`
    : ''
  process.stdout.write(`${decision.allow ? 'allowed' : 'refused'}: ${decision.reason}${ownership}\n`)
  process.exit(decision.allow ? 0 : 1)
}

function healthcheck(): void {
  const { listen } = loadConfig()
  const where = listen.kind === 'unix'
    ? { socketPath: listen.path }
    : { host: listen.host === undefined || listen.host === '::' || listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host, port: listen.port }
  const request = http.get({ ...where, path: HEALTH_PATH, timeout: 5000 }, (response) => {
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
  const proxy = createProxy(config, log)
  const address = await listen(proxy.server, config, log)
  log.info({
    ...address,
    socketPath: config.socketPath,
    granted: TOGGLES.filter((t) => config.grants[t.name]).map((t) => t.name),
    allowBind: config.allowBind,
    allowCaps: config.allowCaps === 'ALL' ? 'ALL' : [...config.allowCaps],
    ...(config.cgroupParent === undefined ? {} : { cgroupParent: config.cgroupParent }),
    ...(config.owner === undefined ? {} : { owner: config.owner }),
  }, 'dockmoat listening')
  describeBindView(proxy.ctx.bindView, log)
  probeSocket(config, log)

  // One failed exchange must never take every other client down with it.
  process.on('uncaughtException', (error) => log.error({ err: error }, 'unexpected error; the proxy keeps serving'))

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info({ signal, open: proxy.ctx.open }, 'shutting down')
    void proxy.shutdown(config.shutdownGraceMs).then(() => process.exit(0))
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
    check(rest)
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
