"""Every feature's tables in one metadata, for Alembic: loops over the FEATURES table."""

import importlib

from tagpipe.db import dead_letters as _dead_letters  # noqa: F401
from tagpipe.db.base import Base
from tagpipe.features import FEATURES

for _feature in FEATURES:
    for _module in _feature.models:
        importlib.import_module(_module)

metadata = Base.metadata
