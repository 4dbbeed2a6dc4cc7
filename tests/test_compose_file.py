"""compose/docker-compose.yml: its structure, checked without a container engine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose" / "docker-compose.yml"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command", [])
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd]


def _log_urls(service: dict[str, Any]) -> list[str]:
    cmd = _command(service)
    return [cmd[i + 1] for i, arg in enumerate(cmd[:-1]) if arg == "--log"]


def test_services_kafka_and_a_materializing_dashboard() -> None:
    services = _compose()["services"]
    assert "kafka" in services
    kafka = services["kafka"]
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert "healthcheck" in kafka
    pom = (ROOT / "compose" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert version and kafka["image"] == f"apache/kafka:{version.group(1)}"
    # materializing and serving share one process: DuckDB takes one writer per file
    serving = [s for s in services.values() if _command(s)[:1] in (["serve"], ["materialize"])]
    assert serving, "a service must materialize the topic (serve or materialize)"
    for service in serving:
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_every_log_url_is_kafka_on_the_topic_that_is_created() -> None:
    services = _compose()["services"]
    init = _command(services["kafka-init"])
    topic = init[init.index("--topic") + 1]
    urls = [u for s in services.values() for u in _log_urls(s)]
    assert len(urls) >= 2
    for url in urls:
        assert url == f"kafka://kafka:9092/{topic}"
        assert url.startswith("kafka://")


def test_volumes_are_declared_and_mounted() -> None:
    data = _compose()
    declared = set(data["volumes"])
    mounted = {
        v.split(":", 1)[0]
        for s in data["services"].values()
        for v in s.get("volumes", [])
        if not v.startswith((".", "/"))
    }
    assert mounted and mounted <= declared
    kafka_mounts = data["services"]["kafka"]["volumes"]
    assert any(v.endswith(":/var/lib/kafka/data") for v in kafka_mounts)
    db_services = [s for s in data["services"].values() if "--db" in _command(s)]
    for service in db_services:
        cmd = _command(service)
        db = cmd[cmd.index("--db") + 1]
        assert any(db.startswith(v.split(":", 1)[1]) for v in service["volumes"]), db


def test_ports_bind_to_loopback_only() -> None:
    for service in _compose()["services"].values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port
