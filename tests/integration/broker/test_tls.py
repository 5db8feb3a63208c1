"""TLS listeners of `psos broker`: mqtts:// and wss:// with a test CA and certificates made
here with openssl; mosquitto clients verify the broker's certificate; with --cafile and
--require-certificate a client without a certificate is refused."""

import os
import shutil
import subprocess
import tempfile

from brokertest import BrokerTestCase, main


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_pki(directory):
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=psos test CA", cwd=directory)
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={name}", cwd=directory)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext",
                cwd=directory)


class TlsTest(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="psos-tls-")
        make_pki(cls.pki)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.pki, name)

    def start_tls_broker(self, *extra):
        return self.start_broker(
            listen=("mqtts://127.0.0.1:0", "wss://127.0.0.1:0/mqtt"),
            extra=("--cert", self.path("server.pem"), "--key", self.path("server.key"), *extra))

    def round_trip(self, port, *client_args, websocket=False):
        """mosquitto_sub waits for one message that mosquitto_pub sends over TLS."""
        common = ["-h", "localhost", "-p", str(port), "--cafile", self.path("ca.pem"),
                  *client_args]
        sub = self.processes.start(["mosquitto_sub", *common, "-t", "tls/t", "-C", "1", "-W", "10"])
        for _ in range(50):
            pub = subprocess.run(["mosquitto_pub", *common, "-t", "tls/t", "-m", "over tls",
                                  "-q", "1"], capture_output=True, timeout=10)
            if pub.returncode != 0:
                return pub.returncode, pub.stderr.decode()
            try:
                out, _ = sub.communicate(timeout=0.2)
                return sub.returncode, out.decode()
            except subprocess.TimeoutExpired:
                continue
        return -1, "no message"

    def test_mqtts_with_verified_certificate(self):
        broker = self.start_tls_broker()
        status, out = self.round_trip(broker.port_of("mqtts"))
        self.assertEqual((status, out.strip()), (0, "over tls"))

    def test_untrusted_server_is_refused_by_the_client(self):
        broker = self.start_tls_broker()
        result = subprocess.run(
            ["mosquitto_pub", "-h", "localhost", "-p", str(broker.port_of("mqtts")), "--cafile",
             self.path("client.pem"), "-t", "x", "-m", "y"], capture_output=True, timeout=10)
        self.assertNotEqual(result.returncode, 0)
        self.assertBrokerAlive(broker)

    def test_client_certificate_required(self):
        broker = self.start_tls_broker("--cafile", self.path("ca.pem"), "--require-certificate")
        port = broker.port_of("mqtts")
        refused = subprocess.run(
            ["mosquitto_pub", "-h", "localhost", "-p", str(port), "--cafile", self.path("ca.pem"),
             "-t", "x", "-m", "y", "-q", "1"], capture_output=True, timeout=10)
        self.assertNotEqual(refused.returncode, 0)
        status, out = self.round_trip(port, "--cert", self.path("client.pem"), "--key",
                                      self.path("client.key"))
        self.assertEqual((status, out.strip()), (0, "over tls"))

    def test_listener_needs_certificate_and_key(self):
        result = subprocess.run([self.broker_binary(), "broker", "-l", "mqtts://127.0.0.1:0"],
                                capture_output=True, timeout=10)
        self.assertEqual(result.returncode, 1)
        self.assertIn("needs --cert and --key", result.stderr.decode())

    def broker_binary(self):
        from brokertest import psos_binary
        return psos_binary()


if __name__ == "__main__":
    main()
