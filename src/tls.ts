// The TLS listener's certificate files, read and checked once at startup: every problem
// a docker CLI would otherwise report as a handshake failure is named here, with the variable.
import fs from './node-fs.ts'
import type { X509Certificate } from 'node:crypto'
import type { TlsOptions } from 'node:tls'
import { ConfigError, type TlsFiles } from './settings.ts'

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

// node:crypto only when TLS is configured: a static import would load it (and its dozens
// of internal modules) at every start, the bundle keeping builtin imports at its top.
const crypto = (): typeof import('node:crypto') => process.getBuiltinModule('node:crypto')

/** The server options, or a ConfigError naming the variable and what is wrong. */
export function loadTls(files: TlsFiles, now = new Date()): { options: TlsOptions; warnings: string[] } {
  const certText = read('TLS_CERT', files.cert)
  const keyText = read('TLS_KEY', files.key)
  const [leaf] = certificates('TLS_CERT', files.cert, certText)
  let key
  try {
    key = crypto().createPrivateKey(keyText)
  } catch (error) {
    throw new ConfigError(`TLS_KEY=${files.key} is not a PEM private key: ${(error as Error).message}`)
  }
  if (!leaf!.checkPrivateKey(key)) throw new ConfigError(`TLS_KEY=${files.key} is not the key of TLS_CERT=${files.cert} (${leaf!.subject.replace(/\n/g, ', ')}); give the key the certificate was made for`)
  expiry('TLS_CERT', files.cert, leaf!, now)
  const warnings: string[] = []
  if (leaf!.subjectAltName === undefined) {
    warnings.push(`TLS_CERT=${files.cert} has no subjectAltName: the docker CLI refuses it ("certificate relies on legacy Common Name field"); make it with -addext "subjectAltName=DNS:<host>,IP:<address>"`)
  }
  const options: TlsOptions = { cert: certText, key: keyText, minVersion: 'TLSv1.2' }
  if (files.ca !== undefined) {
    const caText = read('TLS_CA', files.ca)
    for (const ca of certificates('TLS_CA', files.ca, caText)) expiry('TLS_CA', files.ca, ca, now)
    Object.assign(options, { ca: caText, requestCert: true, rejectUnauthorized: true })
  }
  return { options, warnings }
}

function read(variable: string, path: string): string {
  try {
    return fs.readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError(`${variable}=${path} cannot be read: ${(error as Error).message}; mount the file into the container (read-only) and give its path`)
  }
}

function certificates(variable: string, path: string, text: string): X509Certificate[] {
  const blocks = text.match(PEM_CERTIFICATE) ?? []
  if (blocks.length === 0) throw new ConfigError(`${variable}=${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`)
  return blocks.map((block) => {
    try {
      return new (crypto().X509Certificate)(block)
    } catch (error) {
      throw new ConfigError(`${variable}=${path} holds a certificate that cannot be read: ${(error as Error).message}`)
    }
  })
}

function expiry(variable: string, path: string, certificate: X509Certificate, now: Date): void {
  const subject = certificate.subject.replace(/\n/g, ', ')
  if (new Date(certificate.validTo) < now) throw new ConfigError(`${variable}=${path} (${subject}) expired on ${certificate.validTo}; renew it`)
  if (new Date(certificate.validFrom) > now) throw new ConfigError(`${variable}=${path} (${subject}) is not valid before ${certificate.validFrom}; check the clock or the certificate`)
}
