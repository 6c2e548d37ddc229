"""The ``features`` import-linter contract, read from the FEATURES table (loaded only by ``lint-imports``).

For every feature ``tagpipe.F`` in the table:

- outside ``tagpipe.F`` nobody imports its modules, only the package itself (its public functions), except the
  composition roots listed in the contract;
- a feature imports another feature's package only when that feature comes before it in the table, so feature
  dependencies stay acyclic and point one way;
- infrastructure (every other module of tagpipe) imports no feature at all.

A package listed under ``infrastructure`` may sit in the table (to declare its tables, routes, pages and CLI the way
a feature does) and still be infrastructure: anybody may import its modules, and it imports no feature.
"""

from __future__ import annotations

from typing import Any

import grimp
from importlinter import Contract, ContractCheck, fields, output


class FeaturesContract(Contract):
    type_name = "features"

    roots = fields.ListField(subfield=fields.StringField())
    infrastructure = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        from tagpipe.features import FEATURES

        infrastructure = set(self.infrastructure or [])  # type: ignore[arg-type]
        order = [f"tagpipe.{f.name}" for f in FEATURES if f"tagpipe.{f.name}" not in infrastructure]
        roots = set(self.roots)  # type: ignore[arg-type]
        broken: list[dict[str, Any]] = []

        def feature_of(module: str) -> str | None:
            return next((p for p in order if module == p or module.startswith(p + ".")), None)

        for importer in sorted(graph.modules):
            if not importer.startswith("tagpipe.") or importer in roots or importer == "tagpipe.architecture":
                continue
            own = feature_of(importer)
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                other = feature_of(imported)
                if other is None or other == own:
                    continue
                if own is None:
                    why = "infrastructure imports no feature"
                elif imported != other:
                    why = f"only the package {other} (its public functions) may be imported, not its modules"
                elif order.index(other) > order.index(own):
                    why = f"{other} comes after {own} in FEATURES: use a port or the bus"
                else:
                    continue
                lines = [d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)]
                broken.append({"importer": importer, "imported": imported, "lines": lines, "why": why})
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for b in check.metadata["broken"]:
            output.print_error(f"- {b['importer']} -> {b['imported']} (l.{', '.join(map(str, b['lines']))}): "
                               f"{b['why']}", bold=False)
