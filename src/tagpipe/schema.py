"""Every feature's tables in one metadata, for Alembic: a composition root like server.py."""

from tagpipe.db import dead_letters as _dead_letters  # noqa: F401
from tagpipe.db.base import Base
from tagpipe.fleet import models as _fleet  # noqa: F401
from tagpipe.history import models as _history  # noqa: F401
from tagpipe.plant import models as _plant  # noqa: F401
from tagpipe.scripts import models as _scripts  # noqa: F401

metadata = Base.metadata
