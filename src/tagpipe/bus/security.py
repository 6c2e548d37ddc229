"""Who may do what on the bus: the central principals and their passwords, each principal's subjects, and the
nats-server configuration that enforces them.

Three accounts. ``TAGPIPE`` holds the streams and everybody who moves data: the web server (``tagpipe-server``),
the workers (``tagpipe-worker``) and every edge, NATS or MQTT alike. ``SYS`` is nats-server's system account, where
``tagpipe-gate`` (in the web server) answers the auth callout and disconnects revoked edges. Central principals are
configured users that bypass the callout; every other connection, edges and anonymous clients included, is decided
by the callout, which places an edge in ``TAGPIPE`` with the permissions of ``edge_permissions`` or refuses it.

    principal        publish                                             subscribe
    tagpipe-server   {p}.devices.> (commands, config-changed, dead        {p}.devices.*.responses, {p}.events.>,
                     letters sent again), {p}.events.>, read-only JS API  {p}.system.>, _INBOX.>
    tagpipe-worker   JS API (creates the streams, consumers, the lease    _INBOX.>, {p}.events.>
                     bucket) but no delete/purge, acks, $KV.leases,
                     {p}.events.>, {p}.system.>
    edge E           {p}.devices.E.> but not .commands/.config-changed    {p}.devices.E.commands,
                                                                         {p}.devices.E.config-changed,
                                                                         _INBOX.edges.E.> (JetStream acks)
    anonymous        refused

Nobody may delete or purge a stream or a message; only the worker creates and updates them.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagpipe.contracts.subjects import Subjects
from tagpipe.trust import tls_context

if TYPE_CHECKING:
    from tagpipe.bus.nkeys import KeyPair
    from tagpipe.settings import Settings

log = logging.getLogger(__name__)
SERVER, WORKER, GATE = "tagpipe-server", "tagpipe-worker", "tagpipe-gate"
CENTRAL = (SERVER, WORKER, GATE)
APP_ACCOUNT, SYSTEM_ACCOUNT = "TAGPIPE", "SYS"
LEASES = "tagpipe_leases"  # bus.election's key-value bucket
DESTRUCTIVE = ["$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>", "$JS.API.STREAM.MSG.DELETE.>"]
JS_READ = ["$JS.API.INFO", "$JS.API.STREAM.INFO.*", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST",
           "$JS.API.STREAM.MSG.GET.*", "$JS.API.DIRECT.GET.>", "$JS.API.CONSUMER.INFO.*.*",
           "$JS.API.CONSUMER.NAMES.*", "$JS.API.CONSUMER.LIST.*"]
FILE = "bus-secrets.json"


@dataclass(frozen=True, slots=True)
class BusSecrets:
    """The central principals' passwords and the account key that signs the callout's answers."""

    issuer_seed: str
    passwords: dict[str, str]

    @property
    def issuer(self) -> KeyPair:
        from tagpipe.bus.nkeys import KeyPair  # cryptography's OpenSSL (~12 MB): the worker only logs in

        return KeyPair.from_seed(self.issuer_seed)

    def login(self, principal: str) -> dict[str, str]:
        """``user`` and ``password`` for ``nats.connect``."""
        return {"user": principal, "password": self.passwords[principal]}


def load_or_create(path: Path) -> BusSecrets:
    """The secrets in ``path``, created (mode 0600, never overwritten) when there are none."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load(path)
    from tagpipe.bus.nkeys import ACCOUNT, KeyPair

    made = BusSecrets(issuer_seed=KeyPair.create(ACCOUNT).seed,
                      passwords={p: secrets.token_urlsafe(32) for p in CENTRAL})
    with os.fdopen(fd, "w") as f:
        json.dump({"issuer_seed": made.issuer_seed, "passwords": made.passwords}, f, indent=1)
    return made


def load(path: Path) -> BusSecrets:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s can be read by other users (mode %o); chmod 600 it", path, mode & 0o777)
    data = json.loads(path.read_text())
    return BusSecrets(issuer_seed=data["issuer_seed"], passwords=dict(data["passwords"]))


def edge_permissions(subjects: Subjects, edge_id: str) -> dict[str, Any]:
    """An edge's permissions in the user-JWT shape the callout answers with (pub/sub allow and deny)."""
    own = subjects.device(edge_id, ">")
    commands, changed = subjects.device(edge_id, "commands"), subjects.device(edge_id, "config-changed")
    return {"pub": {"allow": [own], "deny": [commands, changed]},
            "sub": {"allow": [commands, changed, f"{subjects.edge_inbox(edge_id)}.>"]}}


def server_permissions(subjects: Subjects) -> dict[str, Any]:
    p = subjects.prefix
    return {"publish": {"allow": [f"{p}.devices.>", f"{p}.events.>", *JS_READ], "deny": DESTRUCTIVE},
            "subscribe": {"allow": [subjects.all("responses"), f"{p}.events.>", f"{p}.system.>", "_INBOX.>"]}}


def worker_permissions(subjects: Subjects) -> dict[str, Any]:
    p = subjects.prefix
    return {"publish": {"allow": ["$JS.API.>", "$JS.ACK.>", f"$KV.{LEASES}.>", f"{p}.events.>", f"{p}.system.>"],
                        "deny": DESTRUCTIVE},
            "subscribe": {"allow": ["_INBOX.>", f"{p}.events.>"]}}


def nats_config(secrets_: BusSecrets, subjects: Subjects) -> str:
    """The accounts, users and auth callout of a nats-server configuration (the embedded server's, or what an
    external cluster adds to its own: ``tagpipe fleet bus-config``)."""

    def user(name: str, permissions: dict[str, Any] | None = None) -> dict[str, Any]:
        u: dict[str, Any] = {"user": name, "password": secrets_.passwords[name],
                             "allowed_connection_types": ["STANDARD"]}
        return {**u, "permissions": permissions} if permissions else u

    accounts = {
        APP_ACCOUNT: {"jetstream": "enabled", "users": [user(SERVER, server_permissions(subjects)),
                                                        user(WORKER, worker_permissions(subjects))]},
        SYSTEM_ACCOUNT: {"users": [user(GATE)]},
    }
    callout = {"issuer": secrets_.issuer.public_key, "account": SYSTEM_ACCOUNT, "auth_users": list(CENTRAL)}
    return "\n".join([f"accounts: {json.dumps(accounts, indent=1)}",
                      f"system_account: {SYSTEM_ACCOUNT}",
                      f"authorization: {json.dumps({'auth_callout': callout}, indent=1)}", ""])


def central_login(settings: Settings, principal: str) -> dict[str, Any]:
    """``nats.connect`` options of a central process: its user and password from the bus secrets (none when the
    file does not exist: an external bus without tagpipe's accounts), and TLS when a certificate is configured."""
    options: dict[str, Any] = {}
    path = settings.bus_secrets_file
    if path.exists():
        options.update(load(path).login(principal))
    if settings.tls_cert:
        options["tls"] = tls_context(settings.tls_cert)
    return options
