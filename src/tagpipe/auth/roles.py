"""The built-in roles and the rule that gives each of them the permissions the features declare (pure).

A permission is named ``area.verb``; its verb alone decides the lowest role that holds it, and every role holds
what the roles below it hold, so a feature added later falls into the roles without a change here:

    verb                                   lowest role
    read, self                             viewer     (see; one's own account and tokens)
    write, command, acknowledge, shelve    operator   (run the plant: write tags, send commands, handle alarms)
    configure, edit                        engineer   (change configuration, scripts, calc, alarms, automation)
    anything else (manage, review, ...)    admin      (users, tokens of others, the audit log)

An unknown verb belongs to admin only: a new kind of permission is closed until someone decides otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

ROLES: tuple[str, ...] = ("viewer", "operator", "engineer", "admin")  # lowest first
VERBS: Mapping[str, str] = {
    "read": "viewer", "self": "viewer",
    "write": "operator", "command": "operator", "acknowledge": "operator", "shelve": "operator",
    "configure": "engineer", "edit": "engineer",
}

PUBLIC = "public"  # anybody, no credentials (log in, health)
EDGE = "edge"  # an edge agent, with its own credential only (the route's {edge_id})
SPECIAL = frozenset({PUBLIC, EDGE})


def rank(role: str) -> int:
    """0 for viewer up to 3 for admin; ValueError for a name that is no role."""
    try:
        return ROLES.index(role)
    except ValueError:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}") from None


def lowest_role(permission: str) -> str:
    return VERBS.get(permission.rpartition(".")[2], "admin")


def role_permissions(permissions: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each role's permissions out of every declared one."""
    declared = set(permissions)
    return {role: frozenset(p for p in declared if rank(lowest_role(p)) <= rank(role)) for role in ROLES}
