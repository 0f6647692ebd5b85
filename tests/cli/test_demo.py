"""``andon demo`` end to end: the virtual plant through the pipeline into a real historian."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from andon.cli.app import app
from andon.core import NS_PER_S, now_ns, parse_time
from andon.historian import open_historian
from andon.plant import example_plant, load_plant
from andon.sim import VirtualPlant

runner = CliRunner()
START = "2026-11-23T05:00:00Z"  # a Monday morning in Berlin


def expected(plant_name: str, minutes: float, seed: int) -> tuple[int, int, dict[str, int]]:
    """What the virtual plant produces for these arguments, counted without the historian."""
    plant = load_plant(example_plant(plant_name))
    start = parse_time(START)
    vp = VirtualPlant(plant, seed=seed, start_ns=start)
    batch, events = vp.advance(start + round(minutes * 60 * NS_PER_S))
    per_tag: dict[str, int] = {}
    for path in batch.tag_paths():
        per_tag[path] = per_tag.get(path, 0) + 1
    return len(batch), len(events), per_tag


def run_demo(db: str, minutes: float = 90, seed: int = 3, plant: str = "job_shop"):
    args = [
        "demo",
        "--db",
        db,
        "--minutes",
        str(minutes),
        "--speed",
        "0",
        "--seed",
        str(seed),
        "--start",
        START,
        "--no-serve",
        "--plant",
        example_plant(plant),
    ]
    return runner.invoke(app, args)


@pytest.mark.parametrize("plant_name", ["job_shop", "assembly_line"])
def test_the_historian_holds_every_sample_and_event_the_plant_produced(tmp_path, plant_name):
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    result = run_demo(db, plant=plant_name)
    assert result.exit_code == 0, result.output
    samples, events, per_tag = expected(plant_name, 90, 3)
    with open_historian(db) as h:
        assert h.count_samples() == samples
        for tag, n in per_tag.items():
            assert h.count_samples(tag) == n, tag
        assert len(h.events(limit=None)) == events
    assert f"{samples:,} samples and {events:,} events of 1.5 simulated hours produced; " in (
        result.output
    )
    assert f"{samples:,} samples and {events:,} events were new" in result.output


def test_running_the_same_demo_twice_stores_nothing_new(tmp_path):
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    assert run_demo(db, minutes=30).exit_code == 0
    with open_historian(db) as h:
        first = (h.count_samples(), len(h.events(limit=None)))
    again = run_demo(db, minutes=30)
    assert again.exit_code == 0
    assert "0 samples and 0 events were new" in again.output
    with open_historian(db) as h:
        assert (h.count_samples(), len(h.events(limit=None))) == first


def test_demo_tells_the_story_and_summarises(tmp_path):
    result = run_demo(f"sqlite:///{tmp_path / 'demo.db'}", minutes=300, seed=0)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "mill-1 is down: bearing failure" in out  # mill-1's bearing fails in hours
    assert "is repaired after" in out
    assert "min for parts (starved)" in out  # another machine waits for parts
    assert "scrapped a" in out  # scrap appears
    assert "changeover to" in out
    assert "Minutes in each state" in out and "samples the historian holds" in out
    assert "mill-1" in out and "grinder-1" in out


def test_demo_into_postgresql(pg_schema_url):
    result = run_demo(pg_schema_url, minutes=20)
    assert result.exit_code == 0, result.output
    samples, events, _ = expected("job_shop", 20, 3)
    with open_historian(pg_schema_url) as h:
        assert h.count_samples() == samples
        assert len(h.events(limit=None)) == events


def test_unreachable_database_is_one_line_and_nonzero():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "andon",
            "demo",
            "--minutes",
            "5",
            "--speed",
            "0",
            "--db",
            "postgresql+psycopg://andon:secret@127.0.0.1:1/plant",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "secret" not in proc.stderr and "127.0.0.1:1" in proc.stderr


def test_bad_plant_file_writes_nothing(tmp_path):
    bad = tmp_path / "plant.yaml"
    bad.write_text(Path(example_plant("job_shop")).read_text().replace("unit: kW", "unit: ''"))
    db = tmp_path / "demo.db"
    result = runner.invoke(
        app,
        [
            "demo",
            "--plant",
            str(bad),
            "--db",
            f"sqlite:///{db}",
            "--speed",
            "0",
            "--minutes",
            "5",
            "--no-serve",
        ],
    )
    assert result.exit_code == 1
    assert "unit: must not be empty" in result.output
    assert not db.exists()


def test_default_start_ends_the_simulated_span_now(tmp_path):
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    before = now_ns()
    result = runner.invoke(
        app, ["demo", "--db", db, "--minutes", "15", "--speed", "0", "--quiet", "--no-serve"]
    )
    assert result.exit_code == 0, result.output
    with open_historian(db) as h:
        latest = max(s.ts for s in h.latest("#"))
        first = min(t.first_ns for t in h.tags() if t.first_ns is not None)
    assert latest <= now_ns()  # nothing from the future
    assert before - 16 * 60 * NS_PER_S <= first <= before - 14 * 60 * NS_PER_S


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2300-01-01T00:00:00Z"], "--start: out of range"),
        (["--start", "2262-04-10T00:00:00Z", "--minutes", "5000"], "out of range"),
        (["--start", "tomorrow"], "--start: expected ISO 8601"),
        (["--minutes", "inf"], "--minutes"),
        (["--minutes", "0"], "--minutes"),
        (["--speed", "-1"], "--speed"),
    ],
)
def test_bad_demo_arguments_are_clear(tmp_path, args, message):
    result = runner.invoke(
        app, ["demo", "--db", f"sqlite:///{tmp_path / 'd.db'}", "--no-serve", *args]
    )
    assert result.exit_code in (1, 2)  # 2: rejected by the option parser itself
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_plant_without_machines_is_refused(tmp_path):
    bad = tmp_path / "plant.yaml"
    bad.write_text("site: s\ncalendar: {timezone: UTC}\nareas: []\n")
    result = runner.invoke(
        app, ["demo", "--plant", str(bad), "--db", f"sqlite:///{tmp_path}/d.db", "--no-serve"]
    )
    assert result.exit_code == 1
    assert "areas: List should have at least 1 item" in result.output


def test_demo_serves_the_dashboard_and_stops_on_ctrl_c(tmp_path):
    """The newcomer's path: run the demo, log in with the printed password, see the plant."""
    import re
    import signal
    import time

    import httpx

    db = f"sqlite:///{tmp_path / 'demo.db'}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "andon",
            "demo",
            "--db",
            db,
            "--minutes",
            "20",
            "--speed",
            "0",
            "--port",
            "0",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**__import__("os").environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stdout is not None
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if "keeps running in real time" in line:
                break
        text = "".join(seen)
        found = re.search(
            r"Dashboard: (http://127\.0\.0\.1:\d+)\s+user demo\s+password (\S+)", text
        )
        assert found, text
        url, password = found.groups()
        with httpx.Client(base_url=url) as client:
            page = client.get("/")  # the dashboard is served beside the API
            assert page.status_code == 303 and page.headers["location"].startswith("/login")
            assert "<form" in client.get("/login").text
            login = client.post("/api/v1/auth/login", json={"name": "demo", "password": password})
            assert login.status_code == 200, login.text
            # httpx keeps a Secure cookie for https only; a browser sends it to 127.0.0.1
            cookie = "; ".join(f"{k}={v}" for k, v in login.cookies.items())
            machines = client.get("/api/v1/machines", headers={"Cookie": cookie})
            assert machines.status_code == 200
            assert {m["id"] for m in machines.json()["machines"]} == {
                "mill-1",
                "mill-2",
                "lathe-1",
                "grinder-1",
            }
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "andon demo stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_demo_never_undoes_an_admins_decision(tmp_path):
    from andon.cli.showroom import demo_login
    from andon.core import InputError
    from andon.identity import Identity, Role

    with open_historian(f"sqlite:///{tmp_path / 'd.db'}") as h:
        identity = Identity(h.engine)
        first = demo_login(identity)
        second = demo_login(identity)
        assert first != second  # a fresh password each run, shown once
        identity.create_user("ann", Role.ADMIN, actor="cli:test")
        identity.disable_user("demo", actor="cli:ann")
        with pytest.raises(InputError, match="is disabled"):
            demo_login(identity)
        assert next(u for u in identity.users() if u.name == "demo").disabled


def test_the_demo_over_mqtt_stores_every_sample(tmp_path, mqtt_broker):
    """--mqtt: the plant publishes JSON to the broker and andon subscribes (QoS 1)."""
    host, port = mqtt_broker
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    result = runner.invoke(
        app,
        [
            *("demo", "--db", db, "--minutes", "60", "--speed", "0", "--seed", "3"),
            *("--start", START, "--no-serve", "--quiet", "--mqtt", f"mqtt://{host}:{port}"),
        ],
    )
    assert result.exit_code == 0, result.output
    samples, events, per_tag = expected("job_shop", 60, 3)
    with open_historian(db) as h:
        assert h.count_samples() == samples
        for tag, n in per_tag.items():
            assert h.count_samples(tag) == n, tag
        assert len(h.events(limit=None)) == events
    assert f"travelled over mqtt mqtt://{host}:{port}: {samples:,} received" in result.output


def test_the_demo_names_the_protocol_path(tmp_path):
    result = run_demo(f"sqlite:///{tmp_path / 'demo.db'}", minutes=10)
    assert result.exit_code == 0, result.output
    assert "the samples travelled over opcua opc.tcp://127.0.0.1:" in result.output


def test_a_bad_broker_url_is_refused(tmp_path):
    result = runner.invoke(
        app, ["demo", "--db", f"sqlite:///{tmp_path}/d.db", "--no-serve", "--mqtt", "tcp://x"]
    )
    assert result.exit_code == 1
    assert "--mqtt: expected a broker URL like mqtt://127.0.0.1:1883" in result.output


def test_the_demo_ends_with_oee_per_machine_and_shift_matching_the_ground_truth(tmp_path):
    result = run_demo(f"sqlite:///{tmp_path / 'demo.db'}", minutes=120)
    assert result.exit_code == 0, result.output
    assert "OEE per machine and shift" in result.output
    found = re.search(r"derived OEE is within ([\d.]+) percentage points", result.output)
    assert found, result.output[-2000:]
    assert float(found.group(1)) <= 0.5
