"""Alembic environment: runs on the connection ``open_historian`` hands over.

The historian opens its own engine (pragmas, timeouts, error translation) and passes the
connection in ``config.attributes["connection"]``; this file never builds an engine itself.
"""

from __future__ import annotations

from alembic import context

from andon.historian.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the historian migrations run only through andon.historian.open_historian")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
