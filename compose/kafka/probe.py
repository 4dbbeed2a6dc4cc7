"""Readiness probe for the local Kafka broker started by compose/kafka-local.sh.

Exit 0 when a client can bootstrap from the broker and list its topics, 1 otherwise.

Uses kafka-python's admin client when the interpreter has it; otherwise it sends one
Metadata (v4) request over a plain socket with the standard library only, so the script
also works with a bare ``python3``. ``--raw`` forces the standard-library path.

    python3 compose/kafka/probe.py 127.0.0.1:9092 [--timeout 5] [--raw]
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys


def list_topics_kafka_python(bootstrap: str, timeout: float) -> list[str]:
    from kafka import KafkaAdminClient

    ms = max(1000, int(timeout * 1000))
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="rolecall-kafka-local-probe",
        request_timeout_ms=ms,
        bootstrap_timeout_ms=ms,
    )
    try:
        return sorted(admin.list_topics())
    finally:
        admin.close()


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf.extend(chunk)
    return bytes(buf)


def list_topics_raw(bootstrap: str, timeout: float) -> list[str]:
    """One Metadata v4 request (the oldest version Kafka 4.x still serves)."""
    host, _, port = bootstrap.rpartition(":")
    client_id = b"rolecall-kafka-local-probe"
    correlation_id = 7
    # Request header v1: api_key=3 (Metadata), api_version=4, correlation_id, client_id.
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    # Body: topics=null (all topics), allow_auto_topic_creation=false.
    body = struct.pack(">ib", -1, 0)
    request = header + body
    with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        r = _Reader(_recv_exact(sock, size))
    if r.take(">i") != correlation_id:
        raise ValueError("unexpected correlation id in Metadata response")
    r.take(">i")  # throttle_time_ms
    brokers = []
    for _ in range(r.take(">i")):
        node_id = r.take(">i")
        broker_host = r.string()
        broker_port = r.take(">i")
        r.string()  # rack
        brokers.append((node_id, broker_host, broker_port))
    if not brokers:
        raise ValueError("Metadata response lists no broker yet")
    r.string()  # cluster_id
    r.take(">i")  # controller_id
    topics = []
    for _ in range(r.take(">i")):
        r.take(">h")  # error_code
        name = r.string()
        r.take(">b")  # is_internal
        for _ in range(r.take(">i")):  # partitions
            r.take(">h")  # error_code
            r.take(">i")  # partition_index
            r.take(">i")  # leader_id
            for _ in range(r.take(">i")):  # replica_nodes
                r.take(">i")
            for _ in range(r.take(">i")):  # isr_nodes
                r.take(">i")
        if name is not None:
            topics.append(name)
    return sorted(topics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bootstrap", help="host:port of the broker, e.g. 127.0.0.1:9092")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    parser.add_argument(
        "--raw", action="store_true", help="skip kafka-python, use the socket probe"
    )
    args = parser.parse_args(argv)

    how = "raw Metadata request"
    try:
        if not args.raw:
            try:
                import kafka  # noqa: F401

                how = "kafka-python"
            except ImportError:
                pass
        if how == "kafka-python":
            topics = list_topics_kafka_python(args.bootstrap, args.timeout)
        else:
            topics = list_topics_raw(args.bootstrap, args.timeout)
    except Exception as exc:  # any failure means "not ready yet"
        print(f"not ready ({how}): {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"ok ({how}): {len(topics)} topic(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
