"""Alembic environment: runs on the connection handed over by ``Database.migrate``."""

from alembic import context

from decorum.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - alembic CLI use needs a URL
    from sqlalchemy import create_engine

    from decorum.settings import Settings

    connection = create_engine(Settings().resolved_database_url).connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
