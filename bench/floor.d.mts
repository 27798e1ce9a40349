// Types of floor.mjs, for the floors written in TypeScript (parser-byte-relay.ts).
import type { Server, Socket } from 'node:net'
import type { Duplex } from 'node:stream'

export function floorArgs(script: string): { port: number; socketPath: string }
export function splice(client: Duplex, socketPath: string): Socket
export function relayUpgrade(req: { method: string; url: string; rawHeaders: string[] }, client: Duplex, head: Buffer, socketPath: string): void
export function serveFloor(server: Server, name: string, args: { port: number; socketPath: string }): void
