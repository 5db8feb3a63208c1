"""psos deploy and psos rollback against three real nodes over a real Mosquitto: a changed
parameter restarts exactly that service (checked in $info: started and restarts) while the others
keep running; added and removed services; a changed Lua file restarts its service; --dry-run's
exact output; a new service that fails at start rolls back by itself (exit 1); tampered, untrusted,
expired and old bundles refused with their reasons; a 5 MB file through a TCP proxy that cuts
the connection twice arrives intact; a node restarted from its command-line file runs the
committed revision; psos rollback.

The checks run in the order of their names: each deploys over what the one before left.
Run with /usr/bin/python3. CTest sets PSOS_BINARY.
"""

import hashlib
import json
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fleettest import SYSTEM, SystemTestCase, main, wait_until  # noqa: E402

LUA = "return {payload = 'v1 ' .. msg.payload}\n"


def services(revision):
    """The services of each node in a revision of the test's definition."""
    gw = [{"name": "tick", "module": "timer", "every": "200ms", "pub": "fleet/tick"},
          {"name": "echo", "module": "pipe", "sub": "fleet/in", "pub": "fleet/out"},
          {"name": "lua", "module": "function", "sub": "fleet/lua", "pub": "fleet/luaout",
           "file": "double.lua"}]
    return {"gw": gw,
            "e01": [{"name": "slow", "module": "timer", "every": "1h", "pub": "fleet/slow"}],
            "e02": [{"name": "print", "module": "log", "sub": "fleet/print"}]}


def changed():
    """services(0) with what test_2 changes: echo's pub, e01's service removed, e02's added."""
    s = services(0)
    s["gw"][1]["pub"] = "fleet/out2"
    s["e02"].append({"name": "fmt", "module": "pipe", "sub": "fleet/tick", "pub": "fleet/fmt"})
    s["e01"] = []
    return s


LUA2 = "return {payload = 'v2 ' .. msg.payload}\n"


class Proxy:
    """A TCP proxy on a free loopback port to `port`; cut() closes every connection it carries."""

    def __init__(self, port):
        self.target = port
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        self.lock = threading.Lock()
        self.sockets = []
        self.forwarded = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    def pump(self, source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self.lock:
                    self.forwarded += len(data)
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.sockets = []

    def close(self):
        self.cut()
        self.server.close()


class DeployTest(SystemTestCase):

    @classmethod
    def definition(cls, broker_url, embedded):
        # Called before the nodes start: the Lua file their definition names is there first.
        with open(os.path.join(cls.tmp, "double.lua"), "w") as f:
            f.write(LUA)
        return cls.revision(broker_url, services(0))

    @staticmethod
    def revision(broker_url, node_services):
        return {"psos": 1, "system": SYSTEM, "brokers": {"lan": {"url": broker_url}},
                "nodes": {name: {"uplink": "lan", "services": s}
                          for name, s in node_services.items()}}

    def write(self, node_services, lua=None, extra=None):
        """The definition at system.json (what the nodes were started with is kept as is)."""
        path = os.path.join(self.tmp, "deploy", "system.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(self.revision(self.system.url, node_services), f, indent=1)
        with open(os.path.join(os.path.dirname(path), "double.lua"), "w") as f:
            f.write(lua or LUA)
        for name, data in (extra or {}).items():
            with open(os.path.join(os.path.dirname(path), name), "wb") as f:
                f.write(data)
        return path

    def info(self, node):
        out = self.fleet("cmd", node, "info")
        self.assertEqual(out.returncode, 0, out.stderr)
        info = json.loads(out.stdout)
        return info, {s["name"]: s for s in info["services"]}

    def deploy(self, path, *args, status=0):
        out = self.fleet("deploy", path, "--confirm", "0.5", *args)
        self.assertEqual(out.returncode, status, out.stdout + out.stderr + self.system.output())
        return out.stdout

    def test_1_dry_run_prints_the_changes_exactly(self):
        s = services(0)
        s["gw"][1]["pub"] = "fleet/out2"
        s["e02"].append({"name": "fmt", "module": "pipe", "sub": "fleet/tick",
                         "pub": "fleet/fmt"})
        path = self.write(s)
        out = self.deploy(path, "--dry-run")
        self.assertEqual(out, "node gw: revision 0 -> 1\n"
                              "  changed    echo (pub)\n"
                              "  unchanged  tick, lua\n"
                              "node e01: revision 0 -> 1\n"
                              "  nothing changes\n"
                              "node e02: revision 0 -> 1\n"
                              "  added      fmt\n"
                              "  unchanged  print\n")
        info, _ = self.info("gw")
        self.assertIsNone(info["revision"])  # the command-line file

    def test_2_a_changed_parameter_restarts_exactly_that_service(self):
        _, before = self.info("gw")
        out = self.deploy(self.write(changed()))
        self.assertRegex(out, r"(?m)^gw +0 -> 1 +echo +committed +")
        self.assertRegex(out, r"(?m)^e01 +0 -> 1 +- +committed +")
        self.assertRegex(out, r"(?m)^e02 +0 -> 1 +- +committed +")
        info, after = self.info("gw")
        self.assertEqual(info["revision"], 1)
        self.assertEqual(after["echo"]["restarts"], before["echo"]["restarts"] + 1)
        self.assertGreater(after["echo"]["started"], before["echo"]["started"])
        for name in ("tick", "lua"):
            self.assertEqual(after[name]["started"], before[name]["started"], name)
            self.assertEqual(after[name]["restarts"], before[name]["restarts"], name)
        _, e01 = self.info("e01")
        self.assertEqual(e01, {})  # removed
        _, e02 = self.info("e02")
        self.assertEqual(e02["fmt"]["status"], "running")  # added

    def test_3_a_changed_lua_file_restarts_its_service(self):
        _, before = self.info("gw")
        path = self.write(changed(), lua=LUA2)
        self.assertIn("  changed    lua (file double.lua)\n", self.deploy(path, "--dry-run"))
        out = self.deploy(path, "--node", "gw")
        self.assertRegex(out, r"(?m)^gw +1 -> 2 +lua +committed +")
        _, after = self.info("gw")
        self.assertEqual(after["lua"]["restarts"], before["lua"]["restarts"] + 1)
        self.assertEqual(after["echo"]["started"], before["echo"]["started"])
        self.assertEqual(after["tick"]["started"], before["tick"]["started"])

    def test_4_a_service_that_fails_at_start_rolls_back(self):
        _, before = self.info("gw")
        s = changed()
        s["gw"].append({"name": "bad", "module": "function", "setup": "error('boom at start')"})
        out = self.deploy(self.write(s, lua=LUA2), "--node", "gw", status=1)
        self.assertRegex(out, r"(?m)^gw +2 -> 2 +- +rolled back: service bad failed: .*boom at "
                              r"start.*revision 3 rolled back, revision 2 runs")
        info, after = self.info("gw")
        self.assertEqual(info["revision"], 2)
        self.assertNotIn("bad", after)
        self.assertEqual(after["tick"]["started"], before["tick"]["started"])
        self.assertTrue(all(v["status"] == "running" for v in after.values()), after)

    def test_5_bad_bundles_are_refused_with_their_reasons(self):
        s = services(0)
        path = self.write(s)
        out = self.fleet("deploy", path, "--node", "gw", "--key", self.untrusted_key)
        self.assertEqual(out.returncode, 1)
        self.assertRegex(out.stdout, r"(?m)^node gw: fleet/gw answered untrusted_key: key "
                                     r"ed25519:\S+ is not trusted by this node$")
        # Signed bundles made by hand: tampered, expired, an old revision.
        key = os.path.join(self.tmp, "config", "psos", "admin.key")
        for case, code in (("tampered", "bad_signature"), ("expired", "expired"),
                           ("old", "old_revision")):
            out = self.psos("cmd", "--broker", self.system.url, "--key", key, "gw",
                            "deploy.begin", json.dumps(self.bundle(key, case)))
            self.assertEqual(out.returncode, 1, out.stdout)
            self.assertIn(f"fleet/gw answered {code}: ", out.stderr)
        info, after = self.info("gw")
        self.assertEqual(info["revision"], 2)
        self.assertTrue(all(v["status"] == "running" for v in after.values()), after)

    def bundle(self, key, case):
        """deploy.begin's arguments for a bundle signed with `key` by the Python cryptography
        package, spoiled as `case` says."""
        import base64
        import time
        from cryptography.hazmat.primitives import serialization
        with open(key, "rb") as f:
            private = serialization.load_pem_private_key(f.read(), None)
        public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw)
        now = int(time.time() * 1000)
        text = json.dumps({"v": 1, "system": SYSTEM, "node": "gw",
                           "revision": 1 if case == "old" else 10,
                           "issued": now - (7200_000 if case == "expired" else 0),
                           "expires": now - (3600_000 if case == "expired" else -3600_000),
                           "key": "ed25519:" + base64.b64encode(public).decode(),
                           "definition": "system.json",
                           "files": [{"path": "system.json", "size": 2,
                                      "sha256": hashlib.sha256(b"{}").hexdigest()}]},
                          separators=(",", ":"))
        signature = base64.b64encode(private.sign(b"psos-bundle-v1\n" + text.encode())).decode()
        if case == "tampered":
            text = text.replace('"revision":10', '"revision":11')
        return {"manifest": text, "signature": signature}

    def test_6_a_large_file_survives_two_cuts(self):
        proxy = Proxy(int(self.system.url.rsplit(":", 1)[1]))
        self.addCleanup(proxy.close)
        blob = os.urandom(5 << 20)
        s = changed()
        s["gw"].append({"name": "big", "module": "function", "sub": "fleet/big",
                        "file": "blob.lua"})
        # A Lua comment of 5 MB: the file's content is a valid function body.
        data = b"-- " + blob.hex().encode()[:(5 << 20) - 4] + b"\n"
        path = self.write(s, lua=LUA2, extra={"blob.lua": data})
        proc = self.processes.start([os.environ["PSOS_BINARY"], "deploy", path, "--node", "gw",
                                     "--confirm", "0.5", "--broker",
                                     f"mqtt://127.0.0.1:{proxy.port}"])
        for third in (1, 2):
            self.assertTrue(wait_until(lambda: proxy.forwarded > third * (5 << 20) // 3, 30,
                                       interval=0.01), "the transfer did not progress")
            proxy.cut()
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, out.decode() + err.decode() + self.system.output())
        self.assertRegex(out.decode(), r"(?m)^gw +2 -> 4 +- +committed +")
        kept = os.path.join(self.tmp, "data-gw", "revisions", "4", "blob.lua")
        with open(kept, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(),
                             hashlib.sha256(data).hexdigest())
        _, after = self.info("gw")
        self.assertEqual(after["big"]["status"], "running")

    def test_7_a_restarted_node_runs_the_committed_revision(self):
        self.assertEqual(self.system.stop("gw"), 0)
        node = self.system.start("gw")
        self.assertIsNotNone(node.wait_line(r"revision +4, deployed \(.*revisions/4/system.json"),
                             node.text())
        self.system.wait_ready("gw")
        info, after = self.info("gw")
        self.assertEqual(info["revision"], 4)
        self.assertIn("big", after)

    def test_8_rollback_goes_to_the_previous_committed_revision(self):
        out = self.fleet("rollback", "gw")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, f"{SYSTEM}/gw: revision 4 -> 2; restarted -, added -, "
                                     "removed big\n")
        info, after = self.info("gw")
        self.assertEqual(info["revision"], 2)
        self.assertNotIn("big", after)

    def test_9_a_setting_that_cannot_change_live_restarts_the_node(self):
        d = self.revision(self.system.url, changed())
        d["nodes"]["e02"]["log"] = {"buffer": 500}
        path = os.path.join(self.tmp, "deploy", "system.json")
        with open(path, "w") as f:
            json.dump(d, f)
        out = self.deploy(path, "--node", "e02")
        self.assertIn("  settings   log.buffer (the node restarts)\n", out)
        self.assertRegex(out, r"(?m)^e02 +1 -> 2 +- +committed, node restarting +")
        self.assertTrue(wait_until(lambda: self.info_or_none("e02", 2) is not None, 15,
                                   interval=0.2), self.system.output())
        info = self.info_or_none("e02", 2)
        self.assertEqual(info["revision"], 2)
        self.assertEqual([s["name"] for s in info["services"]], ["print", "fmt"])

    def info_or_none(self, node, boot):
        out = self.fleet("cmd", node, "info")
        if out.returncode != 0:
            return None
        info = json.loads(out.stdout)
        return info if info["boot"] == boot and info["state"] == "ready" else None


class NoUplinkTest(SystemTestCase):
    """A node with no uplink (its own listener is the broker): the confirm round trip goes
    through its own router; a live setting (metrics) changes without a restart."""

    embedded = True
    broker_node = "solo"

    @staticmethod
    def definition(broker_url, embedded):
        return {"psos": 1, "system": SYSTEM, "nodes": {"solo": {
            "listen": [broker_url], "metrics": "1h",
            "services": [{"name": "tick", "module": "timer", "every": "1h", "pub": "t"}]}}}

    def test_a_deploy_commits_through_its_own_router(self):
        d = self.definition(self.system.url, True)
        d["nodes"]["solo"]["metrics"] = "200ms"
        d["nodes"]["solo"]["services"].append({"name": "echo", "module": "pipe", "sub": "a",
                                               "pub": "b"})
        path = os.path.join(self.tmp, "next.json")
        with open(path, "w") as f:
            json.dump(d, f)
        out = self.fleet("deploy", path, "--confirm", "0.2")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr + self.system.output())
        self.assertTrue(out.stdout.startswith("node solo: revision 0 -> 1\n"
                                              "  added      echo\n"
                                              "  unchanged  tick\n"
                                              "  settings   metrics\n"), out.stdout)
        self.assertRegex(out.stdout, r"(?m)^solo +0 -> 1 +- +committed +")
        info = json.loads(self.fleet("cmd", "solo", "info").stdout)
        self.assertEqual(info["revision"], 1)
        self.assertEqual(info["boot"], 1)  # no restart
        self.assertEqual([s["name"] for s in info["services"]], ["tick", "echo"])
        # metrics changed live: every 200 ms now, where it was every hour.
        out = self.fleet("sub", "-t", f"psos/{SYSTEM}/solo/$metrics", "-C", "2", "-W", "3")
        self.assertEqual(out.returncode, 0, out.stderr)


if __name__ == "__main__":
    main()
