"""`rolecall serve` on a Kafka topic (the default client): a finding whose evidence reaches
the topic appears on an open Findings page, as on the embedded log."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.dashboard.test_browser import browser, page
from tests.dashboard.test_findings_serve import a_new_finding_appears_under_serve
from tests.kafka.broker import Broker

__all__ = ["browser", "page"]  # the fixtures, imported for pytest

pytestmark = [pytest.mark.kafka, pytest.mark.browser]


def test_a_new_finding_appears_under_serve_on_kafka(
    page: Page, kafka_broker: Broker, topic: str, tmp_path: Path
) -> None:
    a_new_finding_appears_under_serve(page, kafka_broker.url(topic), tmp_path / "live.duckdb")
