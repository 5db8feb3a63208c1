#!/usr/bin/env node
// mqtt-packet's parser on the PUBLISH streams of bench/bench_codec.cpp (same bytes, same 64 KiB
// reads), for scripts/bench to compare with. Rates are per second of the process's CPU time.
// Prints one JSON object:
//   {"mqtt_packet": "9.0.2", "node": "v20...", "results": [{"name": "v5/qos0/64",
//    "packets_per_second": ..., "bytes_per_second": ...}, ...]}
// Usage: node mqtt_packet_parse_bench.js [--seconds S] [--repetitions N]: each case is measured
// for S seconds (default 1) split into N runs (default 3), and the fastest run is reported.
'use strict'

const path = require('path')

const npmDir = path.join(__dirname, '..', 'npm')
const mqtt = require(path.join(npmDir, 'node_modules', 'mqtt-packet'))
const mqttPacketVersion = require(path.join(npmDir, 'node_modules', 'mqtt-packet', 'package.json')).version

const TOPIC = 'sensors/e01/dht'
const READ_SIZE = 64 * 1024
const STREAM_BYTES = 1024 * 1024

function varint (n) {
  const out = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

// Same payload as bench_codec.cpp's make_payload: 'a'..'z' repeated.
function payload (size) {
  const b = Buffer.alloc(size)
  for (let i = 0; i < size; i++) b[i] = 0x61 + (i % 26)
  return b
}

// The PUBLISH exactly as psos encodes it: fixed header, topic, packet id 1 when QoS 1,
// an empty property section in v5, payload.
function publishBytes (version, qos, payloadSize) {
  const topic = Buffer.from(TOPIC)
  const parts = [Buffer.from([topic.length >> 8, topic.length & 0xff]), topic]
  if (qos > 0) parts.push(Buffer.from([0, 1]))
  if (version === 5) parts.push(Buffer.from([0]))
  parts.push(payload(payloadSize))
  const body = Buffer.concat(parts)
  const bytes = Buffer.concat([Buffer.from([0x30 | (qos << 1)]), varint(body.length), body])

  // mqtt-packet must encode the same packet to the same bytes, or the comparison is unfair.
  const generated = mqtt.generate({
    cmd: 'publish',
    topic: TOPIC,
    payload: payload(payloadSize),
    qos,
    retain: false,
    dup: false,
    messageId: qos > 0 ? 1 : undefined,
    properties: version === 5 ? {} : undefined
  }, { protocolVersion: version })
  if (!generated.equals(bytes)) {
    throw new Error(`mqtt-packet encodes v${version} QoS ${qos} ${payloadSize} B differently`)
  }
  return bytes
}

function streamOf (packet) {
  const count = Math.max(1, Math.floor(STREAM_BYTES / packet.length))
  return { stream: Buffer.concat(Array(count).fill(packet)), count }
}

function runCase (version, qos, payloadSize, seconds, repetitions) {
  const { stream, count } = streamOf(publishBytes(version, qos, payloadSize))
  const reads = []
  for (let offset = 0; offset < stream.length; offset += READ_SIZE) {
    reads.push(stream.subarray(offset, offset + READ_SIZE))
  }
  const parser = mqtt.parser({ protocolVersion: version })
  let packets = 0
  let lastPayloadLength = -1
  parser.on('packet', (packet) => {
    packets++
    lastPayloadLength = packet.payload.length
  })
  parser.on('error', (error) => { throw error })

  const once = () => { for (const read of reads) parser.parse(read) }
  const warmupEnd = process.hrtime.bigint() + BigInt(Math.round(seconds * 0.3e9))
  while (process.hrtime.bigint() < warmupEnd) once()

  let best = null
  for (let run = 0; run < repetitions; run++) {
    packets = 0
    let rounds = 0
    const cpuStart = process.cpuUsage()
    const start = process.hrtime.bigint()
    const end = start + BigInt(Math.round((seconds / repetitions) * 1e9))
    while (process.hrtime.bigint() < end) {
      once()
      rounds++
    }
    // CPU time, as Google Benchmark reports for psos: a busy machine slows both alike.
    const cpu = process.cpuUsage(cpuStart)
    const elapsed = (cpu.user + cpu.system) / 1e6
    if (packets !== rounds * count || lastPayloadLength !== payloadSize) {
      throw new Error(`parsed ${packets} packets, expected ${rounds * count}`)
    }
    const rate = packets / elapsed
    if (best === null || rate > best.packets_per_second) {
      best = {
        name: `v${version === 5 ? '5' : '311'}/qos${qos}/${payloadSize}`,
        packets_per_second: rate,
        bytes_per_second: (rounds * stream.length) / elapsed
      }
    }
  }
  return best
}

function main () {
  const option = (name, fallback) => {
    const at = process.argv.indexOf(name)
    const value = at === -1 ? fallback : Number(process.argv[at + 1])
    if (!(value > 0)) throw new Error(`${name} needs a positive number`)
    return value
  }
  const seconds = option('--seconds', 1)
  const repetitions = Math.round(option('--repetitions', 3))

  const results = []
  for (const payloadSize of [64, 4096]) {
    for (const version of [5, 4]) {
      for (const qos of [0, 1]) results.push(runCase(version, qos, payloadSize, seconds, repetitions))
    }
  }
  process.stdout.write(JSON.stringify({
    mqtt_packet: mqttPacketVersion, node: process.version, results
  }, null, 2) + '\n')
}

main()
