"""Alembic migrations of the historian schema, run by ``open_historian`` (no alembic.ini needed)."""
