"""`psos pub` / `psos sub` with authentication and TLS: a wrong password gives a non-zero exit and a
message saying what to do; over mqtts:// with a test CA (made here with openssl) --cafile makes it
work and without it the failure names the certificate problem."""

import os
import sys

from clitest import HERE, CliTestCase, main

sys.path.insert(0, os.path.join(HERE, "..", "broker"))
from test_tls import make_pki  # noqa: E402


class SecurityTest(CliTestCase):
    def test_wrong_password(self):
        passwd = os.path.join(self.tmp, "passwd")
        made = self.psos("passwd", "-b", passwd, "alice", "s3cret")
        self.assertEqual(made.returncode, 0, made.stderr)
        url = self.start_broker(extra=("--passwd", passwd)).url("mqtt")
        for version in ("5", "311"):
            with self.subTest(version=version):
                for command in (["pub", "-m", "x"], ["sub"]):
                    out = self.psos(*command, "--broker", url, "-V", version, "-t", "t",
                                    "-u", "alice", "-P", "wrong")
                    self.assertEqual(out.returncode, 1, out.stderr)
                    self.assertIn("refused", out.stderr)
                    self.assertIn("check the user name and password", out.stderr)
                # The right one works, given with the flags or in the URL.
                sub = self.sub("--broker", url, "-V", version, "-t", "t", "-u", "alice",
                               "-P", "s3cret", "-C", "1", "-W", "10")
                self.pub("--broker", url.replace("mqtt://", "mqtt://alice:s3cret@"),
                         "-V", version, "-t", "t", "-m", "welcome")
                self.assertEqual(sub.wait(), (0, ["welcome"]))

    def test_tls(self):
        pki = os.path.join(self.tmp, "pki")
        os.mkdir(pki)
        make_pki(pki)
        broker = self.start_broker(
            listen=("mqtts://127.0.0.1:0", "wss://127.0.0.1:0/mqtt"),
            extra=("--cert", os.path.join(pki, "server.pem"),
                   "--key", os.path.join(pki, "server.key")))
        ca = os.path.join(pki, "ca.pem")
        for url in (broker.url("mqtts"), broker.url("wss")):
            with self.subTest(url=url):
                sub = self.sub("--broker", url, "--cafile", ca, "-t", "tls/t", "-q", "1",
                               "-C", "1", "-W", "10")
                self.pub("--broker", url, "--cafile", ca, "-t", "tls/t", "-q", "1",
                         "-m", "secret")
                self.assertEqual(sub.wait(), (0, ["secret"]))
                # Without the CA (the system store does not know it) or with the wrong one.
                for extra in ([], ["--cafile", os.path.join(pki, "client.pem")]):
                    for command in (["pub", "-m", "x"], ["sub"]):
                        out = self.psos(*command, "--broker", url, "-t", "t", *extra)
                        self.assertEqual(out.returncode, 1, out.stderr)
                        self.assertIn("certificate", out.stderr)
        # -h/-p with --cafile: TLS on the given port, verified against the host name.
        port = str(broker.port_of("mqtts"))
        out = self.psos("pub", "-h", "localhost", "-p", port, "--cafile", ca, "-t", "t", "-m", "x")
        self.assertEqual(out.returncode, 0, out.stderr)


if __name__ == "__main__":
    main()
