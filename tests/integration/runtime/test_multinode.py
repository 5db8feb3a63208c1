"""Systems of several `psos run` processes on one definition: messages flow along the wiring
across three nodes (over the gateway node's embedded broker, and over Mosquitto) with exact
counts; moving a service to another node keeps the system working; local/ topics never reach the
broker; examples/greenhouse.json runs as three processes; function's file is relative to the
definition.

Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import json
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_run import EXAMPLES, Node  # noqa: E402
from clitest import CliTestCase, free_port, main, wait_until  # noqa: E402

COUNT = 40  # messages fed into the chain
HOT = 25    # the switch sends temp > HOT to chain/hot


def chain_services():
    """The chain's services by name: an intake on the sensors node turns each number sent to
    chain/in into a reading; on the controller a function doubles it and a switch routes it; the
    gateway stores and prints every result."""
    return {
        "intake": {"module": "pipe", "sub": "chain/in", "pub": "chain/reading", "qos": 1,
                   "format": "{{\"temp\": {payload}}}"},
        "double": {"module": "function", "sub": "chain/reading", "pub": "chain/doubled",
                   "qos": 1, "code": "return {payload = string.format('%d', msg.json.temp * 2)}"},
        "route": {"module": "switch", "sub": "chain/reading", "qos": 1,
                  "rules": [{"property": "temp", "op": ">", "value": HOT, "pub": "chain/hot"}],
                  "otherwise": "chain/cold"},
        "archive": {"module": "store", "sub": "chain/#", "page": 1000},
        "print": {"module": "log", "sub": ["chain/doubled", "chain/hot", "chain/cold"]},
    }


def warmup(line):
    """Whether a "topic payload" line carries one of the uncounted 0s."""
    return line.endswith((" 0", ' {"temp": 0}'))


PLACEMENT = {"gw": ["archive", "print"], "sensors": ["intake"], "controller": ["double", "route"]}
# The function moved from the controller to the sensors node, beside the intake that feeds it.
MOVED = {"gw": ["archive", "print"], "sensors": ["intake", "double"], "controller": ["route"]}


def chain_definition(placement, broker_url, gateway_listens):
    """The chain's definition: `placement` says which node runs which service. With
    `gateway_listens` the gateway is the broker (a listener on broker_url); otherwise every node
    has an uplink to broker_url."""
    services = chain_services()
    nodes = {}
    for node, names in placement.items():
        nodes[node] = {"services": [dict(name=n, **services[n]) for n in names]}
        if node == "gw" and gateway_listens:
            nodes[node]["listen"] = [broker_url]
        else:
            nodes[node]["uplink"] = "lan"
    return {"psos": 1, "system": "chain", "brokers": {"lan": {"url": broker_url}}, "nodes": nodes}


class MultiNodeTest(CliTestCase):
    def write(self, name, definition):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(definition, f, indent=1)
        return path

    def start_node(self, path, name):
        """Starts one node with the temporary directory as its current directory (services'
        state directories go there); its output is printed if the test fails."""
        node = Node(self.processes, [path, "--node", name], cwd=self.tmp)
        self.addCleanup(self._print_output_on_failure, name, node)
        return node

    def _print_output_on_failure(self, name, node):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        errors = getattr(outcome, "errors", None)
        failed = any(exc for _, exc in errors) if errors else \
            result is not None and any(t is self for t, _ in result.failures + result.errors)
        if failed:
            print(f"\n---- psos run --node {name} (last 40 lines) ----\n" +
                  "\n".join(node.text().splitlines()[-40:]))

    def retained(self, url, topic):
        result = self.psos("sub", "--broker", url, "-t", topic, "-C", "1", "-W", "5")
        return result.stdout.strip() if result.returncode == 0 else None

    def wait_ready(self, url, system, nodes):
        for name, node in nodes.items():
            self.assertTrue(wait_until(
                lambda: self.retained(url, f"psos/{system}/{name}/$state") == "ready", 10),
                f"{name} is not ready:\n" + node.text())

    def stop(self, node, name):
        node.proc.send_signal(signal.SIGTERM)
        self.assertEqual(node.proc.wait(10), 0, f"{name} did not stop cleanly:\n" + node.text())

    def query_store(self, url, request_topic, query):
        """Asks a store service over MQTT; returns its answer as JSON."""
        reply = self.sub("--broker", url, "-t", "test/reply", "-C", "1", "-W", "10")
        self.pub("--broker", url, "-t", request_topic, "-m",
                 json.dumps(dict(query, reply="test/reply")))
        status, lines = reply.wait(15)
        self.assertEqual(status, 0, "the store did not answer: " + reply.stderr_text())
        return json.loads(lines[0])

    # ------------------------------------------------------------------ the chain

    def start_chain(self, path, gateway_listens):
        """Starts the gateway, then the sensors node and the controller. Returns the nodes."""
        nodes = {"gw": self.start_node(path, "gw")}
        if gateway_listens:
            nodes["gw"].url()
        nodes["sensors"] = self.start_node(path, "sensors")
        nodes["controller"] = self.start_node(path, "controller")
        return nodes

    def run_chain(self, nodes, url, placement):
        """Waits until the chain is wired end to end, feeds it COUNT numbers and checks that each
        result reached the gateway exactly once."""
        self.wait_ready(url, "chain", nodes)
        gw = nodes["gw"]

        # Subscriptions travel up to the broker asynchronously: 0s go through the whole chain
        # until both branches answer. They are not counted.
        def warm():
            return (gw.out.matching(lambda l: l.endswith("[print] chain/doubled 0")) and
                    gw.out.matching(lambda l: l.endswith('[print] chain/cold {"temp": 0}')))

        for _ in range(40):
            self.pub("--broker", url, "-t", "chain/in", "-m", "0", "-q", "1")
            if wait_until(warm, 0.5):
                break
        self.assertTrue(warm(), "the chain did not carry a message end to end:\n" + gw.text())

        watcher = self.sub("--broker", url, "-t", "chain/#", "-v")
        fed_at = int(time.time() * 1000)
        self.pub("--broker", url, "-t", "chain/in", "-l", "-q", "1",
                 input="".join(f"{i}\n" for i in range(1, COUNT + 1)))

        def results():
            printed = gw.out.matching(lambda l: "[print] chain/" in l)
            return [l for l in (p.split("[print] ", 1)[1] for p in printed) if not warmup(l)]

        wait_until(lambda: len(results()) >= 2 * COUNT, 15)
        time.sleep(0.5)  # a duplicate would arrive now
        lines = results()
        expected = [f"chain/doubled {2 * i}" for i in range(1, COUNT + 1)] + \
                   [f'chain/{"hot" if i > HOT else "cold"} {{"temp": {i}}}'
                    for i in range(1, COUNT + 1)]
        self.assertEqual(sorted(lines), sorted(expected), f"placement {placement}")

        # The broker saw each message of the chain once too, the inputs included.
        watcher.proc.terminate()
        _, seen = watcher.wait(5)
        seen = [l for l in seen if not warmup(l)]
        for topic, n in (("chain/in", COUNT), ("chain/reading", COUNT), ("chain/doubled", COUNT),
                         ("chain/hot", COUNT - HOT), ("chain/cold", HOT)):
            self.assertEqual(sum(1 for l in seen if l.startswith(topic + " ")), n, topic)

        # The gateway's store kept them (and what it kept before, in a state directory that
        # outlives the node: hence "from").
        stored = self.query_store(url, "gw/archive/query",
                                  {"filter": "chain/doubled", "from": fed_at})
        values = [m["payload"] for m in stored["messages"] if m["payload"] != "0"]
        self.assertEqual(sorted(values, key=int), [str(2 * i) for i in range(1, COUNT + 1)])

    def test_three_nodes_over_the_gateways_embedded_broker(self):
        url = f"mqtt://127.0.0.1:{free_port()}"
        path = self.write("chain.json", chain_definition(PLACEMENT, url, gateway_listens=True))
        nodes = self.start_chain(path, gateway_listens=True)
        self.run_chain(nodes, url, PLACEMENT)
        for name in ("controller", "sensors", "gw"):
            self.stop(nodes[name], name)

    def test_three_nodes_over_mosquitto(self):
        mosquitto = self.start_mosquitto()
        path = self.write("chain.json",
                          chain_definition(PLACEMENT, mosquitto.url(), gateway_listens=False))
        nodes = self.start_chain(path, gateway_listens=False)
        self.run_chain(nodes, mosquitto.url(), PLACEMENT)
        for name in ("controller", "sensors", "gw"):
            self.stop(nodes[name], name)
            self.assertEqual(self.retained(mosquitto.url(), f"psos/chain/{name}/$state"),
                             "stopped")

    def test_moving_a_service_to_another_node_keeps_the_system_working(self):
        url = f"mqtt://127.0.0.1:{free_port()}"
        path = self.write("chain.json", chain_definition(PLACEMENT, url, gateway_listens=True))
        nodes = self.start_chain(path, gateway_listens=True)
        self.run_chain(nodes, url, PLACEMENT)
        for name in ("controller", "sensors", "gw"):
            self.stop(nodes[name], name)
        # The same file, with the function on the sensors node; the nodes restarted.
        self.write("chain.json", chain_definition(MOVED, url, gateway_listens=True))
        nodes = self.start_chain(path, gateway_listens=True)
        self.assertIsNotNone(nodes["sensors"].wait_line(r"service\s+double \(function\)"),
                             nodes["sensors"].text())
        self.run_chain(nodes, url, MOVED)

    def test_moving_a_service_between_nodes_on_mosquitto(self):
        # Mosquitto keeps the nodes' sessions (clean start off, with their subscriptions) across
        # their restarts. After the move the sensors node subscribes to chain/reading, which it
        # publishes itself: the broker must not send it back (No Local), or it would be doubled.
        mosquitto = self.start_mosquitto()
        path = self.write("chain.json",
                          chain_definition(PLACEMENT, mosquitto.url(), gateway_listens=False))
        nodes = self.start_chain(path, gateway_listens=False)
        self.run_chain(nodes, mosquitto.url(), PLACEMENT)
        for name in ("controller", "sensors", "gw"):
            self.stop(nodes[name], name)
        self.write("chain.json", chain_definition(MOVED, mosquitto.url(), gateway_listens=False))
        nodes = self.start_chain(path, gateway_listens=False)
        self.run_chain(nodes, mosquitto.url(), MOVED)

    # ------------------------------------------------------------------ local/

    def test_local_topics_never_reach_the_broker(self):
        url = f"mqtt://127.0.0.1:{free_port()}"
        path = self.write("local.json", {
            "psos": 1, "system": "loc", "brokers": {"gw": {"url": url}},
            "nodes": {
                "gw": {"listen": [url], "services": [
                    {"name": "beat", "module": "timer", "every": "100ms",
                     "pub": "local/{node}/beat", "payload": "{count}"},
                    {"name": "gwprint", "module": "log", "sub": "{node}/beat",
                     "format": "beat {payload}"}]},
                "e01": {"uplink": "gw", "services": [
                    {"name": "tick", "module": "timer", "every": "100ms", "pub": "{node}/tick",
                     "payload": "{count}"},
                    {"name": "mirror", "module": "pipe", "sub": "{node}/tick",
                     "pub": "local/{node}/seen", "format": "seen {payload}"},
                    {"name": "print", "module": "log", "sub": "{node}/seen"}]}}})
        gw = self.start_node(path, "gw")
        self.assertEqual(gw.url(), url)
        everything = self.sub("--broker", url, "-t", "#", "-v")
        e01 = self.start_node(path, "e01")
        # On each node, the service subscribed to T receives what was published to local/T.
        seen = e01.out.wait_count(lambda l: re.search(r"\[print\] e01/seen seen \d+$", l), 10, 10)
        self.assertGreaterEqual(seen, 10, e01.text())
        beats = gw.out.wait_count(lambda l: re.search(r"\[gwprint\] beat \d+$", l), 10, 10)
        self.assertGreaterEqual(beats, 10, gw.text())
        everything.proc.terminate()
        _, lines = everything.wait(5)
        topics = [l.split(" ", 1)[0] for l in lines]
        # The non-local topics reach the broker's subscriber; the local ones never do, under
        # either name.
        self.assertGreaterEqual(topics.count("e01/tick"), 5, lines)
        self.assertIn("psos/loc/e01/$state", topics)
        leaked = [t for t in topics if t.startswith("local/") or t in ("e01/seen", "gw/beat")]
        self.assertEqual(leaked, [], set(topics))

    # ------------------------------------------------------------------ the greenhouse example

    def greenhouse_copy(self):
        """examples/greenhouse.json on free loopback ports, with its sensors publishing every
        half second instead of every 5 and 10 s."""
        with open(os.path.join(EXAMPLES, "greenhouse.json")) as f:
            text = f.read()
        mqtt_port, ws_port = free_port(), free_port()
        for old, new in (("0.0.0.0:1883", f"127.0.0.1:{mqtt_port}"),
                         ("127.0.0.1:1883", f"127.0.0.1:{mqtt_port}"),
                         ("0.0.0.0:8080", f"127.0.0.1:{ws_port}")):
            self.assertIn(old, text)
            text = text.replace(old, new)
        definition = json.loads(text)
        for service in definition["nodes"]["sensors"]["services"]:
            service["every"] = "500ms"
        return self.write("greenhouse.json", definition), f"mqtt://127.0.0.1:{mqtt_port}"

    def test_greenhouse_example_as_three_processes(self):
        path, url = self.greenhouse_copy()
        gw = self.start_node(path, "gw")
        self.assertEqual(gw.url(), url)
        states = self.sub("--broker", url, "-t", "psos/greenhouse/+/$state", "-v")
        dew = self.sub("--broker", url, "-t", "north/climate/dew-point")
        nodes = {"gw": gw, "sensors": self.start_node(path, "sensors"),
                 "controller": self.start_node(path, "controller")}
        self.wait_ready(url, "greenhouse", nodes)

        # The controller computes dew points from the sensors' readings ...
        self.assertTrue(wait_until(lambda: len(dew.out.matching(bool)) >= 3, 10),
                        nodes["controller"].text())
        for line in dew.out.matching(bool):
            self.assertRegex(line, r'^\{"dew": -?\d+\.\d\}$')
        # ... its filter passes the first one to its log through a local/ topic ...
        self.assertIsNotNone(nodes["controller"].wait_line(r'\[print\] north/dew-changes \{"dew"'),
                             nodes["controller"].text())
        # ... and the gateway's store keeps the readings of the sensors node.
        wanted = {"north/sensors/dht", "north/sensors/light", "north/climate/dew-point"}
        stored = set()

        def stored_all():
            answer = self.query_store(url, "gw/archive/query", {"filter": "north/#"})
            stored.update(m["topic"] for m in answer["messages"])
            return wanted <= stored

        self.assertTrue(wait_until(stored_all, 5, interval=0.3), stored)
        answer = self.query_store(url, "gw/archive/query",
                                  {"filter": "north/sensors/dht", "limit": 1})
        reading = json.loads(answer["messages"][0]["payload"])
        self.assertEqual(sorted(reading), ["hum", "temp"])

        # SIGTERM stops each cleanly: $state stopped, exit status 0.
        for name in ("controller", "sensors", "gw"):
            self.stop(nodes[name], name)
        states.proc.terminate()
        _, lines = states.wait(5)
        for name in nodes:
            node_states = [l.split(" ", 1)[1] for l in lines
                           if l.startswith(f"psos/greenhouse/{name}/$state ")]
            self.assertEqual(node_states[-2:], ["ready", "stopped"], lines)

    # ------------------------------------------------------------------ presence

    def assert_states_stay(self, url, nodes, state, text):
        """Every node's retained $state becomes `state` and still is a moment later."""
        for name in nodes:
            topic = f"psos/greenhouse/{name}/$state"
            self.assertTrue(wait_until(lambda: self.retained(url, topic) == state, 15),
                            f"{topic} is {self.retained(url, topic)!r}, not {state!r}\n" + text())
        time.sleep(1.5)  # a will published after the node came back would show now
        for name in nodes:
            topic = f"psos/greenhouse/{name}/$state"
            self.assertEqual(self.retained(url, topic), state, text())

    def test_states_stay_true_when_the_gateway_is_killed_and_restarted(self):
        """The bug found by trying greenhouse.json: SIGKILL the gateway (the broker, with
        --data) and start it again: it publishes the wills it restored, and the sensors and
        controller, reconnected, must say they are ready again."""
        path, url = self.greenhouse_copy()
        data = os.path.join(self.tmp, "gw-data")
        gw = Node(self.processes, [path, "--node", "gw", "--data", data], cwd=self.tmp)
        self.assertEqual(gw.url(), url)
        nodes = {"sensors": self.start_node(path, "sensors"),
                 "controller": self.start_node(path, "controller")}
        self.wait_ready(url, "greenhouse", nodes)

        def text():
            return "\n".join(f"---- {n}\n" + node.text()[-3000:] for n, node in nodes.items())

        gw.proc.kill()
        gw.proc.wait(5)
        gw = Node(self.processes, [path, "--node", "gw", "--data", data], cwd=self.tmp)
        self.assertEqual(gw.url(), url, gw.text())
        self.assert_states_stay(url, ["gw", "sensors", "controller"], "ready",
                                lambda: text() + "\n---- gw\n" + gw.text()[-3000:])
        # And the readings flow again.
        readings = self.sub("--broker", url, "-t", "north/sensors/dht", "-C", "2", "-W", "10")
        self.assertEqual(readings.wait(15)[0], 0, text())

    def test_states_stay_true_when_mosquitto_is_killed_and_restarted(self):
        """The same with Mosquitto as the broker, persistence on, killed with SIGKILL."""
        directory = os.path.join(self.tmp, "mosq")
        os.makedirs(directory)
        conf = (f"persistence true\npersistence_location {directory}/\nautosave_interval 1\n")
        mosquitto = self.start_mosquitto(conf)
        definition = {"psos": 1, "system": "greenhouse",
                      "brokers": {"lan": {"url": mosquitto.url()}},
                      "nodes": {name: {"uplink": "lan", "services": [
                          {"name": "tick", "module": "timer", "every": "200ms", "pub": f"{name}/t"}]}
                          for name in ("sensors", "controller")}}
        path = self.write("mosq.json", definition)
        nodes = {name: self.start_node(path, name) for name in ("sensors", "controller")}
        self.wait_ready(mosquitto.url(), "greenhouse", nodes)
        time.sleep(1.5)  # an autosave with the nodes' sessions

        def text():
            return "\n".join(f"---- {n}\n" + node.text()[-3000:] for n, node in nodes.items())

        port = mosquitto.port
        mosquitto.proc.kill()
        mosquitto.proc.wait(5)
        mosquitto = self.restart_mosquitto(mosquitto, port)
        self.assert_states_stay(mosquitto.url(), nodes, "ready",
                                lambda: text() + "\n---- mosquitto\n" + mosquitto.log_text())

    # ------------------------------------------------------------------ function's file

    def test_functions_file_is_relative_to_the_definition(self):
        site = os.path.join(self.tmp, "site")
        os.makedirs(os.path.join(site, "lua"))
        with open(os.path.join(site, "lua", "double.lua"), "w") as f:
            f.write("return {payload = string.format('%d', msg.json * 2)}\n")
        url = f"mqtt://127.0.0.1:{free_port()}"
        with open(os.path.join(site, "fn.json"), "w") as f:
            json.dump({"psos": 1, "system": "fn", "nodes": {"n": {"listen": [url], "services": [
                {"name": "double", "module": "function", "sub": "in", "pub": "out",
                 "file": "lua/double.lua"}]}}}, f)
        # Started from elsewhere: the file is found beside the definition.
        node = Node(self.processes, [os.path.join("site", "fn.json")], cwd=self.tmp)
        self.assertEqual(node.url(), url)
        out = self.sub("--broker", url, "-t", "out", "-C", "1", "-W", "10")
        time.sleep(0.3)  # the service subscribes
        self.pub("--broker", url, "-t", "in", "-m", "21")
        status, lines = out.wait(15)
        self.assertEqual((status, lines), (0, ["42"]), node.text())


if __name__ == "__main__":
    main()
