"""``andon ingest``: workers with no API; two of them share one subscription into PostgreSQL."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from andon.cli.app import app
from andon.historian import open_historian

MESSAGES = 400
PER_MESSAGE = 100
T0_MS = time.time_ns() // 1_000_000 - 3_600_000


class Worker:
    """One ``andon ingest`` process, its stderr collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "andon", "ingest", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.err: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.err):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        return self.proc.returncode, out


def _publish(host: str, port: int, prefix: str) -> int:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:6]}")
    client.connect(host, port)
    client.loop_start()
    try:
        infos = []
        for m in range(MESSAGES):
            machine = f"m{m % 8}"
            items = [
                {"value": m * PER_MESSAGE + i, "timestamp": T0_MS + m * PER_MESSAGE + i}
                for i in range(PER_MESSAGE)
            ]
            topic = f"{prefix}/acme/plant/line-1/{machine}/speed"
            infos.append(client.publish(topic, orjson.dumps(items), qos=1))
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
    return MESSAGES * PER_MESSAGE


@pytest.mark.slow
def test_two_workers_share_one_subscription_and_store_every_sample_once(
    mqtt_broker: tuple[str, int], pg_schema_url: str, tmp_path: Path
) -> None:
    host, port = mqtt_broker
    prefix = f"andon-test/{uuid.uuid4().hex[:10]}"
    group = f"g{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    workers = [
        Worker(
            [
                "--mqtt",
                f"mqtt://{host}:{port}",
                "--prefix",
                prefix,
                "--share",
                group,
                "--db",
                pg_schema_url,
                "--spool",
                str(tmp_path / f"spool-{i}"),
            ],
            env,
        )
        for i in range(2)
    ]
    try:
        for w in workers:
            assert w.wait_for("subscribed", 60), "".join(w.err)
        sent = _publish(host, port, prefix)
        with open_historian(pg_schema_url) as historian:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if historian.count_samples() >= sent:
                    break
                time.sleep(0.2)
            stored = historian.count_samples()
            series = historian.range("acme/plant/line-1/m0/speed", 0, 2**62)
    finally:
        results = [w.stop() for w in workers]
    assert stored == sent  # every sample, once
    assert [rc for rc, _ in results] == [0, 0], [w.err for w in workers]
    handed = [int(out.split("stopped: ")[1].split()[0]) for _, out in results]
    assert sum(handed) == sent and all(n > 0 for n in handed), handed  # split, not copied
    assert len(series.ts) == MESSAGES // 8 * PER_MESSAGE


def test_ingest_without_sources_says_what_to_give(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", "--db", f"sqlite:///{tmp_path}/a.db"])
    assert result.exit_code == 1
    assert "nothing to ingest" in result.output


def test_ingest_refuses_a_bad_broker_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["ingest", "--mqtt", "http://x", "--db", f"sqlite:///{tmp_path}/a.db"]
    )
    assert result.exit_code == 1
    assert "--mqtt" in result.output and "mqtt://HOST:PORT" in result.output


def test_a_bad_broker_url_is_one_clean_line_naming_the_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            *("ingest", "--mqtt", "http://x", "--prefix", "a/+", "--share", "a/b"),
            *("--db", f"sqlite:///{tmp_path}/a.db"),
        ],
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "errors.pydantic.dev" not in result.output and "validation error" not in result.output
    assert lines[0].startswith("error: --mqtt: expected a URL like mqtt://HOST:PORT")
    assert "; --prefix: prefix 'a/+' contains a wildcard" in lines[0]
    assert "; --share: share 'a/b' must be one" in lines[0]


def test_ingest_logs_andon_at_info_and_the_libraries_at_warning() -> None:
    """In a process of its own: the logging configuration is global."""
    code = (
        "import logging\n"
        "from andon.cli.ingest import configure_logging\n"
        "configure_logging()\n"
        "names = ['andon.connect', 'andon.ingest', 'alembic.runtime.migration', 'asyncua.client',"
        " 'pymodbus.logging']\n"
        "print([logging.getLogger(n).getEffectiveLevel() for n in names])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    info, warning = logging.INFO, logging.WARNING
    assert out.stdout.strip() == str([info, info, warning, warning, warning])
