"""The migrations create exactly the tables the historian, identity and audit rooms describe."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from andon.audit import metadata as audit_metadata
from andon.historian.engine import open_engine
from andon.historian.schema import metadata as historian_metadata
from andon.identity import metadata as identity_metadata


def combined() -> sa.MetaData:
    """Every table andon's migrations create, gathered from the rooms that own them."""
    everything = sa.MetaData()
    for part in (historian_metadata, identity_metadata, audit_metadata):
        for table in part.tables.values():
            table.to_metadata(everything)
    return everything


def test_migrations_match_the_rooms_tables(db_url: str) -> None:
    engine, _ = open_engine(db_url)
    engine.dispose()
    engine, _ = open_engine(db_url)  # reopening at head changes nothing
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), combined())
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    engine.dispose()
    assert diff == []
    assert version == "0004"
