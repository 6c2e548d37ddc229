"""The FEATURES table: every feature of the central side, lowest first. A feature may import the package (the
public functions) of a feature before it, never one after it and never another feature's modules; the
``features`` import-linter contract checks both. Adding a feature is its folder plus one line here.

``auth`` comes first: it is infrastructure (the contract lists it so, and it imports no feature) that declares its
tables, routes, pages and CLI the way a feature does."""

from __future__ import annotations

from tagpipe import auth, fleet, history, plant, scripts
from tagpipe.feature import Feature

FEATURES: tuple[Feature, ...] = (
    auth.FEATURE,
    plant.FEATURE,
    history.FEATURE,
    fleet.FEATURE,
    scripts.FEATURE,
)
