// Binds the proxy where the configuration says: a unix socket with a file mode, or TCP;
// and the TLS listener on its own port.
import fs from './node-fs.ts'
import type { Server } from 'node:net'
import type { Logger } from 'pino'
import type { Config, Listen } from './settings.ts'

const bind = (server: Server, options: { port?: number; host?: string; path?: string }): Promise<void> =>
  new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options, () => { server.off('error', reject); resolve() })
  })

export async function listen(server: Server, where: Listen, log: Logger): Promise<Record<string, unknown>> {
  if (where.kind === 'unix') {
    if (fs.existsSync(where.path) && fs.statSync(where.path).isSocket()) fs.unlinkSync(where.path)
    await bind(server, { path: where.path })
    fs.chmodSync(where.path, where.mode)
    return { socket: where.path }
  }
  return listenTcp(server, where.host, where.ipv6, where.port, log)
}

/** The TLS listener: `TLS_PORT` at `LISTEN_ADDRESS` (all interfaces when unset or when the plain listener is a unix socket). */
export function listenTls(server: Server, config: Config, log: Logger): Promise<Record<string, unknown>> {
  const where = config.listen
  return listenTcp(server, where.kind === 'tcp' ? where.host : undefined, where.kind === 'tcp' ? where.ipv6 : true, config.tls!.port, log)
}

async function listenTcp(server: Server, address: string | undefined, ipv6: boolean, port: number, log: Logger): Promise<Record<string, unknown>> {
  const host = address ?? (ipv6 ? '::' : '0.0.0.0')
  try {
    await bind(server, { host, port })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    // Hosts without IPv6 cannot bind `::`; fall back by ourselves (Tecnativa #109).
    if (address !== undefined || host !== '::' || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw error
    log.warn({ code }, 'IPv6 is not available here; listening on IPv4 only')
    await bind(server, { host: '0.0.0.0', port })
  }
  const bound = server.address()
  return typeof bound === 'object' && bound !== null ? { address: bound.address, port: bound.port } : {}
}

/** Loopback only: anyone who can reach another address gets the grants, unless TLS says who they are. */
export function isLoopback(address: unknown): boolean {
  return typeof address === 'string' && (address === '::1' || address.startsWith('127.') || address === '::ffff:127.0.0.1')
}
