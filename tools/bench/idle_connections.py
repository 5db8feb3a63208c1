#!/usr/bin/env python3
"""Memory a broker spends per idle connection (scripts/bench_broker runs it; one JSON line on
stdout). Opens COUNT plain sockets to the broker at PORT, each sending an MQTT 5 CONNECT (clean
start, keep alive 600 s, a 20-character client id like a real device's) and reading its CONNACK,
then lets the broker settle for SETTLE seconds and reads /proc/PID/status: VmRSS, RssAnon and
VmHWM before the first connection and while all are connected. No client library: a socket each,
so the clients cost the broker nothing beyond the connections themselves.

usage: idle_connections.py --port PORT --pid PID [--count 1000] [--settle 1]
"""

import argparse
import json
import socket
import sys
import time


def status_kib(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0])
    return values


def mqtt_string(text):
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def connect_packet(client_id):
    # Protocol name, level 5, flags: clean start; keep alive 600 s; no properties.
    body = mqtt_string("MQTT") + bytes([5, 0x02]) + (600).to_bytes(2, "big") + bytes([0])
    body += mqtt_string(client_id)
    return bytes([0x10, len(body)]) + body


def read_connack(sock):
    data = b""
    while len(data) < 2 or len(data) < 2 + data[1]:
        chunk = sock.recv(256)
        if not chunk:
            raise ConnectionError("closed before CONNACK")
        data += chunk
    if data[0] != 0x20:
        raise ConnectionError(f"expected CONNACK, got packet type {data[0] >> 4}")
    if data[3] != 0:
        raise ConnectionError(f"CONNACK reason 0x{data[3]:02x}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=1.0)
    args = parser.parse_args()

    before = status_kib(args.pid)
    sockets, errors = [], []
    try:
        # Sent in batches of 50 before their CONNACKs are read: a burst, as when devices come
        # back after an outage, without waiting a round trip per connection.
        for first in range(0, args.count, 50):
            batch = []
            for i in range(first, min(first + 50, args.count)):
                try:
                    s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
                    s.sendall(connect_packet(f"idle-bench-{i:09d}"))
                    batch.append(s)
                except OSError as e:
                    errors.append(f"connection {i}: {e}")
                    break
            for s in batch:
                try:
                    read_connack(s)
                    sockets.append(s)
                except (OSError, ConnectionError) as e:
                    errors.append(str(e))
                    s.close()
            if errors:
                break
        time.sleep(args.settle)
        during = status_kib(args.pid)
    finally:
        for s in sockets:
            s.close()
    row = {"count": args.count, "connected": len(sockets), "errors": errors[:3],
           "rss_before_kib": before["VmRSS"], "anon_before_kib": before["RssAnon"],
           "rss_kib": during["VmRSS"], "anon_kib": during["RssAnon"],
           "hwm_kib": during["VmHWM"]}
    print(json.dumps(row))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
