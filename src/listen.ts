// Binds the proxy where the configuration says: a unix socket with a file mode, or TCP.
import fs from 'node:fs'
import type { Server } from 'node:net'
import type { Logger } from 'pino'
import type { Config } from './settings.ts'

export async function listen(server: Server, config: Config, log: Logger): Promise<Record<string, unknown>> {
  const bind = (options: { port?: number; host?: string; path?: string }): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(options, () => { server.off('error', reject); resolve() })
    })
  const { listen: where } = config
  if (where.kind === 'unix') {
    if (fs.existsSync(where.path) && fs.statSync(where.path).isSocket()) fs.unlinkSync(where.path)
    await bind({ path: where.path })
    fs.chmodSync(where.path, where.mode)
    return { socket: where.path }
  }
  const host = where.host ?? (where.ipv6 ? '::' : '0.0.0.0')
  try {
    await bind({ host, port: where.port })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    // Hosts without IPv6 cannot bind `::`; fall back by ourselves (Tecnativa #109).
    if (where.host !== undefined || host !== '::' || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw error
    log.warn({ code }, 'IPv6 is not available here; listening on IPv4 only')
    await bind({ host: '0.0.0.0', port: where.port })
  }
  const bound = server.address()
  return typeof bound === 'object' && bound !== null ? { address: bound.address, port: bound.port } : {}
}
