#!/usr/bin/env node
// Second half of the codec cross-check: mqtt-packet must read our encoding of every vector back
// as the packet it generated the vector from. Usage:
//   node tools/interop/mqtt_packet_readback.js VECTORS.json OURS.json
// VECTORS.json comes from mqtt_packet_vectors.js; OURS.json, [{name, version, hex}, ...] (or
// {encodings: [...]}), from the psos_crosscheck_tests program. Bytes may differ from
// mqtt-packet's own (properties in another order); the parsed fields must not.
'use strict'

const fs = require('fs')
const { loadMqttPacket, canonical, parseOne, diff } = require('./mqtt_packet_vectors.js')

function main () {
  const [vectorsPath, oursPath] = process.argv.slice(2)
  if (!vectorsPath || !oursPath) {
    console.error('usage: mqtt_packet_readback.js VECTORS.json OURS.json')
    process.exit(2)
  }
  const mqttPacket = loadMqttPacket()
  const vectors = JSON.parse(fs.readFileSync(vectorsPath, 'utf8')).vectors
  const oursJson = JSON.parse(fs.readFileSync(oursPath, 'utf8'))
  const ours = new Map()
  for (const entry of Array.isArray(oursJson) ? oursJson : oursJson.encodings) ours.set(entry.name, entry)

  let passed = 0
  let identical = 0
  const failures = []
  for (const vector of vectors) {
    const entry = ours.get(vector.name)
    if (!entry) {
      failures.push(`${vector.name}: no encoding from psos (did psos_crosscheck_tests fail to encode it?)`)
      continue
    }
    ours.delete(vector.name)
    if (entry.version !== vector.version) {
      failures.push(`${vector.name}: psos wrote version ${entry.version}, the vector is version ${vector.version}`)
      continue
    }
    const parsed = parseOne(mqttPacket, Buffer.from(entry.hex, 'hex'), vector.version)
    if (parsed.error) {
      failures.push(`${vector.name}: mqtt-packet cannot parse psos's encoding: ${parsed.error}\n    psos:        ${entry.hex.slice(0, 400)}\n    mqtt-packet: ${vector.hex.slice(0, 400)}`)
      continue
    }
    const problems = diff(canonical(parsed.packet, vector.version), vector.packet)
    if (problems.length) {
      failures.push(`${vector.name}: mqtt-packet reads psos's encoding differently:\n    ${problems.join('\n    ')}\n    psos:        ${entry.hex.slice(0, 400)}\n    mqtt-packet: ${vector.hex.slice(0, 400)}`)
      continue
    }
    passed++
    if (entry.hex === vector.hex) identical++
  }
  for (const name of ours.keys()) failures.push(`${name}: psos wrote an encoding for a vector that does not exist`)

  for (const failure of failures) console.error(`FAIL ${failure}`)
  console.log(`mqtt_packet_readback: ${passed} passed, ${failures.length} failed ` +
    `(${identical} of ${vectors.length} psos encodings byte-identical to mqtt-packet's)`)
  process.exit(failures.length ? 1 : 0)
}

main()
