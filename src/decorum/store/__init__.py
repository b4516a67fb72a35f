"""The database: one SQLAlchemy engine per URL, schema owned by Alembic migrations.

Example::

    db = Database.open("sqlite:////tmp/decorum.db")   # migrates to head
    with db.session() as s:
        ...
"""

from decorum.store.db import Database

__all__ = ["Database"]
