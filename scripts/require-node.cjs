// Run before `npm start`, `npm test`, `npm run bench` and the other scripts that run
// TypeScript with node (package.json's `pre*` scripts). dockmoat's sources are TypeScript
// that Node 24 runs as they are; an older Node dies on the `.ts` extension with a stack
// trace. This says what to do instead. Old-fashioned JavaScript on purpose, so that any
// Node can parse it; CommonJS (`.cjs`), so that it is one even in this "type": "module"
// package.
'use strict'

// Keep in step with "engines" in package.json (test/unit/node-version.test.ts checks).
var REQUIRED_MAJOR = 24

/** Whether a Node version string ("20.20.2" or "v24.1.0") is new enough for dockmoat. */
function supportsNode(version) {
  var major = Number(String(version).replace(/^v/, '').split('.')[0])
  return major >= REQUIRED_MAJOR
}

/**
 * What to print when the Node at `execPath`, of version `version`, is too old; `command`
 * is the command to run again ("npm start"), if known.
 */
function tooOldMessage(version, execPath, command) {
  return [
    'dockmoat needs Node.js ' + REQUIRED_MAJOR + ' or later (this is v' + String(version).replace(/^v/, '') + ' at ' + execPath + ').',
    'Install Node ' + REQUIRED_MAJOR + ' (https://nodejs.org/en/download), put it first on PATH, then run `npm ci` and ' +
      (command ? '`' + command + '`' : 'this command') + ' again.',
    'Or, with registry access, build the image instead, which needs no Node on the host: `docker build -t dockmoat .`',
    '(README.md, "Quick start").',
    '',
  ].join('\n')
}

/** The npm command that ran this as its `pre` script: "npm start", "npm run bench"; else null. */
function npmCommand(lifecycleEvent) {
  var match = /^pre(.+)$/.exec(lifecycleEvent || '')
  if (!match) return null
  return match[1] === 'start' || match[1] === 'test' ? 'npm ' + match[1] : 'npm run ' + match[1]
}

module.exports = { REQUIRED_MAJOR: REQUIRED_MAJOR, supportsNode: supportsNode, tooOldMessage: tooOldMessage, npmCommand: npmCommand }

if (require.main === module && !supportsNode(process.versions.node)) {
  process.stderr.write(tooOldMessage(process.versions.node, process.execPath, npmCommand(process.env.npm_lifecycle_event)))
  process.exitCode = 1
}
