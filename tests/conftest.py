"""Fixtures shared by every room's tests: the services they may need.

A test that needs PostgreSQL takes ``pg_url``. When the server cannot be reached the test is
skipped with the reason, unless ``ANDON_REQUIRE_SERVICES=1`` (CI), where it fails instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from andon.historian.engine import open_engine

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _service_missing(reason: str) -> None:
    if os.environ.get("ANDON_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (ANDON_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the test PostgreSQL server (``ANDON_TEST_PG``), checked to answer."""
    url = os.environ.get("ANDON_TEST_PG", PG_DEFAULT)
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means: no usable server
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _service_missing(f"PostgreSQL at {shown} is not reachable: {first}")
    return url


@pytest.fixture
def pg_schema_url(pg_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a new, empty schema (dropped afterwards)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A URL to a new, empty database of each engine (a test takes it to run on both)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/andon.db"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated SQLAlchemy engine on ``db_url`` (for the rooms that take an engine)."""
    eng, _ = open_engine(db_url)
    yield eng
    eng.dispose()


MQTT_DEFAULT = "127.0.0.1:1883"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _reachable(host: str, port: int, timeout: float = 2.0) -> str | None:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return str(exc)


@pytest.fixture(scope="session")
def mqtt_broker() -> tuple[str, int]:
    """The shared Mosquitto broker (``ANDON_TEST_MQTT``, default 127.0.0.1:1883), checked to
    answer. Tests use topics under a fresh random prefix so they never see each other."""
    host, _, port = os.environ.get("ANDON_TEST_MQTT", MQTT_DEFAULT).rpartition(":")
    problem = _reachable(host, int(port))
    if problem:
        _service_missing(f"MQTT broker at {host}:{port} is not reachable: {problem}")
    return host, int(port)


class PrivateBroker:
    """A Mosquitto process of the test's own, on a free loopback port, that the test can stop
    and start again (a broker restart in the middle of a run), keeping its persistence file."""

    def __init__(self, workdir: str) -> None:
        import shutil

        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            _service_missing("the mosquitto executable is not installed")
        self.exe = exe
        self.port = free_port()
        self.host = "127.0.0.1"
        self.conf = str(Path(workdir) / "mosquitto.conf")
        Path(self.conf).write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n" + ("user root\n" if os.geteuid() == 0 else ""),
            # started as root, Mosquitto drops to the user mosquitto, who cannot write the
            # test's directory: its persistence file would silently not be saved
            encoding="utf-8",
        )
        self.proc: object = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        import subprocess
        import time

        self.proc = subprocess.Popen(
            [self.exe, "-c", self.conf],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while _reachable(self.host, self.port, 0.2) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"private mosquitto did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        import subprocess

        proc = self.proc
        if isinstance(proc, subprocess.Popen):
            proc.terminate()  # SIGTERM: mosquitto saves its persistence file
            proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def private_broker(tmp_path: object) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(str(tmp_path))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
