// Types of floor.mjs, for the floors written in TypeScript (http-byte-relay.ts).
import type { IncomingMessage, Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

export function floorArgs(script: string): { port: number; socketPath: string }
export function splice(client: Duplex, socketPath: string): Socket
export function relayUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, socketPath: string): void
export function serveFloor(server: Server, name: string, args: { port: number; socketPath: string }): void
