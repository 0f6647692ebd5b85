"""``andon audit verify`` and ``andon audit show``."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from andon.audit import AuditLog, audit_log
from andon.cli.audit import app as audit_app
from andon.cli.audit import cli_actor
from andon.historian.engine import open_engine

runner = CliRunner()


@pytest.fixture
def db(tmp_path: object) -> str:
    url = f"sqlite:///{tmp_path}/andon.db"
    engine, _ = open_engine(url)
    log = AuditLog(engine)
    for i in range(5):
        log.record(
            actor=f"user:u{i % 2}",
            source="api",
            category="command" if i % 2 else "auth",
            action=f"a{i}",
            target="s/a/l/m",
        )
    engine.dispose()
    return url


def audit(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(audit_app, list(args))


def test_verify_prints_the_count_and_head(db: str) -> None:
    r = audit("verify", "--db", db)
    assert r.exit_code == 0, r.output
    first = r.output.splitlines()[0]
    assert first.startswith("verified 5 entries, head ") and len(first.split()[-1]) == 64
    noted = r.output.split("(entry ")[1].split(")")[0]
    r = audit("verify", "--expect-head", noted, "--db", db)  # the verify entry itself is #6
    assert r.exit_code == 0 and r.output.startswith("verified 6 entries")


def test_verify_names_the_first_bad_entry_and_exits_1(db: str) -> None:
    engine, _ = open_engine(db)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
        conn.execute(sa.update(audit_log).where(audit_log.c.id == 3).values(target="elsewhere"))
    engine.dispose()
    r = audit("verify", "--db", db)
    assert r.exit_code == 1
    assert "NOT verified: entry 3: content does not match its hash" in r.output
    assert "Traceback" not in r.output


def test_verify_notices_a_rewritten_head(db: str) -> None:
    wrong = "5:" + "ab" * 32
    r = audit("verify", "--expect-head", wrong, "--db", db)
    assert r.exit_code == 1 and "no longer has the noted hash" in r.output
    r = audit("verify", "--expect-head", "nonsense", "--db", db)
    assert r.exit_code == 1 and "ID:HASH" in r.output


def test_show_filters_and_prints_json_oldest_first(db: str) -> None:
    r = audit("show", "--actor", "user:u1", "--format", "json", "--db", db)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [(row["id"], row["action"]) for row in rows] == [(2, "a1"), (4, "a3")]
    assert rows[0]["time"].endswith("Z") and rows[0]["result"] == "ok"
    rows = json.loads(audit("show", "--limit", "2", "--format", "json", "--db", db).output)
    assert [row["id"] for row in rows] == [5, 6]  # the previous show is recorded too
    assert rows[-1]["actor"] == cli_actor() and rows[-1]["action"] == "show"
    r = audit("show", "--category", "command", "--db", db)
    assert r.exit_code == 0 and "a3" in r.output and "a0" not in r.output


def test_reading_a_missing_database_says_so(tmp_path: object) -> None:
    r = audit("verify", "--db", f"sqlite:///{tmp_path}/none.db")
    assert r.exit_code == 1 and "no database at" in r.output
