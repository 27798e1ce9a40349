// Test certificates made with the openssl CLI in a temporary directory (never committed):
// a CA, server certificates, client certificates, and backdated (expired) ones.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Issued {
  cert: string
  key: string
}

export interface Ca extends Issued {
  name: string
}

export interface Pki {
  dir: string
  /** A new self-signed CA, valid from now for `days`. */
  ca(name: string, days?: number): Ca
  /** A certificate signed by `ca` for CN `cn`: `server` gets serverAuth and `san`, otherwise clientAuth. */
  issue(ca: Ca, cn: string, options?: { server?: boolean; san?: string; from?: string; to?: string; days?: number }): Issued
  /** A directory as the docker CLI wants it for DOCKER_CERT_PATH: ca.pem, and cert.pem and key.pem when a client is given. */
  certPath(name: string, ca: Ca, client?: Issued): string
  remove(): void
}

function openssl(cwd: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (error) {
    const e = error as { stderr?: Buffer; message: string }
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`, { cause: error })
  }
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

/**
 * Certificates with dates in the past come from `openssl ca -startdate/-enddate` (openssl
 * 3.0's `x509 -req` has no way to set notBefore); the rest from `openssl x509 -req`.
 */
export function makePki(prefix = 'dm-pki-'): Pki {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  let serial = 0x1000
  const file = (name: string): string => join(dir, name)
  return {
    dir,
    ca(name, days = 2) {
      const cert = file(`${name}-ca.pem`)
      const key = file(`${name}-ca-key.pem`)
      openssl(dir, ['req', '-x509', ...KEY, '-keyout', key, '-out', cert, '-days', String(days), '-subj', `/CN=${name}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
      return { name, cert, key }
    },
    issue(ca, cn, options = {}) {
      const base = `${cn}-by-${ca.name}-${(serial++).toString(16)}`
      const key = file(`${base}-key.pem`)
      const csr = file(`${base}.csr`)
      const cert = file(`${base}.pem`)
      const ext = file(`${base}.ext`)
      writeFileSync(ext, [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage=${options.server === true ? 'serverAuth' : 'clientAuth'}`,
        ...(options.san === undefined ? [] : [`subjectAltName=${options.san}`]),
        '',
      ].join('\n'))
      openssl(dir, ['req', ...KEY, '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`])
      if (options.from === undefined) {
        openssl(dir, ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(serial++),
          '-days', String(options.days ?? 2), '-extfile', ext, '-out', cert])
      } else {
        // openssl ca needs a database of its own.
        const db = file(`${base}-db`)
        mkdirSync(db)
        writeFileSync(join(db, 'index.txt'), '')
        writeFileSync(join(db, 'serial'), `${(serial++).toString(16).padStart(4, '0')}\n`)
        writeFileSync(join(db, 'ca.cnf'), [
          '[ca]', 'default_ca = test', '[test]', `database = ${join(db, 'index.txt')}`, `new_certs_dir = ${db}`,
          `serial = ${join(db, 'serial')}`, 'default_md = sha256', 'policy = any', 'unique_subject = no',
          '[any]', 'commonName = supplied', '',
        ].join('\n'))
        openssl(dir, ['ca', '-batch', '-config', join(db, 'ca.cnf'), '-cert', ca.cert, '-keyfile', ca.key, '-in', csr,
          '-out', cert, '-notext', '-extfile', ext, '-startdate', options.from, '-enddate', options.to ?? options.from])
      }
      return { cert, key }
    },
    certPath(name, ca, client) {
      const path = file(`certpath-${name}`)
      mkdirSync(path)
      copyFileSync(ca.cert, join(path, 'ca.pem'))
      if (client !== undefined) {
        copyFileSync(client.cert, join(path, 'cert.pem'))
        copyFileSync(client.key, join(path, 'key.pem'))
      }
      return path
    },
    remove() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
