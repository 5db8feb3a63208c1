#!/usr/bin/env node
// Generates MQTT test vectors with MQTT.js's mqtt-packet, an implementation independent of ours,
// for the codec cross-check (tests/integration/crosscheck.cmake). Usage:
//   node tools/interop/mqtt_packet_vectors.js OUT.json
// OUT.json: {generator, vectors: [{name, version, packet, hex}]}, where `packet` is the
// mqtt-packet object in canonical form (see canonical()) and `hex` what generate() made of it.
// Also exports canonical() and loadMqttPacket() for mqtt_packet_readback.js.
//
// mqtt-packet's ways, mapped here and in tests/crosscheck/crosscheck_test.cpp (never by loosening
// a comparison):
// - names: messageId (packet identifier), clean, keepalive, granted (SUBACK/UNSUBACK codes),
//   unsubscriptions, nl/rap/rh (No Local, Retain As Published, Retain Handling),
//   subscriptionIdentifiersAvailable, maximumQoS; v3.1.1 CONNACK has returnCode (the raw 0-5
//   return code), v5 has reasonCode;
// - the byte properties that can only be 0 or 1 are booleans; maximumQoS is a number;
// - user properties are an object; a repeated name holds an array of values and all pairs of one
//   name are written together, so an interleaved order (a, b, a) cannot be expressed; names that
//   look like array indices would be reordered by JavaScript, so none is used; its parser drops
//   a value that follows an empty value of the same name ({tag: ['', 'x']} reads back as
//   {tag: 'x'}), so no repeated name has an empty value (an empty value alone is covered);
// - it cannot generate a password without a user name (v5 allows one), so no vector has one;
// - a dup flag on SUBSCRIBE/UNSUBSCRIBE turns into invalid header flags, so none is set;
// - it writes the long forms: v5 DISCONNECT and AUTH always carry reason code and property
//   length, acks do when given a properties object; we may use the short forms (checked by the
//   readback, since the bytes then differ);
// - its parser rejects an AUTH with Remaining Length 0, which spec 3.15.2.1 allows (Success, no
//   properties). Such an AUTH lacks the Authentication Method, a Protocol Error by 3.15.2.2.2, so
//   every AUTH vector carries a method and that case is left out;
// - it validates little (a property in a packet that may not carry it, Topic Alias 0, Maximum
//   QoS 2, ...): every vector here is a valid packet, checked against the spec's table below.
'use strict'

const fs = require('fs')
const path = require('path')

const NPM_DIR = path.resolve(__dirname, '..', 'npm')

function loadMqttPacket () {
  const dir = path.join(NPM_DIR, 'node_modules', 'mqtt-packet')
  try {
    const mqttPacket = require(dir)
    mqttPacket.version = require(path.join(dir, 'package.json')).version
    return mqttPacket
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err
    console.error(`mqtt-packet is not installed in ${NPM_DIR}/node_modules: run scripts/setup ` +
      '(it runs `npm ci` in tools/npm)')
    process.exit(2)
  }
}

// ---------------------------------------------------------------------------------------------
// Canonical form: the fields of an mqtt-packet object that carry meaning for `version`, so that
// the object given to generate() and the one parse() returns compare equal when they describe
// the same packet. Only representation is normalised:
// - binary fields (payload, will payload, password, correlation and authentication data) may be
//   strings or Buffers in mqtt-packet; they become {type: 'Buffer', hex};
// - a repeated property (a PUBLISH's subscription identifiers, user properties with one name)
//   is an array, a single one a scalar; a one-element array becomes the scalar;
// - an empty property set is left out (parse() leaves it out);
// - fixed-header fields that a packet type fixes (qos 1 of PUBREL/SUBSCRIBE/UNSUBSCRIBE, which
//   parse() reports) are left out except for PUBLISH, where they are data.
// User properties keep their key order: it is the order on the wire (mqtt-packet writes and
// parses them grouped by name, in the object's key order).

const BINARY_PROPERTIES = new Set(['correlationData', 'authenticationData'])

function bufferJson (value) {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value === undefined ? '' : value)
  return { type: 'Buffer', hex: bytes.toString('hex') }
}

function canonicalProperties (properties) {
  if (!properties) return undefined
  const out = {}
  for (const name of Object.keys(properties)) {
    let value = properties[name]
    if (value === undefined) continue
    if (name === 'userProperties') {
      const pairs = {}
      for (const key of Object.keys(value)) {
        const v = value[key]
        pairs[key] = Array.isArray(v) ? (v.length === 1 ? String(v[0]) : v.map(String)) : String(v)
      }
      if (Object.keys(pairs).length) out[name] = pairs
      continue
    }
    if (Array.isArray(value) && value.length === 1) value = value[0]
    if (BINARY_PROPERTIES.has(name)) value = Array.isArray(value) ? value.map(bufferJson) : bufferJson(value)
    out[name] = value
  }
  return Object.keys(out).length ? out : undefined
}

function pick (target, source, names) {
  for (const name of names) {
    if (source[name] !== undefined) target[name] = source[name]
  }
}

function canonical (packet, version) {
  const v5 = version === 5
  const out = { cmd: packet.cmd }
  switch (packet.cmd) {
    case 'connect':
      pick(out, packet, ['protocolId', 'protocolVersion', 'clean', 'keepalive', 'clientId', 'username'])
      if (packet.bridgeMode) out.bridgeMode = true
      if (packet.password !== undefined) out.password = bufferJson(packet.password)
      if (packet.will) {
        const will = packet.will
        out.will = { topic: will.topic, payload: bufferJson(will.payload), qos: will.qos, retain: will.retain }
        const willProperties = v5 ? canonicalProperties(will.properties) : undefined
        if (willProperties) out.will.properties = willProperties
      }
      break
    case 'connack':
      pick(out, packet, ['sessionPresent', v5 ? 'reasonCode' : 'returnCode'])
      break
    case 'publish':
      pick(out, packet, ['topic', 'qos', 'retain', 'dup'])
      if (packet.qos > 0) out.messageId = packet.messageId
      out.payload = bufferJson(packet.payload)
      break
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      pick(out, packet, v5 ? ['messageId', 'reasonCode'] : ['messageId'])
      break
    case 'subscribe':
      pick(out, packet, ['messageId'])
      out.subscriptions = packet.subscriptions.map((s) => {
        const sub = { topic: s.topic, qos: s.qos }
        if (v5) Object.assign(sub, { nl: !!s.nl, rap: !!s.rap, rh: s.rh || 0 })
        return sub
      })
      break
    case 'suback':
      pick(out, packet, ['messageId', 'granted'])
      break
    case 'unsubscribe':
      pick(out, packet, ['messageId', 'unsubscriptions'])
      break
    case 'unsuback':
      pick(out, packet, v5 ? ['messageId', 'granted'] : ['messageId'])
      break
    case 'pingreq':
    case 'pingresp':
      break
    case 'disconnect':
    case 'auth':
      if (v5) pick(out, packet, ['reasonCode'])
      break
    default:
      throw new Error(`unknown packet type ${packet.cmd}`)
  }
  const properties = v5 ? canonicalProperties(packet.properties) : undefined
  if (properties) out.properties = properties
  return out
}

// Parses `bytes` (one whole packet) with a fresh mqtt-packet parser for `version`.
// Returns {packet} or {error}.
function parseOne (mqttPacket, bytes, version) {
  const parser = mqttPacket.parser({ protocolVersion: version })
  const packets = []
  let error = null
  parser.on('packet', (p) => packets.push(p))
  parser.on('error', (e) => { error = error || e })
  const left = parser.parse(bytes)
  if (error) return { error: error.message }
  if (packets.length !== 1) return { error: `parsed ${packets.length} packets, expected 1` }
  if (left !== 0) return { error: `${left} bytes left over after the packet` }
  return { packet: packets[0] }
}

// Differences between two canonical objects, as "path: got X, want Y" lines. Object keys are
// compared as sets (property order on the wire is free), except for user properties, whose
// order the specification requires to be kept.
function diff (got, want, where = 'packet', out = []) {
  const show = (v) => JSON.stringify(v) === undefined ? 'absent' : JSON.stringify(v).slice(0, 200)
  if (typeof got !== typeof want || Array.isArray(got) !== Array.isArray(want) ||
      (got === null) !== (want === null)) {
    out.push(`${where}: got ${show(got)}, want ${show(want)}`)
  } else if (Array.isArray(want)) {
    if (got.length !== want.length) out.push(`${where}: got ${got.length} elements, want ${want.length}`)
    for (let i = 0; i < Math.min(got.length, want.length); i++) diff(got[i], want[i], `${where}[${i}]`, out)
  } else if (want !== null && typeof want === 'object') {
    const gotKeys = Object.keys(got)
    const wantKeys = Object.keys(want)
    for (const k of wantKeys) if (!(k in got)) out.push(`${where}.${k}: absent, want ${show(want[k])}`)
    for (const k of gotKeys) if (!(k in want)) out.push(`${where}.${k}: got ${show(got[k])}, want absent`)
    if (where.endsWith('.userProperties') && gotKeys.join('\0') !== wantKeys.join('\0')) {
      out.push(`${where}: names in order ${show(gotKeys)}, want ${show(wantKeys)}`)
    }
    for (const k of wantKeys) if (k in got) diff(got[k], want[k], `${where}.${k}`, out)
  } else if (got !== want) {
    out.push(`${where}: got ${show(got)}, want ${show(want)}`)
  }
  return out
}

module.exports = { loadMqttPacket, canonical, parseOne, diff }

// ---------------------------------------------------------------------------------------------
// The vectors.

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
const TEXT = Buffer.from('hello psos')
const UTF8_TEXT = Buffer.from('TEMP: 23 °C — température 温度 😀')
const EMPTY = Buffer.alloc(0)

const TOPICS = {
  simple: 'a',
  levels: 'greenhouse/e01/dht/temperature',
  'leading-slash': '/leading/slash',
  'empty-levels': 'a//b/',
  spaces: 'with spaces/and more',
  dollar: '$SYS/broker/uptime',
  latin1: 'données/température',
  cjk: '温度/センサー/一',
  emoji: 'emoji/😀/🚀',
  long: 'long/' + 'x'.repeat(995)
}

const FILTERS = {
  hash: '#',
  plus: '+',
  'plus-middle': 'a/+/c',
  'hash-last': 'greenhouse/#',
  'plus-plus': '+/+',
  dollar: '$SYS/#',
  utf8: 'données/+/温度/😀',
  shared: '$share/group/sensors/+'
}

// Reason codes each packet type may carry (spec 2.4, and each packet's reason code table).
const CONNACK_V5_CODES = [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A,
  0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F]
const PUBACK_CODES = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]
const PUBREL_CODES = [0x00, 0x92]
const SUBACK_V5_CODES = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2]
const UNSUBACK_CODES = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]
const DISCONNECT_CODES = [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F,
  0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2]
const AUTH_CODES = [0x00, 0x18, 0x19]

// Where each property may appear (spec 2.2.2.2, Table 2-4). `will` is the will property set in
// CONNECT. The generator checks that every pair is exercised by at least one vector.
const ALLOWED = {
  payloadFormatIndicator: ['publish', 'will'],
  messageExpiryInterval: ['publish', 'will'],
  contentType: ['publish', 'will'],
  responseTopic: ['publish', 'will'],
  correlationData: ['publish', 'will'],
  subscriptionIdentifier: ['publish', 'subscribe'],
  sessionExpiryInterval: ['connect', 'connack', 'disconnect'],
  assignedClientIdentifier: ['connack'],
  serverKeepAlive: ['connack'],
  authenticationMethod: ['connect', 'connack', 'auth'],
  authenticationData: ['connect', 'connack', 'auth'],
  requestProblemInformation: ['connect'],
  willDelayInterval: ['will'],
  requestResponseInformation: ['connect'],
  responseInformation: ['connack'],
  serverReference: ['connack', 'disconnect'],
  reasonString: ['connack', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'suback', 'unsuback',
    'disconnect', 'auth'],
  receiveMaximum: ['connect', 'connack'],
  topicAliasMaximum: ['connect', 'connack'],
  topicAlias: ['publish'],
  maximumQoS: ['connack'],
  retainAvailable: ['connack'],
  userProperties: ['connect', 'will', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp',
    'subscribe', 'suback', 'unsubscribe', 'unsuback', 'disconnect', 'auth'],
  maximumPacketSize: ['connect', 'connack'],
  wildcardSubscriptionAvailable: ['connack'],
  subscriptionIdentifiersAvailable: ['connack'],
  sharedSubscriptionAvailable: ['connack']
}

const USER_ONE = { region: 'north' }
const USER_SEVERAL = { region: 'north', 'node-id': 'e01', 'ключ 温度': 'значение 😀', empty: '', '': 'no name' }
// Repeated names: mqtt-packet takes them as an array under one name.
const USER_REPEATED = { tag: ['a', 'b', 'c'], unit: '°C', tagged: ['x', 'x'] }

const hex = (n, width = 2) => n.toString(16).padStart(width, '0')

function buildVectors (mqttPacket) {
  const vectors = []
  const names = new Set()
  const versionName = (version) => (version === 5 ? 'v5' : 'v311')

  function add (version, variant, packet) {
    const name = `${versionName(version)}/${packet.cmd}/${variant}`
    if (names.has(name)) throw new Error(`duplicate vector name ${name}`)
    names.add(name)
    let bytes
    try {
      bytes = mqttPacket.generate(packet, { protocolVersion: version })
    } catch (err) {
      throw new Error(`${name}: mqtt-packet cannot generate it: ${err.message}`)
    }
    const want = canonical(packet, version)
    // mqtt-packet must read its own bytes back as the same object; otherwise the vector (or
    // canonical()) misrepresents what mqtt-packet means by it.
    const parsed = parseOne(mqttPacket, bytes, version)
    if (parsed.error) throw new Error(`${name}: mqtt-packet cannot parse its own bytes: ${parsed.error}`)
    const problems = diff(canonical(parsed.packet, version), want)
    if (problems.length) throw new Error(`${name}: mqtt-packet reads its own bytes differently:\n  ${problems.join('\n  ')}`)
    vectors.push({ name, version, packet: want, hex: bytes.toString('hex') })
    return bytes
  }

  for (const version of [4, 5]) {
    const v5 = version === 5

    // CONNECT -----------------------------------------------------------------------------------
    const connect = (fields) => ({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: version,
      clean: true,
      keepalive: 60,
      clientId: 'psos-e01',
      ...fields
    })
    for (const clean of [true, false]) {
      for (const login of ['none', 'username', 'password']) {
        for (const keepalive of [0, 60, 65535]) {
          const fields = { clean, keepalive }
          if (login !== 'none') fields.username = 'user'
          if (login === 'password') fields.password = Buffer.from('secret')
          add(version, `clean=${+clean},login=${login},keepalive=${keepalive}`, connect(fields))
        }
      }
    }
    add(version, 'client-id-empty', connect({ clientId: '' }))
    add(version, 'client-id-utf8', connect({ clientId: 'ü-клиент-温度-😀' }))
    add(version, 'client-id-23', connect({ clientId: 'c'.repeat(23) }))
    add(version, 'client-id-300', connect({ clientId: 'c'.repeat(300) }))
    add(version, 'password-all-bytes', connect({ username: 'user', password: ALL_BYTES }))
    add(version, 'password-empty', connect({ username: 'user', password: EMPTY }))
    add(version, 'username-empty', connect({ username: '' }))
    add(version, 'username-utf8', connect({ username: 'usér-温度-😀', password: Buffer.from('pässwörd') }))
    for (const qos of [0, 1, 2]) {
      for (const retain of [false, true]) {
        for (const [payloadName, payload] of [['empty', EMPTY], ['text', TEXT], ['all-bytes', ALL_BYTES]]) {
          const will = { topic: `psos/greenhouse/e01/$state`, payload, qos, retain }
          add(version, `will-qos=${qos},retain=${+retain},payload=${payloadName}`, connect({ will }))
        }
      }
    }
    add(version, 'will-topic-utf8', connect({
      will: { topic: TOPICS.emoji, payload: UTF8_TEXT, qos: 1, retain: false }
    }))
    add(version, 'will-everything', connect({
      clean: false,
      keepalive: 5,
      username: 'user',
      password: ALL_BYTES,
      will: {
        topic: 'psos/greenhouse/e01/$state',
        payload: Buffer.from('lost'),
        qos: 2,
        retain: true,
        ...(v5
          ? {
              properties: {
                willDelayInterval: 10,
                payloadFormatIndicator: true,
                messageExpiryInterval: 86400,
                contentType: 'text/plain; charset=utf-8',
                responseTopic: 'psos/greenhouse/e01/$reply',
                correlationData: ALL_BYTES,
                userProperties: USER_REPEATED
              }
            }
          : {})
      },
      ...(v5
        ? {
            properties: {
              sessionExpiryInterval: 3600,
              receiveMaximum: 20,
              maximumPacketSize: 1048576,
              topicAliasMaximum: 10,
              requestResponseInformation: true,
              requestProblemInformation: false,
              userProperties: USER_SEVERAL,
              authenticationMethod: 'SCRAM-SHA-256',
              authenticationData: ALL_BYTES
            }
          }
        : {})
    }))

    if (v5) {
      const connectProperties = [
        ['session-expiry=0', { sessionExpiryInterval: 0 }],
        ['session-expiry=3600', { sessionExpiryInterval: 3600 }],
        ['session-expiry=max', { sessionExpiryInterval: 0xFFFFFFFF }],
        ['receive-maximum=1', { receiveMaximum: 1 }],
        ['receive-maximum=65535', { receiveMaximum: 65535 }],
        ['maximum-packet-size=1', { maximumPacketSize: 1 }],
        ['maximum-packet-size=268435460', { maximumPacketSize: 268435460 }],
        ['topic-alias-maximum=0', { topicAliasMaximum: 0 }],
        ['topic-alias-maximum=65535', { topicAliasMaximum: 65535 }],
        ['request-response-information=0', { requestResponseInformation: false }],
        ['request-response-information=1', { requestResponseInformation: true }],
        ['request-problem-information=0', { requestProblemInformation: false }],
        ['request-problem-information=1', { requestProblemInformation: true }],
        ['user-property-one', { userProperties: USER_ONE }],
        ['user-properties-several', { userProperties: USER_SEVERAL }],
        ['user-properties-repeated', { userProperties: USER_REPEATED }],
        ['authentication-method', { authenticationMethod: 'SCRAM-SHA-1' }],
        ['authentication-method-data', { authenticationMethod: 'SCRAM-SHA-1', authenticationData: ALL_BYTES }],
        ['authentication-data-empty', { authenticationMethod: 'X', authenticationData: EMPTY }]
      ]
      for (const [variant, properties] of connectProperties) add(version, variant, connect({ properties }))

      const will = { topic: 'psos/greenhouse/e01/$state', payload: Buffer.from('lost'), qos: 1, retain: true }
      const willProperties = [
        ['will-delay=0', { willDelayInterval: 0 }],
        ['will-delay=30', { willDelayInterval: 30 }],
        ['will-delay=max', { willDelayInterval: 0xFFFFFFFF }],
        ['will-payload-format=0', { payloadFormatIndicator: false }],
        ['will-payload-format=1', { payloadFormatIndicator: true }],
        ['will-message-expiry=0', { messageExpiryInterval: 0 }],
        ['will-message-expiry=3600', { messageExpiryInterval: 3600 }],
        ['will-content-type', { contentType: 'application/json' }],
        ['will-content-type-utf8', { contentType: 'text/温度' }],
        ['will-response-topic', { responseTopic: 'psos/greenhouse/e01/$reply/😀' }],
        ['will-correlation-data', { correlationData: ALL_BYTES }],
        ['will-correlation-data-empty', { correlationData: EMPTY }],
        ['will-user-properties', { userProperties: USER_REPEATED }]
      ]
      for (const [variant, properties] of willProperties) {
        add(version, variant, connect({ will: { ...will, properties } }))
      }
    }

    // CONNACK -----------------------------------------------------------------------------------
    const connack = (fields) => ({ cmd: 'connack', sessionPresent: false, ...fields })
    if (!v5) {
      // v3.1.1 return codes 0-5 (spec 3.2.2.3); mqtt-packet calls the field returnCode.
      for (let code = 0; code <= 5; code++) add(version, `return-code=${code}`, connack({ returnCode: code }))
      add(version, 'session-present', connack({ sessionPresent: true, returnCode: 0 }))
    } else {
      for (const code of CONNACK_V5_CODES) add(version, `reason=0x${hex(code)}`, connack({ reasonCode: code }))
      add(version, 'session-present', connack({ sessionPresent: true, reasonCode: 0 }))
      const connackProperties = [
        ['session-expiry', { sessionExpiryInterval: 7200 }],
        ['receive-maximum', { receiveMaximum: 100 }],
        ['maximum-qos=0', { maximumQoS: 0 }],
        ['maximum-qos=1', { maximumQoS: 1 }],
        ['retain-available=0', { retainAvailable: false }],
        ['retain-available=1', { retainAvailable: true }],
        ['maximum-packet-size', { maximumPacketSize: 65536 }],
        ['assigned-client-id', { assignedClientIdentifier: 'auto-4F2A-😀' }],
        ['topic-alias-maximum', { topicAliasMaximum: 16 }],
        ['reason-string', { reasonString: 'welcome — bienvenue' }],
        ['user-properties', { userProperties: USER_REPEATED }],
        ['wildcard-available=0', { wildcardSubscriptionAvailable: false }],
        ['wildcard-available=1', { wildcardSubscriptionAvailable: true }],
        ['subscription-ids-available=0', { subscriptionIdentifiersAvailable: false }],
        ['subscription-ids-available=1', { subscriptionIdentifiersAvailable: true }],
        ['shared-available=0', { sharedSubscriptionAvailable: false }],
        ['shared-available=1', { sharedSubscriptionAvailable: true }],
        ['server-keep-alive', { serverKeepAlive: 120 }],
        ['response-information', { responseInformation: 'psos/responses/e01' }],
        ['authentication', { authenticationMethod: 'SCRAM-SHA-256', authenticationData: ALL_BYTES }]
      ]
      for (const [variant, properties] of connackProperties) add(version, variant, connack({ reasonCode: 0, properties }))
      add(version, 'server-reference', connack({ reasonCode: 0x9C, properties: { serverReference: 'other.example:1883' } }))
      add(version, 'everything', connack({
        sessionPresent: true,
        reasonCode: 0,
        properties: {
          sessionExpiryInterval: 0xFFFFFFFF,
          receiveMaximum: 65535,
          maximumQoS: 1,
          retainAvailable: true,
          maximumPacketSize: 268435460,
          assignedClientIdentifier: 'auto-1',
          topicAliasMaximum: 65535,
          reasonString: 'ok',
          userProperties: USER_SEVERAL,
          wildcardSubscriptionAvailable: true,
          subscriptionIdentifiersAvailable: true,
          sharedSubscriptionAvailable: false,
          serverKeepAlive: 0,
          responseInformation: 'r/',
          serverReference: 'backup.example',
          authenticationMethod: 'M',
          authenticationData: EMPTY
        }
      }))
    }

    // PUBLISH -----------------------------------------------------------------------------------
    const publish = (fields) => {
      const p = { cmd: 'publish', topic: 'greenhouse/e01/dht', payload: TEXT, qos: 0, retain: false, dup: false, ...fields }
      if (p.qos > 0 && p.messageId === undefined) p.messageId = 42
      return p
    }
    for (const qos of [0, 1, 2]) {
      for (const retain of [false, true]) {
        // DUP must be 0 for QoS 0 (MQTT-3.3.1-2).
        for (const dup of qos === 0 ? [false] : [false, true]) {
          add(version, `qos=${qos},retain=${+retain},dup=${+dup}`, publish({ qos, retain, dup }))
        }
      }
    }
    for (const [variant, topic] of Object.entries(TOPICS)) {
      add(version, `topic-${variant}`, publish({ topic, qos: 1 }))
    }
    for (const [variant, payload] of [['empty', EMPTY], ['all-bytes', ALL_BYTES], ['utf8', UTF8_TEXT]]) {
      for (const qos of [0, 2]) add(version, `payload-${variant},qos=${qos}`, publish({ payload, qos }))
    }
    for (const id of [1, 0x00FF, 0x0100, 0xFFFF]) add(version, `packet-id=${id}`, publish({ qos: 1, messageId: id }))
    // The longest topic a 2-byte length allows.
    add(version, 'topic-65535-bytes', publish({ topic: 't/' + 'é'.repeat(32766) + 'x', qos: 1 }))
    // Remaining length on both sides of the 1->2, 2->3 and 3->4 byte boundaries of its encoding
    // (the 2 MiB ones only once, to keep the files small).
    for (const remaining of [127, 128, 16383, 16384, ...(v5 ? [2097151, 2097152] : [])]) {
      for (const qos of remaining < 2097151 ? [0, 1] : [1]) {
        const base = publish({ qos, payload: EMPTY, ...(v5 ? { properties: { contentType: 'application/octet-stream' } } : {}) })
        const overhead = mqttPacket.generate(base, { protocolVersion: version }).length - 2
        const payload = Buffer.alloc(remaining - overhead)
        for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xFF
        const bytes = add(version, `remaining-length=${remaining},qos=${qos}`, { ...base, payload })
        const lengthBytes = remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4
        if (bytes.length !== 1 + lengthBytes + remaining) throw new Error(`remaining length ${remaining} missed`)
      }
    }
    if (v5) {
      const publishProperties = [
        ['payload-format=0', { payloadFormatIndicator: false }, ALL_BYTES],
        ['payload-format=1', { payloadFormatIndicator: true }, UTF8_TEXT],
        ['message-expiry=0', { messageExpiryInterval: 0 }],
        ['message-expiry=max', { messageExpiryInterval: 0xFFFFFFFF }],
        ['content-type', { contentType: 'application/json' }],
        ['content-type-empty', { contentType: '' }],
        ['response-topic', { responseTopic: 'reply/e01/温度' }],
        ['correlation-data', { correlationData: ALL_BYTES }],
        ['correlation-data-empty', { correlationData: EMPTY }],
        ['topic-alias=1', { topicAlias: 1 }],
        ['topic-alias=65535', { topicAlias: 65535 }],
        ['user-property-one', { userProperties: USER_ONE }],
        ['user-properties-several', { userProperties: USER_SEVERAL }],
        ['user-properties-repeated', { userProperties: USER_REPEATED }]
      ]
      for (const [variant, properties, payload] of publishProperties) {
        add(version, variant, publish({ qos: 1, properties, ...(payload ? { payload } : {}) }))
      }
      // Subscription identifiers are variable byte integers: cover each encoded length.
      for (const id of [1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455]) {
        add(version, `subscription-id=${id}`, publish({ properties: { subscriptionIdentifier: id } }))
      }
      add(version, 'subscription-ids-several', publish({ properties: { subscriptionIdentifier: [1, 300, 70000, 268435455] } }))
      add(version, 'subscription-ids-repeated', publish({ properties: { subscriptionIdentifier: [5, 5] } }))
      // A Topic Alias may stand in for the topic name, which is then empty (spec 3.3.2.3.4).
      add(version, 'topic-alias-empty-topic', publish({ topic: '', qos: 1, properties: { topicAlias: 7 } }))
      add(version, 'everything', publish({
        topic: TOPICS.cjk,
        qos: 2,
        retain: true,
        dup: true,
        messageId: 65535,
        payload: UTF8_TEXT,
        properties: {
          payloadFormatIndicator: true,
          messageExpiryInterval: 60,
          topicAlias: 3,
          responseTopic: 'reply/e01',
          correlationData: Buffer.from('req-1'),
          userProperties: USER_REPEATED,
          subscriptionIdentifier: [2, 16384],
          contentType: 'text/plain'
        }
      }))
    }

    // PUBACK, PUBREC, PUBREL, PUBCOMP -------------------------------------------------------------
    for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp']) {
      if (!v5) {
        for (const id of [1, 0x1234, 0xFFFF]) add(version, `packet-id=${id}`, { cmd, messageId: id })
        continue
      }
      const codes = cmd === 'puback' || cmd === 'pubrec' ? PUBACK_CODES : PUBREL_CODES
      // reason 0 without properties: mqtt-packet uses the 2-byte short form (spec 3.4.2.1).
      for (const code of codes) add(version, `reason=0x${hex(code)}`, { cmd, messageId: 1000 + code, reasonCode: code })
      // An empty property object makes mqtt-packet write the reason code and property length 0.
      add(version, 'reason=0x00,long-form', { cmd, messageId: 7, reasonCode: 0, properties: {} })
      add(version, 'packet-id=65535', { cmd, messageId: 65535, reasonCode: codes[1] })
      add(version, 'reason-string', { cmd, messageId: 8, reasonCode: codes[1], properties: { reasonString: `${cmd}: see log` } })
      add(version, 'user-properties', { cmd, messageId: 9, reasonCode: 0, properties: { userProperties: USER_REPEATED } })
      add(version, 'everything', {
        cmd,
        messageId: 10,
        reasonCode: codes[codes.length - 1],
        properties: { reasonString: 'why — pourquoi', userProperties: USER_SEVERAL }
      })
    }
    if (v5) {
      // Property length on both sides of the 1->2 and 2->3 byte boundaries of its encoding:
      // one Reason String (1 identifier byte + 2 length bytes + text).
      for (const length of [127, 128, 16383, 16384]) {
        add(version, `property-length=${length}`, {
          cmd: 'puback', messageId: 11, reasonCode: 0x80, properties: { reasonString: 'r'.repeat(length - 3) }
        })
      }
    }

    // SUBSCRIBE ---------------------------------------------------------------------------------
    const subscribe = (subscriptions, fields) => ({ cmd: 'subscribe', messageId: 17, subscriptions, ...fields })
    if (!v5) {
      for (const qos of [0, 1, 2]) add(version, `qos=${qos}`, subscribe([{ topic: 'e01/+/dht', qos }]))
    } else {
      for (const qos of [0, 1, 2]) {
        for (const nl of [false, true]) {
          for (const rap of [false, true]) {
            for (const rh of [0, 1, 2]) {
              add(version, `qos=${qos},nl=${+nl},rap=${+rap},rh=${rh}`,
                subscribe([{ topic: 'e01/+/dht', qos, nl, rap, rh }]))
            }
          }
        }
      }
    }
    for (const [variant, topic] of Object.entries(FILTERS)) {
      add(version, `filter-${variant}`, subscribe([{ topic, qos: 1 }]))
    }
    add(version, 'filters-several', subscribe(Object.values(FILTERS).map((topic, i) => ({
      topic,
      qos: i % 3,
      // No Local on a shared subscription is a Protocol Error (MQTT-3.8.3-4).
      ...(v5 ? { nl: i % 2 === 1 && !topic.startsWith('$share/'), rap: i % 4 >= 2, rh: i % 3 } : {})
    }))))
    add(version, 'packet-id=1', subscribe([{ topic: 'a', qos: 0 }], { messageId: 1 }))
    add(version, 'packet-id=65535', subscribe([{ topic: 'a', qos: 0 }], { messageId: 65535 }))
    if (v5) {
      for (const id of [1, 127, 128, 268435455]) {
        add(version, `subscription-id=${id}`, subscribe([{ topic: 'a/#', qos: 1 }], { properties: { subscriptionIdentifier: id } }))
      }
      add(version, 'user-properties', subscribe([{ topic: 'a/#', qos: 1 }], { properties: { userProperties: USER_REPEATED } }))
      add(version, 'everything', subscribe(
        [{ topic: FILTERS.utf8, qos: 2, nl: true, rap: true, rh: 2 }, { topic: FILTERS.shared, qos: 1, nl: false, rap: true, rh: 1 }],
        { messageId: 4660, properties: { subscriptionIdentifier: 99, userProperties: USER_SEVERAL } }))
    }

    // SUBACK ------------------------------------------------------------------------------------
    const suback = (granted, fields) => ({ cmd: 'suback', messageId: 17, granted, ...fields })
    const subackCodes = v5 ? SUBACK_V5_CODES : [0x00, 0x01, 0x02, 0x80]
    for (const code of subackCodes) add(version, `code=0x${hex(code)}`, suback([code]))
    add(version, 'codes-all', suback(subackCodes))
    add(version, 'packet-id=65535', suback([1, 0], { messageId: 65535 }))
    if (v5) {
      add(version, 'reason-string', suback([0x87], { properties: { reasonString: 'not for you' } }))
      add(version, 'user-properties', suback([2], { properties: { userProperties: USER_REPEATED } }))
      add(version, 'everything', suback([0, 1, 2, 0xA2], { properties: { reasonString: 'partly', userProperties: USER_ONE } }))
    }

    // UNSUBSCRIBE -------------------------------------------------------------------------------
    const unsubscribe = (unsubscriptions, fields) => ({ cmd: 'unsubscribe', messageId: 23, unsubscriptions, ...fields })
    add(version, 'one', unsubscribe([FILTERS['hash-last']]))
    add(version, 'several', unsubscribe(Object.values(FILTERS)))
    add(version, 'utf8', unsubscribe([FILTERS.utf8, TOPICS.emoji]))
    add(version, 'packet-id=65535', unsubscribe(['a'], { messageId: 65535 }))
    if (v5) add(version, 'user-properties', unsubscribe(['a', 'b/+'], { properties: { userProperties: USER_REPEATED } }))

    // UNSUBACK ----------------------------------------------------------------------------------
    const unsuback = (fields) => ({ cmd: 'unsuback', messageId: 23, ...fields })
    if (!v5) {
      for (const id of [1, 23, 65535]) add(version, `packet-id=${id}`, unsuback({ messageId: id }))
    } else {
      for (const code of UNSUBACK_CODES) add(version, `code=0x${hex(code)}`, unsuback({ granted: [code] }))
      add(version, 'codes-all', unsuback({ granted: UNSUBACK_CODES }))
      add(version, 'reason-string', unsuback({ granted: [0x11], properties: { reasonString: 'nothing to remove' } }))
      add(version, 'user-properties', unsuback({ granted: [0], properties: { userProperties: USER_REPEATED } }))
      add(version, 'everything', unsuback({ messageId: 65535, granted: [0, 0x11], properties: { reasonString: 'r', userProperties: USER_SEVERAL } }))
    }

    // PINGREQ, PINGRESP -------------------------------------------------------------------------
    add(version, 'empty', { cmd: 'pingreq' })
    add(version, 'empty', { cmd: 'pingresp' })

    // DISCONNECT --------------------------------------------------------------------------------
    if (!v5) {
      add(version, 'empty', { cmd: 'disconnect' })
    } else {
      // mqtt-packet always writes the reason code and the property length in v5.
      for (const code of DISCONNECT_CODES) add(version, `reason=0x${hex(code)}`, { cmd: 'disconnect', reasonCode: code })
      const disconnectProperties = [
        ['session-expiry', 0x00, { sessionExpiryInterval: 0 }],
        ['session-expiry-max', 0x04, { sessionExpiryInterval: 0xFFFFFFFF }],
        ['reason-string', 0x82, { reasonString: 'bad subscription' }],
        ['server-reference', 0x9D, { serverReference: 'new.example:8883' }],
        ['user-properties', 0x00, { userProperties: USER_REPEATED }],
        ['everything', 0x9C, { sessionExpiryInterval: 30, reasonString: 'moving', serverReference: 'other', userProperties: USER_SEVERAL }]
      ]
      for (const [variant, reasonCode, properties] of disconnectProperties) {
        add(version, variant, { cmd: 'disconnect', reasonCode, properties })
      }
    }

    // AUTH (v5 only; always with an Authentication Method, see the header) ---------------------
    if (v5) {
      for (const code of AUTH_CODES) {
        add(version, `reason=0x${hex(code)}`, { cmd: 'auth', reasonCode: code, properties: { authenticationMethod: 'SCRAM-SHA-256' } })
      }
      add(version, 'authentication-data', { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: ALL_BYTES } })
      add(version, 'authentication-data-empty', { cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'K', authenticationData: EMPTY } })
      add(version, 'reason-string', { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'GS2-KRB5', reasonString: 'continue' } })
      add(version, 'user-properties', { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'GS2-KRB5', userProperties: USER_REPEATED } })
      add(version, 'everything', {
        cmd: 'auth',
        reasonCode: 0x19,
        properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from('n,,n=user,r=fyko'), reasonString: 're-auth', userProperties: USER_SEVERAL }
      })
    }
  }
  return vectors
}

// Every property in every place it is allowed, and only there.
function checkPropertyCoverage (vectors) {
  const seen = new Set()
  const problems = []
  const note = (properties, context, name) => {
    for (const property of Object.keys(properties || {})) {
      if (!ALLOWED[property] || !ALLOWED[property].includes(context)) problems.push(`${name}: ${property} is not allowed in ${context}`)
      seen.add(`${property} in ${context}`)
    }
  }
  for (const v of vectors.filter((v) => v.version === 5)) {
    note(v.packet.properties, v.packet.cmd, v.name)
    if (v.packet.will) note(v.packet.will.properties, 'will', v.name)
  }
  for (const [property, contexts] of Object.entries(ALLOWED)) {
    for (const context of contexts) {
      if (!seen.has(`${property} in ${context}`)) problems.push(`no vector has ${property} in ${context}`)
    }
  }
  const repeated = (v) => Object.values(v.packet.properties?.userProperties || {}).some(Array.isArray)
  if (!vectors.some((v) => v.packet.cmd === 'publish' && Array.isArray(v.packet.properties?.subscriptionIdentifier))) {
    problems.push('no PUBLISH with several subscription identifiers')
  }
  if (!vectors.some(repeated)) problems.push('no vector with repeated user property names')
  return problems
}

function main () {
  const out = process.argv[2]
  if (!out) {
    console.error('usage: mqtt_packet_vectors.js OUT.json')
    process.exit(2)
  }
  const mqttPacket = loadMqttPacket()
  const vectors = buildVectors(mqttPacket)

  const problems = checkPropertyCoverage(vectors)
  const distinct = new Map()
  for (const v of vectors) {
    const key = `${v.version}:${v.hex}`
    if (distinct.has(key)) problems.push(`${v.name} has the same bytes as ${distinct.get(key)}`)
    else distinct.set(key, v.name)
  }
  if (distinct.size < 200) problems.push(`only ${distinct.size} distinct vectors, want at least 200`)
  if (problems.length) {
    console.error(`mqtt_packet_vectors: ${problems.length} problems:\n  ${problems.join('\n  ')}`)
    process.exit(1)
  }

  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true })
  fs.writeFileSync(out, JSON.stringify({ generator: `mqtt-packet ${mqttPacket.version}`, vectors }, null, 1) + '\n')

  const counts = {}
  for (const v of vectors) {
    const key = `${v.version === 5 ? 'v5' : 'v3.1.1'} ${v.packet.cmd}`
    counts[key] = (counts[key] || 0) + 1
  }
  console.log(`mqtt_packet_vectors: ${vectors.length} vectors from mqtt-packet ${mqttPacket.version} -> ${out}`)
  console.log(Object.entries(counts).map(([k, n]) => `  ${k}: ${n}`).join('\n'))
}

if (require.main === module) main()
