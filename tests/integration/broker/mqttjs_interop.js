// MQTT.js (tools/npm) against a running broker: one scenario per run, with counted messages.
//   node mqttjs_interop.js URL PROTOCOL_VERSION SCENARIO
// URL is mqtt://127.0.0.1:PORT or ws://127.0.0.1:PORT/mqtt; PROTOCOL_VERSION is 4 (3.1.1) or 5.
// Scenarios: qos, retained, will, session, shared, properties (5 only). Exit status 0 when the
// scenario held, 1 with the reason on stderr when it did not.
'use strict'

const path = require('path')
const assert = require('assert/strict')

const NPM_DIR = path.join(__dirname, '..', '..', '..', 'tools', 'npm', 'node_modules')
let mqtt
try {
  mqtt = require(path.join(NPM_DIR, 'mqtt'))
} catch (err) {
  console.error(`MQTT.js is not installed in ${NPM_DIR}: run scripts/setup (${err.message})`)
  process.exit(2)
}

const [url, versionText, scenario] = process.argv.slice(2)
const version = Number(versionText)
const clients = []

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Connects and resolves with [client, connack]; rejects on a refusal or after 5 s.
function connect (clientId, options = {}) {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId,
      protocolVersion: version,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...options
    })
    clients.push(client)
    client.received = []
    client.on('message', (topic, payload, packet) => {
      client.received.push({ topic, payload: payload.toString(), packet })
    })
    client.once('connect', (connack) => resolve([client, connack]))
    client.once('error', reject)
  })
}

// Resolves once `client` has `count` messages (on `topic`, if given).
async function received (client, count, topic, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  const matching = () => client.received.filter((m) => topic === undefined || m.topic === topic)
  while (matching().length < count) {
    if (Date.now() > deadline) {
      throw new Error(`${client.options.clientId}: ${matching().length} of ${count} messages` +
        `${topic ? ' on ' + topic : ''} after ${timeoutMs} ms`)
    }
    await sleep(10)
  }
  return matching()
}

function persistentOptions () {
  return version === 5
    ? { clean: false, properties: { sessionExpiryInterval: 300 } }
    : { clean: false }
}

const scenarios = {
  async qos () {
    const n = 50
    const [sub] = await connect('sub')
    for (const qos of [0, 1, 2]) {
      const granted = await sub.subscribeAsync(`count/${qos}`, { qos })
      assert.equal(granted[0].qos, qos)
    }
    const [pub] = await connect('pub')
    for (const qos of [0, 1, 2]) {
      for (let i = 0; i < n; i++) await pub.publishAsync(`count/${qos}`, String(i), { qos })
    }
    for (const qos of [0, 1, 2]) {
      const got = await received(sub, n, `count/${qos}`)
      assert.deepEqual(got.map((m) => m.payload), [...Array(n).keys()].map(String), `QoS ${qos}`)
      assert.ok(got.every((m) => m.packet.qos === qos))
    }
    await sleep(200)
    assert.equal(sub.received.length, 3 * n, 'duplicates')
  },

  async retained () {
    const [pub] = await connect('pub')
    await pub.publishAsync('ret/a', 'first', { qos: 1, retain: true })
    await pub.publishAsync('ret/a', 'second', { qos: 1, retain: true })
    await pub.publishAsync('ret/b', 'other', { qos: 1, retain: true })
    const [sub1] = await connect('sub1')
    await sub1.subscribeAsync('ret/#', { qos: 1 })
    const got = (await received(sub1, 2)).map((m) => [m.topic, m.payload, m.packet.retain]).sort()
    assert.deepEqual(got, [['ret/a', 'second', true], ['ret/b', 'other', true]])
    await pub.publishAsync('ret/a', '', { qos: 1, retain: true })
    const [sub2] = await connect('sub2')
    await sub2.subscribeAsync('ret/#', { qos: 1 })
    await received(sub2, 1)
    await sleep(300)
    assert.deepEqual(sub2.received.map((m) => [m.topic, m.payload]), [['ret/b', 'other']])
  },

  async will () {
    const [watcher] = await connect('watcher')
    await watcher.subscribeAsync('will/#', { qos: 1 })
    const will = (topic, payload) => ({ will: { topic, payload, qos: 1 } })
    const [dying] = await connect('dying', will('will/dying', 'gone'))
    const [leaving] = await connect('leaving', will('will/leaving', 'no'))
    await leaving.endAsync() // a normal DISCONNECT: no will
    dying.stream.destroy() // the socket closes without DISCONNECT: the will is published
    const got = await received(watcher, 1)
    await sleep(300)
    assert.deepEqual(watcher.received.map((m) => [m.topic, m.payload]), [['will/dying', 'gone']])
    assert.equal(got.length, 1)
  },

  async session () {
    let [sub, ack] = await connect('keeper', persistentOptions())
    await sub.subscribeAsync('away/#', { qos: 1 })
    await sub.endAsync()
    const [pub] = await connect('pub')
    for (let i = 0; i < 20; i++) await pub.publishAsync('away/x', String(i), { qos: 1 });
    [sub, ack] = await connect('keeper', persistentOptions())
    assert.equal(ack.sessionPresent, true, 'session present')
    const got = await received(sub, 20)
    assert.deepEqual(got.map((m) => m.payload), [...Array(20).keys()].map(String))
    await sleep(200)
    assert.equal(sub.received.length, 20, 'duplicates')
  },

  async shared () {
    const members = []
    for (const id of ['m1', 'm2']) {
      const [m] = await connect(id)
      await m.subscribeAsync('$share/g/jobs/+', { qos: 1 })
      members.push(m)
    }
    const [pub] = await connect('pub')
    const n = 40
    for (let i = 0; i < n; i++) await pub.publishAsync('jobs/x', String(i), { qos: 1 })
    const deadline = Date.now() + 5000
    const total = () => members[0].received.length + members[1].received.length
    while (total() < n && Date.now() < deadline) await sleep(10)
    await sleep(200)
    const all = members.flatMap((m) => m.received.map((r) => Number(r.payload)))
    all.sort((a, b) => a - b)
    assert.deepEqual(all, [...Array(n).keys()], 'each message to exactly one member')
    assert.ok(members.every((m) => m.received.length > 0), 'spread across members')
  },

  async properties () {
    assert.equal(version, 5, 'properties need MQTT 5')
    const [sub] = await connect('sub')
    await sub.subscribeAsync('props/#', { qos: 1, properties: { subscriptionIdentifier: 12 } })
    const [pub] = await connect('pub')
    const properties = {
      userProperties: { k: ['v1', 'v2'], other: 'x y' },
      contentType: 'application/json',
      responseTopic: 'reply/to',
      correlationData: Buffer.from([0, 1, 2, 255]),
      payloadFormatIndicator: true,
      messageExpiryInterval: 100
    }
    await pub.publishAsync('props/t', '{}', { qos: 1, properties })
    const [m] = await received(sub, 1)
    const p = m.packet.properties
    assert.deepEqual({ ...p.userProperties }, { k: ['v1', 'v2'], other: 'x y' })
    assert.equal(p.contentType, 'application/json')
    assert.equal(p.responseTopic, 'reply/to')
    assert.deepEqual([...p.correlationData], [0, 1, 2, 255])
    assert.equal(p.payloadFormatIndicator, true)
    assert.ok(p.messageExpiryInterval <= 100 && p.messageExpiryInterval >= 98)
    assert.deepEqual(p.subscriptionIdentifier, 12)
  }
}

async function main () {
  const run = scenarios[scenario]
  if (!run) throw new Error(`unknown scenario ${scenario}`)
  await run()
}

main().then(() => {
  for (const c of clients) c.end(true)
  process.exit(0)
}, (err) => {
  console.error(`${scenario} (MQTT ${version === 5 ? '5' : '3.1.1'}, ${url}): ${err.stack || err}`)
  for (const c of clients) c.end(true)
  process.exit(1)
})
