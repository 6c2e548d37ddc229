"""Roles get the features' permissions by the verb convention, so a new feature's permissions fall into place."""

from __future__ import annotations

import pytest

from tagpipe.auth.login import LIMIT, WINDOW_MS, retry_after_ms
from tagpipe.auth.policy import build_policy
from tagpipe.auth.roles import lowest_role, role_permissions
from tagpipe.feature import Feature
from tagpipe.features import FEATURES


@pytest.mark.parametrize(("permission", "role"), [
    ("plant.read", "viewer"), ("account.self", "viewer"), ("tags.write", "operator"), ("fleet.command", "operator"),
    ("alarms.acknowledge", "operator"), ("alarms.shelve", "operator"), ("plant.configure", "engineer"),
    ("scripts.edit", "engineer"), ("users.manage", "admin"), ("audit.review", "admin"), ("calc.frobnicate", "admin"),
])
def test_the_verb_decides_the_lowest_role(permission: str, role: str) -> None:
    assert lowest_role(permission) == role


def test_each_role_holds_what_the_roles_below_hold() -> None:
    roles = build_policy(FEATURES).roles
    assert roles["viewer"] < roles["operator"] < roles["engineer"] < roles["admin"]
    assert {"plant.read", "history.read", "fleet.read", "scripts.read"} <= roles["viewer"]
    assert not {"tags.write", "plant.configure", "users.manage"} & roles["viewer"]
    assert {"tags.write", "fleet.command"} <= roles["operator"] and "plant.configure" not in roles["operator"]
    assert {"plant.configure", "scripts.edit"} <= roles["engineer"] and "users.manage" not in roles["engineer"]
    assert {"users.manage", "audit.review"} <= roles["admin"]


def test_a_later_feature_falls_into_the_roles_without_a_change_in_auth() -> None:
    alarms = Feature(name="alarms", permissions={"alarms.read": "", "alarms.acknowledge": "", "alarms.configure": ""})
    roles = role_permissions(p for f in (*FEATURES, alarms) for p in f.permissions)
    assert "alarms.read" in roles["viewer"]
    assert "alarms.acknowledge" in roles["operator"] and "alarms.acknowledge" not in roles["viewer"]
    assert "alarms.configure" in roles["engineer"] and "alarms.configure" not in roles["operator"]


def test_a_route_naming_an_undeclared_permission_is_refused_at_start() -> None:
    typo = Feature(name="typo", access={"GET /api/typo": "plant.raed"})
    with pytest.raises(ValueError, match=r"plant\.raed"):
        build_policy((*FEATURES, typo))


@pytest.mark.parametrize(("failures", "expected"), [
    ([], 0),
    ([1000, 2000, 3000, 4000], 0),  # four: the fifth try is still allowed
    ([1000, 2000, 3000, 4000, 5000], 1000 + WINDOW_MS - 10_000),  # the oldest of the five leaves first
    ([-70_000, 1000, 2000, 3000, 4000], 0),  # one is out of the window already
    ([1000, 2000, 3000, 4000, 5000, 6000], 2000 + WINDOW_MS - 10_000),
])
def test_retry_after_is_when_fewer_than_the_limit_remain_in_the_window(failures: list[int], expected: int) -> None:
    assert LIMIT == 5
    assert retry_after_ms(failures, 10_000) == expected
