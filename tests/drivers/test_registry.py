"""Every driver in DRIVERS has a simulator beside it, a documented settings model, a docstring and a docs entry."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tagpipe.drivers import ALIASES, DRIVERS
from tagpipe.drivers.docs import markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocols.md"
SELF_SIMULATED = {"simulator"}  # generates its values itself: it is its own simulator


@pytest.mark.parametrize("protocol", sorted(DRIVERS))
def test_every_driver_is_complete(protocol: str) -> None:
    cls = DRIVERS[protocol]
    assert cls.__module__ == f"tagpipe.drivers.{protocol}", "module name, table key and protocol are the same word"
    assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring"
    if protocol not in SELF_SIMULATED:
        assert importlib.util.find_spec(f"tagpipe.drivers.sims.{protocol}") is not None, \
            f"no simulator tagpipe.drivers.sims.{protocol}"
    fields = cls.settings_model.model_fields
    undocumented = [name for name, info in fields.items() if not (info.description or "").strip()]
    assert not undocumented, f"{protocol} settings without a description: {undocumented}"
    for method in ("validate_tag", "connect", "read", "write", "close"):
        assert callable(getattr(cls, method, None)), f"{protocol} lacks {method}"
    config = cls.settings_model.model_config
    assert config.get("extra") == "forbid", f"{protocol} settings drop unknown keys instead of refusing them"
    assert config.get("allow_inf_nan") is False, f"{protocol} settings accept NaN or infinity"


def test_aliases_point_at_drivers() -> None:
    assert ALIASES and all(target in DRIVERS for target in ALIASES.values())


def test_docs_describe_every_protocol_and_are_up_to_date() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for protocol in [*DRIVERS, *ALIASES]:
        assert f"`{protocol}`" in text, f"docs/protocols.md does not mention {protocol}"
    assert markdown() in text, "docs/protocols.md is stale: regenerate with python -m tagpipe.drivers.docs"
