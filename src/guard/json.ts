// A request body as a JSON syntax tree: every member of an object in document order,
// duplicates kept, numbers as their raw text. Go's encoding/json acts on exactly that
// (last key wins, duplicate objects merge); JSON.parse would already have thrown it away.
// momoa does the tokenizing; on top of it, what Go rejects and momoa lets through.
import { parse } from '@humanwhocodes/momoa'

export type JsonNode =
  | { kind: 'object'; members: { key: string; value: JsonNode }[] }
  | { kind: 'array'; items: JsonNode[] }
  | { kind: 'string'; value: string }
  | { kind: 'number'; raw: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'null' }

export type Parsed = { ok: true; node: JsonNode } | { ok: false; problem: string }

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export function parseJson(bytes: Uint8Array): Parsed {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    // Go would replace each bad byte with U+FFFD; nothing a client needs sends them.
    return { ok: false, problem: 'the body is not valid UTF-8' }
  }
  let document
  try {
    document = parse(text, { mode: 'json', ranges: true, tokens: true })
  } catch (error) {
    return { ok: false, problem: `the body is not valid JSON: ${(error as Error).message}` }
  }
  for (const token of document.tokens ?? []) {
    // Go's scanner refuses raw control characters inside strings; momoa accepts them.
    if (token.type === 'String' && /[\u0000-\u001f]/.test(text.slice(token.range![0], token.range![1]))) {
      return { ok: false, problem: `the body is not valid JSON: a raw control character in a string at offset ${token.range![0]}` }
    }
  }
  const problems: string[] = []
  const node = convert(document.body, text, problems)
  if (problems.length > 0) return { ok: false, problem: problems[0]! }
  return { ok: true, node }
}

type MomoaNode = ReturnType<typeof parse>['body']

function convert(node: MomoaNode, text: string, problems: string[]): JsonNode {
  switch (node.type) {
    case 'Object':
      return {
        kind: 'object',
        members: node.members.map((member) => ({ key: wellFormed(member.name.type === 'String' ? member.name.value : member.name.name, problems), value: convert(member.value, text, problems) })),
      }
    case 'Array':
      return { kind: 'array', items: node.elements.map((element) => convert(element.value, text, problems)) }
    case 'String':
      return { kind: 'string', value: wellFormed(node.value, problems) }
    case 'Number':
      return { kind: 'number', raw: text.slice(node.range![0], node.range![1]) }
    case 'Boolean':
      return { kind: 'bool', value: node.value }
    case 'Null':
      return { kind: 'null' }
    default:
      problems.push(`the body is not valid JSON: unexpected ${node.type}`)
      return { kind: 'null' }
  }
}

// `\ud800` alone: Go decodes it to U+FFFD, JavaScript keeps half a character. Refused
// rather than guessed at.
function wellFormed(value: string, problems: string[]): string {
  if (!value.isWellFormed()) problems.push(`the body is not valid JSON for dockerd: the string ${JSON.stringify(value.slice(0, 40))} holds a lone surrogate escape`)
  return value
}
