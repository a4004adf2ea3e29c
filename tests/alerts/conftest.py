"""Alert fixtures: a hive with a sensor (``hive``, alice's), and realistic days replayed on a simulated clock.

Readings are ingested through the one ingest service with ``now`` set to the newest
reading of each batch, as a gateway sending every ten minutes would; the alerts hook
evaluates each committed batch on that clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.models import Alert
from telemetry.services import readings_ingest
from telemetry.validation import iso_time
from tests.factories import HiveFactory

# Writes must commit for the alerts hook to run (it follows the telemetry commit).
FLOW = pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])


@pytest.fixture
def hive(alice: Any) -> Any:
    """alice's hive with a sensor, device id scale-3."""
    return HiveFactory(apiary__owner=alice, name="Hive 3", device_id="scale-3")


def day_start(days_ago: int = 1) -> datetime:
    """Midnight UTC ``days_ago`` days back: a whole day that has already happened."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def normal_weight(t: datetime) -> float:
    """A colony's ordinary day: 40 kg, foragers out in the morning, nectar in the
    afternoon (a few hundred grams either way, never a swarm-sized step)."""
    hour = t.hour + t.minute / 60
    return 40.0 - 0.4 * math.sin(math.pi * hour / 12) + 0.002 * hour


def normal_temperature(t: datetime) -> float:
    return 34.8 + 0.3 * math.sin(math.pi * (t.hour + t.minute / 60) / 12)


def replay(
    device_id: str,
    start: datetime,
    minutes: int,
    *,
    weight: Callable[[datetime], float | None] = normal_weight,
    temperature: Callable[[datetime], float | None] = normal_temperature,
    batch: int = 10,
    before_batch: Callable[[datetime], None] | None = None,
) -> None:
    """One reading a minute for ``minutes`` from ``start``, sent in batches of ``batch``."""
    times = [start + timedelta(minutes=i) for i in range(minutes)]
    for offset in range(0, len(times), batch):
        chunk = times[offset : offset + batch]
        if before_batch is not None:
            before_batch(chunk[0])
        readings: list[dict[str, Any]] = []
        for t in chunk:
            item: dict[str, Any] = {"time": iso_time(t)}
            w, c = weight(t), temperature(t)
            if w is not None:
                item["weight"] = round(w, 3)
            if c is not None:
                item["temperature"] = round(c, 2)
            readings.append(item)
        readings_ingest(device_id=device_id, readings=readings, now=chunk[-1])


def alerts_of(hive: Any, **filters: Any) -> list[Alert]:
    return list(Alert.objects.filter(hive=hive, **filters).order_by("started_at", "id"))


class Receiver:
    """A webhook receiver on 127.0.0.1 that records each POST and answers ``statuses``
    in turn (the last one repeats)."""

    def __init__(self, statuses: tuple[int, ...] = (200,)) -> None:
        import http.server
        import threading

        self.statuses = list(statuses)
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append((dict(self.headers.items()), body))
                status = (
                    receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/beeapi-hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Any:
    server = Receiver()
    yield server
    server.close()


def silent_sensor_alert(device_id: str) -> Alert:
    """A no_data alert raised the way the worker does, on a simulated clock."""
    from alerts.services import no_data_check

    start = day_start()
    replay(device_id, start, 10)
    [alert] = no_data_check(now=start + timedelta(minutes=75))
    return alert
