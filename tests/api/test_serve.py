"""`andon serve`: refuses without an admin; serves and ingests in one process; stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import typer
from api_site import fast_hasher
from typer.testing import CliRunner

from andon.cli.serve import serve
from andon.historian import open_historian
from andon.identity import Identity, Role

app = typer.Typer()
app.command()(serve)

LAUNCH = (
    "import typer, sys; from andon.cli.serve import serve; "
    "app = typer.Typer(); app.command()(serve); app()"
)


def test_refuses_to_start_without_an_admin(tmp_path):
    db = str(tmp_path / "andon.db")
    result = CliRunner().invoke(app, ["--db", db, "--port", "0"])
    assert result.exit_code == 1
    assert "andon user create NAME --role admin" in result.output
    assert "Traceback" not in result.output


def test_serves_the_simulated_plant_and_stops_on_sigterm(tmp_path):
    db = str(tmp_path / "andon.db")
    with open_historian(db) as historian:
        identity = Identity(historian._engine, password_hasher=fast_hasher())
        identity.create_user("root", Role.ADMIN, "a long enough password", actor="cli:test")
        _, token = identity.create_token("t", [Role.VIEWER], expires_in_s=600, actor="cli:test")
    cmd = [sys.executable, "-c", LAUNCH, "--db", db, "--port", "0", "--simulate", "--speed", "60"]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "andon dashboard and API at http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split(" at ")[1].split()[0]
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 20
        machines: list[dict] = []
        while time.monotonic() < deadline:
            r = httpx.get(f"{url}/api/v1/machines", headers=headers, timeout=5)
            assert r.status_code == 200
            machines = r.json()["machines"]
            if any(m["state"] for m in machines):
                break
            time.sleep(0.3)
        assert machines and any(m["state"] for m in machines)
        with httpx.stream("GET", f"{url}/api/v1/stream", headers=headers, timeout=10) as r:
            data = next(line for line in r.iter_lines() if line.startswith("data: "))
        assert '"tag"' in data or '"asset"' in data
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "andon serve stopped" in out
    assert "Traceback" not in err
