"""Scripts: user hook scripts (storage, versions, rollback, diff, dry run) and each edge's ``scripts[]``.

Imports infrastructure (db, web, contracts, sandbox) and plant's public functions; other features call only
what is exported here.
"""

from tagpipe.scripts.dryrun import dry_run_pool
from tagpipe.scripts.service import scripts_for_edge, set_edge_stats_provider
from tagpipe.scripts.testinput import set_latest_values_provider

__all__ = ["dry_run_pool", "scripts_for_edge", "set_edge_stats_provider", "set_latest_values_provider"]
