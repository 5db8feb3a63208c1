"""The dashboard in a real browser: browser.js (playwright-core driving Debian's Chromium,
headless) against three `psos run` nodes over a real Mosquitto and `psos dashboard`. Screenshots
of every view are written to $PSOS_SCREENSHOTS (CTest: <build>/dashboard-screenshots).

The deploy view gets a directory of definitions (--definitions): the running one with echo's
`pub` changed, one with an error (the page must show what `psos check` says), one whose new
service fails at start (e01 rolls back) and files that are not definitions (not listed); after
the page has deployed, gw runs revision 1 with the change.

Run with /usr/bin/python3. CTest sets PSOS_BINARY and PSOS_SCREENSHOTS.
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dashtest import SYSTEM, Dashboard, SystemTestCase, main  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.normpath(os.path.join(HERE, "..", "..", "..", "tools", "npm"))


def three_nodes(broker_url, embedded):
    """e01 ticks to fleet/tick; gw aggregates the ticks to fleet/mean and echoes the means;
    e02 formats ticks to local/e02/lcd, which its lcd logs (an edge inside e02)."""
    return {"psos": 1, "system": SYSTEM, "brokers": {"lan": {"url": broker_url}},
            "nodes": {
                "gw": {"uplink": "lan", "metrics": "500ms", "services": [
                    {"name": "agg", "module": "aggregate", "sub": "fleet/tick",
                     "pub": "fleet/mean", "count": 2},
                    {"name": "echo", "module": "pipe", "sub": "fleet/mean", "pub": "fleet/out"}]},
                "e01": {"uplink": "lan", "metrics": "500ms", "services": [
                    {"name": "tick", "module": "timer", "every": "100ms", "pub": "fleet/tick"}]},
                "e02": {"uplink": "lan", "metrics": "500ms", "services": [
                    {"name": "fmt", "module": "pipe", "sub": "fleet/tick",
                     "pub": "local/e02/lcd", "format": "T {payload}"},
                    {"name": "lcd", "module": "log", "sub": "e02/lcd"}]}}}


class BrowserTest(SystemTestCase):
    definition = staticmethod(three_nodes)

    def test_browser_suite(self):
        if not os.path.isdir(os.path.join(TOOLS, "node_modules", "playwright-core")):
            self.fail("playwright-core is not installed in tools/npm: run scripts/setup")
        defs = os.path.join(self.tmp, "definitions")
        os.makedirs(defs)
        changed = json.loads(json.dumps(self.system.definition))
        changed["nodes"]["gw"]["services"][1]["pub"] = "fleet/out2"
        broken = json.loads(json.dumps(self.system.definition))
        broken["nodes"]["e01"]["services"][0]["every"] = "soon"
        failing = json.loads(json.dumps(changed))
        failing["nodes"]["e01"]["services"].append(
            {"name": "bad", "module": "function", "setup": "error('boom at start')"})
        for name, value in (("system.json", changed), ("broken.json", broken),
                            ("failing.json", failing), ("system.secrets.json", {"x": "y"})):
            with open(os.path.join(defs, name), "w") as f:
                json.dump(value, f, indent=1)
        with open(os.path.join(defs, "notes.txt"), "w") as f:
            f.write("not a definition\n")
        check = subprocess.run([os.environ["PSOS_BINARY"], "check", "broken.json"], cwd=defs,
                               capture_output=True, text=True, timeout=20)
        self.assertEqual(check.returncode, 1, check.stdout + check.stderr)
        # Its FILE:LINE:COL lines (a count of problems follows them).
        check_errors = "\n".join(l for l in (check.stdout + check.stderr).splitlines()
                                 if re.match(r"broken\.json:\d+:\d+: ", l))
        self.assertTrue(check_errors, check.stdout + check.stderr)
        dash = Dashboard(self.processes, self.system.url, "--definitions", defs)
        # What the CLI says to the value the page will try: the page must say the same.
        refusal = self.fleet("conf", f"{SYSTEM}/e01", "set", "tick.every", '"soon"')
        self.assertEqual(refusal.returncode, 1, refusal.stdout + refusal.stderr)
        shots = os.environ.get("PSOS_SCREENSHOTS") or os.path.join(self.tmp, "shots")
        os.makedirs(shots, exist_ok=True)
        env = dict(os.environ, DASH_URL=dash.url, BROKER_PORT=str(self.system.mosquitto.port),
                   SYSTEM=SYSTEM, KILL_PID=str(self.system.nodes["e02"].proc.pid),
                   REFUSAL=refusal.stderr.strip(), SHOTS=shots, TOOLS=TOOLS,
                   CHECK_ERRORS=check_errors)
        out = subprocess.run(["node", os.path.join(HERE, "browser.js")], env=env,
                             capture_output=True, text=True, timeout=150)
        sys.stdout.write(out.stdout)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr + self.system.output())
        # What the page deployed is what gw runs, as the CLI sees it.
        info = self.fleet("cmd", "gw", "info")
        self.assertEqual(info.returncode, 0, info.stderr)
        info = json.loads(info.stdout)
        self.assertEqual(info["revision"], 1)
        echo = next(s for s in info["services"] if s["name"] == "echo")
        self.assertEqual(echo["pub"], ["fleet/out2"])


if __name__ == "__main__":
    main()
