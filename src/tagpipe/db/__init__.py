"""SQLAlchemy base, engine and Alembic migrations. Central infrastructure: features import it, it imports no feature."""

from tagpipe.db.base import MAX_ID, Base, fits, utcnow
from tagpipe.db.engine import database_away, make_engine, session_factory
from tagpipe.db.migrate import upgrade

__all__ = ["MAX_ID", "Base", "database_away", "fits", "make_engine", "session_factory", "upgrade", "utcnow"]
