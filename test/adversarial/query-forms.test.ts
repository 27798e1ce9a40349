// A form body on a route whose query dockmoat judges (rename, tag, pull/import, push,
// commit): Go's r.Form puts the body's values before the query's, so dockerd would act on
// values dockmoat never saw. Sent through dockmoat to the REAL dockerd; the evidence is
// dockerd's own state (the container's name, the image's tags), never the status alone.
import t from 'tap'
import { request } from 'node:http'
import { api, cleanup, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { startProxy } from '../helpers/proxy.ts'

await requireDocker()
const image = await testImage()
const repository = image.replace(/:latest$/, '')

const proxy = await startProxy({ CONTAINERS: '1', IMAGES: '1', POST: '1', ALLOW_NAMES: 'formok-*', ALLOW_IMAGES: repository })
t.teardown(() => proxy.stop())

/** A raw POST through dockmoat with a urlencoded body. */
function postForm(path: string, form: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxy.port, method: 'POST', path, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
    req.end(form)
  })
}

t.test('rename: the name in a form body never reaches dockerd', async (t) => {
  const name = `formok-${uniqueName('rename').slice('dockmoat-test-'.length)}`
  const evil = `${name}-evil`
  t.teardown(() => cleanup('container', [name, evil]))
  t.equal((await docker(['create', '--name', name, image, 'true'])).code, 0, 'a container named as ALLOW_NAMES allows (made directly)')
  const r = await postForm(`/v1.41/containers/${name}/rename?name=${name}-2`, `name=${evil}`)
  t.equal(r.status, 403, 'refused')
  t.match(r.text, /body would replace the query's values/, `saying why (${r.text.trim()})`)
  t.equal((await api('GET', `/containers/${name}/json`)).status, 200, 'dockerd still has it under its name')
  t.equal((await api('GET', `/containers/${evil}/json`)).status, 404, 'and nothing under the form\'s name')
})

t.test('tag: the repo in a form body never reaches dockerd', async (t) => {
  const evil = `dockmoat-test-formevil${process.pid}`
  t.teardown(() => cleanup('image', [`${evil}:viaform`]))
  const r = await postForm(`/v1.41/images/${image}/tag?repo=${repository}&tag=formok`, `repo=${evil}&tag=viaform`)
  t.equal(r.status, 403, 'refused')
  const tags = ((await api('GET', `/images/${image}/json`)).json as { RepoTags: string[] }).RepoTags
  t.notOk(tags.includes(`${evil}:viaform`), `dockerd made no tag from the form (${tags.join(', ')})`)
  t.notOk(tags.includes(`${repository}:formok`), 'nor from the query')
})

t.test('pull and import: a form body cannot change what is fetched', async (t) => {
  const pull = await postForm(`/v1.41/images/create?fromImage=${repository}&tag=latest`, 'fromImage=&fromSrc=http://127.0.0.1:1/rootfs.tar&repo=planted&tag=x')
  t.equal(pull.status, 403, 'an import hidden in the body of an allowed pull is refused')
  t.equal((await api('GET', '/images/planted:x/json')).status, 404, 'dockerd imported nothing')
})
