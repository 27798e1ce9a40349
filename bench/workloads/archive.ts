// Workload 3: `docker cp` traffic. Download a big file as a tar (GET .../archive) and
// upload a tar (PUT .../archive), each on a fresh connection; MiB/s and proxy CPU seconds.
import { randomBytes } from 'node:crypto'
import { newClient, once, send } from '../client.ts'
import type { Endpoint } from '../endpoint.ts'
import { getRequest, RawConnection } from '../raw.ts'
import type { Made } from '../fixtures.ts'
import { round } from '../stats.ts'
import type { Target } from '../targets.ts'
import { errorText, markCpu, orderFor, pushDetail, recordCpu, type Ctx } from './common.ts'

const MiB = 1024 * 1024
export const BIG_FILE = '/bench-big.bin'
const UPLOAD_NAME = 'bench-upload.bin'

/** A ustar header for one regular file. */
export function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512, 0)
  const put = (text: string, offset: number, length: number): void => { header.write(text, offset, length, 'latin1') }
  const octal = (value: number, length: number): string => value.toString(8).padStart(length - 1, '0') + '\0'
  put(name, 0, 100)
  put(octal(0o644, 8), 100, 8)
  put(octal(0, 8), 108, 8)
  put(octal(0, 8), 116, 8)
  put(octal(size, 12), 124, 12)
  put(octal(Math.floor(Date.now() / 1000), 12), 136, 12)
  put('        ', 148, 8)
  put('0', 156, 1)
  put('ustar\0', 257, 6)
  put('00', 263, 2)
  let sum = 0
  for (const byte of header) sum += byte
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8)
  return header
}

/** The size field of a tar header, and its name. */
export function readTarHeader(header: Buffer): { name: string; size: number } | null {
  if (header.length < 512) return null
  const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '')
  const size = Number.parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim(), 8)
  return Number.isFinite(size) ? { name, size } : null
}

/** A tar stream of one file of `size` bytes (a multiple of 512), produced on the fly. */
async function* tarStream(size: number, block: Buffer): AsyncGenerator<Buffer> {
  yield tarHeader(UPLOAD_NAME, size)
  let left = size
  while (left > 0) {
    const piece = left >= block.length ? block : block.subarray(0, left)
    left -= piece.length
    yield piece
  }
  yield Buffer.alloc(1024, 0)
}

export async function prepareArchive(ctx: Ctx, work: Made): Promise<void> {
  const { downloadMiB } = ctx.config.archive
  ctx.log(`archive: writing a ${downloadMiB} MiB file in ${work.name}`)
  await ctx.fixtures.exec(work.name, ['dd', 'if=/dev/urandom', `of=${BIG_FILE}`, 'bs=1048576', `count=${downloadMiB}`])
}

/** A GET on a raw socket: the body is counted, its first 512 bytes kept (the tar header). */
async function rawDownload(endpoint: Endpoint, path: string, timeoutMs: number): Promise<{ status: number; bytes: number; first: Buffer }> {
  const connection = new RawConnection(endpoint, Buffer.allocUnsafe(MiB))
  let first = Buffer.alloc(0)
  let timer: NodeJS.Timeout | undefined
  try {
    await connection.ready()
    const answer = await Promise.race([
      connection.request(getRequest(path), (chunk) => {
        if (first.length < 512) first = Buffer.concat([first, chunk.subarray(0, 512 - first.length)])
      }),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs) }),
    ])
    return { status: answer.status, bytes: answer.bytes, first }
  } finally {
    clearTimeout(timer)
    connection.close()
  }
}

async function download(ctx: Ctx, target: Target, work: Made, r: number): Promise<void> {
  const size = ctx.config.archive.downloadMiB * MiB
  const expectedBytes = 512 + Math.ceil(size / 512) * 512 + 1024
  const before = markCpu(ctx, target)
  let detail: Record<string, unknown>
  try {
    const answer = await rawDownload(target.endpoint, `/containers/${work.id}/archive?path=${encodeURIComponent(BIG_FILE)}`, 120_000)
    const cpu = recordCpu(ctx, 'archive-download', target, r, before)
    const header = readTarHeader(answer.first)
    // dockerd's tar: one header, the data padded to 512, and at least the two zero blocks.
    const verified = answer.status === 200 && header?.size === size && answer.bytes >= expectedBytes && answer.bytes - expectedBytes < 10240
    const mibs = answer.bytes / MiB / cpu.wallSeconds
    ctx.recorder.add('download_mibs', target.name, r, verified ? mibs : Number.NaN)
    if (cpu.proxySeconds !== null) ctx.recorder.add('download_cpu', target.name, r, cpu.proxySeconds)
    if (!verified) {
      const why = answer.status === 200 ? `${answer.bytes} bytes, tar size field ${header?.size ?? 'missing'}` : answer.first.toString('utf8').trim().slice(0, 200)
      ctx.recorder.note('download_mibs', target.name, `round ${r + 1}: HTTP ${answer.status}: ${why}`)
    }
    detail = { round: r, status: answer.status, bytes: answer.bytes, fileBytes: header?.size ?? null, verified, seconds: round(cpu.wallSeconds), mibPerSecond: round(mibs, 1), proxyCpuSeconds: cpu.proxySeconds, dockerdCpuSeconds: round(cpu.dockerdSeconds ?? Number.NaN, 2), clientCpuSeconds: round(cpu.clientSeconds, 2) }
    ctx.log(`archive download round ${r + 1} ${target.name}: ${round(mibs, 0)} MiB/s, proxy CPU ${cpu.proxySeconds ?? '-'} s${verified ? '' : ' (NOT VERIFIED)'}`)
  } catch (error) {
    ctx.recorder.add('download_mibs', target.name, r, Number.NaN)
    ctx.recorder.note('download_mibs', target.name, `round ${r + 1}: ${errorText(error)}`)
    detail = { round: r, error: errorText(error), verified: false }
    ctx.log(`archive download round ${r + 1} ${target.name}: FAILED ${errorText(error)}`)
  }
  pushDetail(ctx, 'archiveDownload', target.name, detail)
}

async function upload(ctx: Ctx, target: Target, work: Made, r: number, block: Buffer): Promise<void> {
  const size = ctx.config.archive.uploadMiB * MiB
  const length = 512 + size + 1024
  const before = markCpu(ctx, target)
  let detail: Record<string, unknown>
  const client = newClient(target.endpoint, { bodyTimeout: 120_000, headersTimeout: 120_000 })
  try {
    const answer = await send(client, {
      method: 'PUT',
      path: `/containers/${work.id}/archive?path=%2Ftmp`,
      headers: { 'content-type': 'application/x-tar', 'content-length': String(length) },
      body: tarStream(size, block),
      keep: true,
    })
    const cpu = recordCpu(ctx, 'archive-upload', target, r, before)
    // The file that arrived, as dockerd sees it (asked directly, not through the proxy).
    const stat = await once({ kind: 'unix', socketPath: ctx.config.socketPath }, { method: 'HEAD', path: `/containers/${work.id}/archive?path=${encodeURIComponent('/tmp/' + UPLOAD_NAME)}` })
    const statHeader = stat.headers['x-docker-container-path-stat']
    const landed = typeof statHeader === 'string' ? (JSON.parse(Buffer.from(statHeader, 'base64').toString('utf8')) as { size: number }).size : null
    const verified = answer.status === 200 && landed === size
    const mibs = length / MiB / cpu.wallSeconds
    ctx.recorder.add('upload_mibs', target.name, r, verified ? mibs : Number.NaN)
    if (cpu.proxySeconds !== null) ctx.recorder.add('upload_cpu', target.name, r, cpu.proxySeconds)
    if (!verified) ctx.recorder.note('upload_mibs', target.name, `round ${r + 1}: HTTP ${answer.status}: ${answer.status === 200 ? `file size ${landed ?? 'missing'}` : (answer.text ?? '').trim().slice(0, 200)}`)
    detail = { round: r, status: answer.status, bytesSent: length, fileBytes: landed, verified, seconds: round(cpu.wallSeconds), mibPerSecond: round(mibs, 1), proxyCpuSeconds: cpu.proxySeconds, dockerdCpuSeconds: round(cpu.dockerdSeconds ?? Number.NaN, 2), clientCpuSeconds: round(cpu.clientSeconds, 2) }
    ctx.log(`archive upload round ${r + 1} ${target.name}: ${round(mibs, 0)} MiB/s, proxy CPU ${cpu.proxySeconds ?? '-'} s${verified ? '' : ' (NOT VERIFIED)'}`)
  } catch (error) {
    ctx.recorder.add('upload_mibs', target.name, r, Number.NaN)
    ctx.recorder.note('upload_mibs', target.name, `round ${r + 1}: ${errorText(error)}`)
    detail = { round: r, error: errorText(error), verified: false }
    ctx.log(`archive upload round ${r + 1} ${target.name}: FAILED ${errorText(error)}`)
  } finally {
    await client.destroy().catch(() => undefined)
  }
  pushDetail(ctx, 'archiveUpload', target.name, detail)
}

export async function archiveWorkload(ctx: Ctx, work: Made): Promise<void> {
  const block = randomBytes(MiB)
  for (let r = 0; r < ctx.config.archive.rounds; r++) {
    for (const target of orderFor(r, ctx.targets)) await download(ctx, target, work, r)
    for (const target of orderFor(r, ctx.targets)) await upload(ctx, target, work, r, block)
  }
}
