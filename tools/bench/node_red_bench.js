// Node-RED 4 running the flows bench/runtime_bench.cpp measures in psos: a generator -> a function
// node (`return msg;`) -> a counting sink ("function"), and a generator -> the sink ("direct", to
// set beside psos's router alone), headless (the runtime embedded with
// require('node-red'), no editor, no HTTP server, userDir in a temporary directory).
// scripts/bench_runtime runs it; one JSON line per run on stdout, progress on stderr.
//
// node tools/bench/node_red_bench.js [--seconds S] [--repetitions N] [--window W] [--batch B]
//                                    [--rate R] [--paced-seconds S]
// The generator is a function node that hands its `node` to this script, which sends from it as
// the generator's own code would: a "max" run sends up to B messages at a time while fewer than W
// are on their way, then yields with setImmediate, for S seconds; a "paced" run sends R messages
// per second on a 1 ms timer. The sink is a function node that reports each message here.
// Latency: sink time minus the generator's performance.now() carried in msg.payload.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { performance } = require("perf_hooks");

const options = { seconds: 2, repetitions: 3, window: 1000, batch: 100, rate: 5000, pacedSeconds: 1.5 };
const flags = { "--seconds": "seconds", "--repetitions": "repetitions", "--window": "window",
  "--batch": "batch", "--rate": "rate", "--paced-seconds": "pacedSeconds" };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = flags[process.argv[i]];
  if (!key || i + 1 >= process.argv.length) {
    console.error(`node_red_bench: unknown flag or missing value: ${process.argv[i]} (${Object.keys(flags).join(" ")})`);
    process.exit(2);
  }
  options[key] = Number(process.argv[i + 1]);
}

let RED;
try {
  RED = require(path.join(__dirname, "..", "npm", "node_modules", "node-red"));
} catch (e) {
  console.error("node_red_bench: node-red is not installed (scripts/setup runs npm ci in tools/npm)");
  process.exit(1);
}

// What the flow's function nodes reach through global.get('bench').
const bench = {
  generators: {},
  attached: null,
  received: 0,
  latencyUs: [],
  attach(variant, node) {
    this.generators[variant] = node;
    if (Object.keys(this.generators).length === 2) this.attached();
  },
  receive(sentAt) {
    this.latencyUs.push((performance.now() - sentAt) * 1000);
    this.received++;
  },
};

// x and y: nodes without a position are taken for config nodes.
const flow = [
  { id: "tab", type: "tab", label: "bench" },
  { id: "start", z: "tab", type: "inject", x: 100, y: 100, once: true, onceDelay: 0.1, repeat: "",
    props: [{ p: "payload" }], payload: "", payloadType: "date", wires: [["generator", "direct"]] },
  { id: "generator", z: "tab", type: "function", x: 200, y: 100, name: "generator", outputs: 1,
    func: "global.get('bench').attach('function', node);\nreturn null;", wires: [["function"]] },
  { id: "direct", z: "tab", type: "function", x: 200, y: 200, name: "generator (direct)", outputs: 1,
    func: "global.get('bench').attach('direct', node);\nreturn null;", wires: [["sink"]] },
  { id: "function", z: "tab", type: "function", x: 300, y: 100, name: "function", outputs: 1,
    func: "return msg;", wires: [["sink"]] },
  { id: "sink", z: "tab", type: "function", x: 400, y: 100, name: "sink", outputs: 0,
    func: "global.get('bench').receive(msg.payload);\nreturn null;", wires: [] },
];

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.floor(p * (sorted.length - 1))];
}

function runOnce(variant, paced) {
  return new Promise((resolve) => {
    bench.received = 0;
    bench.latencyUs = [];
    const node = bench.generators[variant];
    let sent = 0;
    const seconds = paced ? options.pacedSeconds : options.seconds;
    const start = performance.now();
    const end = start + seconds * 1000;
    const cpuStart = process.cpuUsage();
    const send = (n) => {
      for (let i = 0; i < n; i++) {
        // A fresh message: no need for the clone node.send makes by default.
        node.send({ payload: performance.now() }, false);
        sent++;
      }
    };
    const finish = () => {
      const drainEnd = performance.now() + 1000;
      const wait = () => {
        if (bench.received < sent && performance.now() < drainEnd) return setImmediate(wait);
        const elapsed = (performance.now() - start) / 1000;
        const cpu = process.cpuUsage(cpuStart);
        const sorted = Float64Array.from(bench.latencyUs).sort();
        resolve({
          system: "node-red", variant, mode: paced ? "paced" : "max",
          window: options.window, batch: options.batch, rate: paced ? options.rate : 0,
          sent, received: bench.received, seconds: elapsed,
          msg_per_second: bench.received / elapsed, cpu_seconds: (cpu.user + cpu.system) / 1e6,
          latency_us: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: percentile(sorted, 1) },
          error: "",
        });
      };
      wait();
    };
    const step = () => {
      const now = performance.now();
      if (now >= end) return finish();
      if (paced) {
        const due = Math.floor(((now - start) / 1000) * options.rate);
        if (due > sent) send(due - sent);
        setTimeout(step, 1);
      } else {
        const onTheWay = sent - bench.received;
        if (onTheWay < options.window) send(Math.min(options.batch, options.window - onTheWay));
        setImmediate(step);
      }
    };
    step();
  });
}

async function main() {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "psos-node-red-"));
  fs.writeFileSync(path.join(userDir, "flows.json"), JSON.stringify(flow));
  const attached = new Promise((resolve) => { bench.attached = resolve; });
  RED.init(null, {
    userDir,
    flowFile: "flows.json",
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    credentialSecret: false,
    functionGlobalContext: { bench },
    logging: { console: { level: "error", metrics: false, audit: false } },
  });
  try {
    await RED.start();
    const timeout = setTimeout(() => {
      console.error("node_red_bench: the flow did not start within 10 s");
      process.exit(1);
    }, 10000);
    await attached;
    clearTimeout(timeout);
    for (const variant of ["direct", "function"]) {
      for (const paced of [false, true]) {
        for (let rep = 0; rep < (paced ? 1 : options.repetitions); rep++) {
          const row = await runOnce(variant, paced);
          row.repetition = rep;
          row.node_red = RED.version();
          row.node = process.version;
          process.stdout.write(JSON.stringify(row) + "\n");
          console.error(`   node-red ${variant.padEnd(8)} ${row.mode.padEnd(5)} ${row.msg_per_second.toFixed(0).padStart(12)} msg/s` +
            `  p50 ${row.latency_us.p50.toFixed(1).padStart(8)} us  p99 ${row.latency_us.p99.toFixed(1).padStart(8)} us`);
        }
      }
    }
    await RED.stop();
  } finally {
    fs.rmSync(userDir, { recursive: true, force: true });
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(`node_red_bench: ${e.stack || e}`);
  process.exit(1);
});
