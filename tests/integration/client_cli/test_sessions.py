"""Persistent sessions and outages: `psos sub -c -i ID -q 1` receives what was published while
it was stopped (psos broker and Mosquitto), and `psos pub -l` keeps publishing 2,000 QoS 1
lines while `psos broker --data DIR` is killed with SIGKILL and restarted twice: the persistent
subscriber receives every line (duplicates allowed at QoS 1, so distinct lines are counted)."""

import signal
import subprocess
import time

from clitest import CliTestCase, free_port, main, psos_binary, wait_until

LINES = 2000


class SessionTest(CliTestCase):
    def test_persistent_session_receives_while_away(self):
        for url in (self.start_broker().url("mqtt"), self.start_mosquitto().url()):
            for version in ("5", "311"):
                with self.subTest(url=url, version=version):
                    args = ("--broker", url, "-V", version, "-c", "-i", f"away{version}",
                            "-q", "1", "-t", "away/t")
                    sub = self.sub(*args)
                    sub.proc.send_signal(signal.SIGTERM)
                    self.assertEqual(sub.wait()[0], 0)
                    for i in range(3):
                        self.pub("--broker", url, "-V", version, "-t", "away/t", "-q", "1",
                                 "-m", f"m{i}")
                    out = self.psos("sub", *args, "-C", "3", "-W", "10")
                    self.assertEqual((out.returncode, out.stdout), (0, "m0\nm1\nm2\n"),
                                     out.stderr)

    def test_pub_lines_survive_broker_restarts(self):
        port = free_port()
        data = f"{self.tmp}/data"

        def start():
            return self.start_broker(listen=(f"mqtt://127.0.0.1:{port}",), extra=("--data", data))

        broker = start()
        url = f"mqtt://127.0.0.1:{port}"
        sub = self.sub("--broker", url, "-c", "-i", "lines-sub", "-q", "1", "-t", "lines/t")
        pub = self.processes.start([psos_binary(), "pub", "-d", "--broker", url, "-i",
                                    "lines-pub", "-q", "1", "-t", "lines/t", "-l"],
                                   stdin=subprocess.PIPE)

        # 2,000 lines in 20 batches; the broker is killed after batches 6 and 13 and restarted
        # after batches 8 and 15, so lines arrive while it is up, down and coming back.
        for batch in range(LINES // 100):
            pub.stdin.write("".join(f"line {i}\n" for i in range(batch * 100, batch * 100 + 100))
                            .encode())
            pub.stdin.flush()
            time.sleep(0.1)
            if batch in (6, 13):
                broker.proc.send_signal(signal.SIGKILL)
                broker.proc.wait(5)
            elif batch in (8, 15):
                broker = start()
        pub.stdin.close()
        status = pub.wait(30)
        log = pub.stderr.read().decode()
        self.assertEqual(status, 0, log)
        # Connected three times: the broker really went away under it, twice.
        self.assertGreaterEqual(log.count("psos pub: connected"), 3, log)
        distinct = lambda: len(set(sub.out.matching(lambda l: l.startswith("line "))))  # noqa
        wait_until(lambda: distinct() >= LINES, 20, 0.1)
        self.assertEqual(distinct(), LINES, sub.stderr_text())


if __name__ == "__main__":
    main()
