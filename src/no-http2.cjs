// Stands in for node:http2 in the bundle (package.json, `--alias:node:http2=`): undici's
// HTTP/2 client loads node:http2 at startup inside a try/catch and falls back to running
// without it, and dockmoat speaks HTTP/1.1 to dockerd only. node:http2 brings node:tls and
// node:crypto with it: ~5 MiB resident and ~20 ms of startup.
throw new Error('node:http2 is left out of the dockmoat bundle')
