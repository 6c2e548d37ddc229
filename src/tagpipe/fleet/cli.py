"""``tagpipe fleet ...``: provisioning keys and edge admission against the configured database, whether or not a
server runs. A credential revoked or rotated here is off the bus within the web server's sweep (2 s)."""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tagpipe.auth import audit, provisioning
from tagpipe.auth.cli import open_session, parse_expiry
from tagpipe.fleet import admission, service

app = typer.Typer(add_completion=False)
fleet_app = typer.Typer(help="Edges and collectors: provisioning keys, approve, add, rotate, revoke.",
                        no_args_is_help=True)
key_app = typer.Typer(help="Provisioning keys an edge is started with (tagpipe edge --provisioning-key).",
                      no_args_is_help=True)
app.add_typer(fleet_app, name="fleet")
fleet_app.add_typer(key_app, name="key")
console = Console()
DataDir = Annotated[Path | None, typer.Option(help="Data directory (SQLite). Env: TAGPIPE_DATA_DIR.")]


def _who() -> str:
    return f"cli ({getpass.getuser()})"


def _print_credentials(issued: admission.Issued) -> None:
    console.print(f"edge [bold]{issued.edge_id}[/]: NATS/MQTT user [bold]{issued.edge_id}[/], password and HTTP "
                  "token (shown once):", highlight=False)
    console.print(issued.token, soft_wrap=True, highlight=False)


@key_app.command("create")
def key_create(name: Annotated[str, typer.Option(help="What the key is for, e.g. 'line 3 gateways'.")],
               expires: Annotated[str, typer.Option(help="30d, 12h or an ISO date.")] = "7d",
               uses: Annotated[int, typer.Option(help="How many edges may ask with it.")] = 1,
               auto_approve: Annotated[bool, typer.Option(help="Approve the edges that ask with it at once.")] = False,
               data_dir: DataDir = None) -> None:
    """Create a provisioning key and print it, once."""
    when = parse_expiry(expires) or dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
    with open_session(data_dir) as s:
        key, secret = provisioning.create_key(s, name=name, expires_at=when, max_uses=uses,
                                              auto_approve=auto_approve, created_by=_who())
        s.commit()
        audit.record(s, principal=_who(), action="create provisioning key", target=f"provisioning-keys/{key.id}",
                     detail={"name": name, "max_uses": uses, "auto_approve": auto_approve,
                             "expires_at": key.expires_at.isoformat()})
    console.print(secret, soft_wrap=True, highlight=False)


@key_app.command("list")
def key_list(data_dir: DataDir = None) -> None:
    """Every provisioning key (never the key itself) with its uses and state."""
    table = Table("id", "name", "prefix", "expires", "uses", "auto-approve", "state")
    with open_session(data_dir) as s:
        for k in provisioning.list_keys(s):
            table.add_row(str(k.id), k.name, k.prefix, k.expires_at.isoformat(timespec="seconds"),
                          f"{k.uses}/{k.max_uses}", "yes" if k.auto_approve else "", provisioning.state(k))
    console.print(table)


@key_app.command("revoke")
def key_revoke(key_id: int, data_dir: DataDir = None) -> None:
    """Revoke a provisioning key: edges can no longer ask with it."""
    with open_session(data_dir) as s:
        provisioning.revoke_key(s, key_id)
        s.commit()
        audit.record(s, principal=_who(), action="revoke provisioning key", target=f"provisioning-keys/{key_id}")
    console.print(f"provisioning key {key_id} revoked")


@fleet_app.command("list")
def edge_list(data_dir: DataDir = None) -> None:
    """Every edge with its admission (pending, approved, revoked) and status."""
    table = Table("edge", "kind", "admission", "status", "asked from", "approved by")
    with open_session(data_dir) as s:
        for e in service.list_edges(s):
            table.add_row(e.id, e.kind or "agent", e.admission or "-", e.status, e.request_address or "",
                          e.approved_by or "")
    console.print(table)


@fleet_app.command("approve")
def edge_approve(edge_id: str, data_dir: DataDir = None) -> None:
    """Approve a pending edge: it collects its credentials within seconds."""
    with open_session(data_dir) as s:
        admission.approve(s, edge_id, by=_who())
        audit.record(s, principal=_who(), action="approve edge", target=f"edges/{edge_id}")
    console.print(f"edge {edge_id} approved")


@fleet_app.command("add")
def edge_add(edge_id: str, collector: Annotated[bool, typer.Option(help="A third-party MQTT publisher.")] = False,
             name: str = "", data_dir: DataDir = None) -> None:
    """Add an approved edge (or collector) and print its credentials, once."""
    with open_session(data_dir) as s:
        issued = admission.add(s, edge_id, kind="collector" if collector else "agent", name=name, by=_who())
        audit.record(s, principal=_who(), action="add edge", target=f"edges/{edge_id}",
                     detail={"kind": "collector" if collector else "agent"})
    _print_credentials(issued)


@fleet_app.command("rotate")
def edge_rotate(edge_id: str, data_dir: DataDir = None) -> None:
    """Rotate an edge's credentials (an agent collects the new ones itself; printed once for a collector)."""
    with open_session(data_dir) as s:
        issued = admission.rotate(s, edge_id, by=_who())
        audit.record(s, principal=_who(), action="rotate edge credentials", target=f"edges/{edge_id}")
    _print_credentials(issued)


@fleet_app.command("revoke")
def edge_revoke(edge_id: str, data_dir: DataDir = None) -> None:
    """Revoke an edge (or refuse a pending one): off the bus within seconds."""
    with open_session(data_dir) as s:
        admission.revoke(s, edge_id, by=_who())
        audit.record(s, principal=_who(), action="revoke edge", target=f"edges/{edge_id}")
    console.print(f"edge {edge_id} revoked")


@fleet_app.command("bus-config")
def bus_config(data_dir: DataDir = None) -> None:
    """Print the accounts, central users and auth callout an external NATS cluster needs for tagpipe (from
    bus-secrets.json, created if missing); add it to every node's configuration once."""
    from tagpipe.bus.security import load_or_create, nats_config
    from tagpipe.contracts import Subjects
    from tagpipe.settings import Settings

    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    print(nats_config(load_or_create(settings.bus_secrets_file), Subjects(settings.prefix)))
