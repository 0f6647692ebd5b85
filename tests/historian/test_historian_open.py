"""Opening a historian: URL resolution, migrations, and errors a person can act on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import andon.historian
from andon.core import DatabaseUnavailable
from andon.historian import Historian, open_historian, resolve_url
from andon.historian.schema import metadata


def test_public_surface_is_deliberate() -> None:
    assert andon.historian.__all__ == [
        "ENV_VAR",
        "MAX_RAW_POINTS",
        "ROLLUP_MIN_QUALITY",
        "ROLLUP_NS",
        "Agg",
        "Buckets",
        "Historian",
        "Sample",
        "Series",
        "TagInfo",
        "TagSpec",
        "open_historian",
        "resolve_url",
    ]


def test_url_defaults_to_env_then_local_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANDON_DB", raising=False)
    assert resolve_url(None).render_as_string() == "sqlite:///andon.db"
    monkeypatch.setenv("ANDON_DB", "postgresql+psycopg://u:pw@db:5432/plant")
    assert resolve_url(None).get_backend_name() == "postgresql"
    assert resolve_url("plant.db").render_as_string() == "sqlite:///plant.db"


def test_default_file_is_created_in_current_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANDON_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    with open_historian() as h:
        assert h.dialect == "sqlite"
    assert (tmp_path / "andon.db").is_file()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    with open_historian(str(tmp_path / "a.db")):
        pass
    engine = sa.create_engine(f"sqlite:///{tmp_path}/a.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_unreachable_server_is_reported_quickly_with_password_masked() -> None:
    url = "postgresql+psycopg://andon:s3cret@127.0.0.1:1/plant"
    t0 = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as err:
        open_historian(url)
    assert time.monotonic() - t0 < 6
    message = str(err.value)
    assert "s3cret" not in message
    assert "andon:***@127.0.0.1:1/plant" in message
    assert "\n" not in message


def test_sqlite_file_in_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailable, match="does not exist"):
        open_historian(str(tmp_path / "no" / "such" / "dir" / "andon.db"))


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, just some text\n" * 200)
    with pytest.raises(DatabaseUnavailable, match=r"junk\.db"):
        open_historian(str(junk))


def test_unsupported_url(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailable, match="unsupported"):
        open_historian("mysql://u:p@localhost/x")


@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_migrations_match_the_schema_and_reopen_is_harmless(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite:///{tmp_path}/m.db"
        if engine == "sqlite"
        else request.getfixturevalue("pg_schema_url")
    )
    with open_historian(url):
        pass
    with open_historian(url) as h:  # second open: already at head, nothing to do
        assert isinstance(h, Historian)
    # other rooms add their own tables through later revisions; they check those themselves
    mine = {"include_name": lambda name, kind, _: kind != "table" or name in metadata.tables}
    check = sa.create_engine(url)
    with check.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts=mine), metadata)
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    check.dispose()
    assert diff == []
    scripts = ScriptDirectory(str(Path(andon.historian.__file__).with_name("migrations")))
    assert version == scripts.get_current_head()


def test_reader_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    with pytest.raises(DatabaseUnavailable) as err:
        open_historian(str(missing), create=False)
    assert str(err.value) == (
        f"no database at {missing}; run andon demo or andon serve first, or check --db"
    )
    assert not missing.exists()
    with open_historian(str(missing)):  # a writer creates it
        pass
    with open_historian(f"sqlite:///{missing}", create=False) as h:
        assert h.tags() == []


@pytest.mark.postgres
def test_reader_on_postgresql_migrates(pg_schema_url: str) -> None:
    with open_historian(pg_schema_url, create=False) as h:  # the server database exists
        assert h.tags() == []


@pytest.mark.postgres
def test_subtree_queries_hold_under_a_non_bytewise_locale(pg_url: str) -> None:
    """A database whose default collation ignores punctuation must not break prefix ranges."""
    import uuid

    from andon.core import Event

    name = f"andon_locale_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f"CREATE DATABASE {name} LOCALE_PROVIDER icu "
                "ICU_LOCALE 'en-US-u-ka-shifted' TEMPLATE template0"
            )
    except sa.exc.DBAPIError as exc:
        admin.dispose()
        pytest.skip(f"cannot create an ICU database here: {exc}")
    try:
        url = sa.engine.make_url(pg_url).set(database=name).render_as_string(False)
        t0 = 1_767_225_600 * 1_000_000_000
        with open_historian(url) as h:
            h.write_events(
                [
                    Event(t0, "acme/plant/line-1/press", "truth.failure", {}),
                    Event(t0 + 1, "acme/plant/line-10/robot", "state", {}),
                ]
            )
            assert [e.asset for e in h.events("acme/plant/line-1")] == ["acme/plant/line-1/press"]
            assert [e.kind for e in h.events(kind="truth")] == ["truth.failure"]
            assert [e.kind for e in h.events("acme/plant/#", kind="truth")] == ["truth.failure"]
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
