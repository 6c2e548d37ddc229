"""The bus side of tagpipe's gatekeeping, on a connection in nats-server's system account: answering the auth
callout, listing and disconnecting clients, and reading refused publishes and subscriptions from the server's log.

What to decide is not here (``fleet.gate`` asks the database); this module speaks nats-server's protocols:

- ``$SYS.REQ.USER.AUTH``: nats-server asks about every connection that is not a central principal with a JWT signed
  by itself (client info, user and password); the answer is a JWT signed by the issuer account key, carrying either a
  user JWT (the connection's name and permissions, placed in the ``TAGPIPE`` account) or an error.
- ``$SYS.REQ.SERVER.PING.CONNZ`` lists the connections of every server; ``$SYS.REQ.SERVER.{id}.KICK`` closes one.
- A refused publish or subscription is not an event in nats-server, only a log line (``Publish Violation``); the
  embedded server's log is read from where the last read ended.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from tagpipe.bus.nkeys import SERVER, KeyPair, decode_jwt, encode_jwt
from tagpipe.bus.security import APP_ACCOUNT

CALLOUT = "$SYS.REQ.USER.AUTH"
QUEUE = "tagpipe-gate"


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """What nats-server tells about a connection that wants in."""

    server_id: str
    user_nkey: str
    user: str
    password: str
    client_id: int
    address: str
    transport: str  # nats | mqtt | websocket ...
    mqtt_id: str


def parse_request(data: bytes) -> AuthRequest:
    """The callout request (a JWT signed by the server, checked); ValueError, naming what is wrong, when it is not one
    (any shape at all: whatever the bus carries is checked like any other input)."""
    try:
        token = data.decode()
    except UnicodeDecodeError:
        raise ValueError("not a valid NATS JWT: not UTF-8") from None
    claims = decode_jwt(token, SERVER)
    try:
        n = claims.get("nats", {})
        info, opts = n.get("client_info", {}), n.get("connect_opts", {})
        return AuthRequest(server_id=str(n["server_id"]["id"]), user_nkey=str(n["user_nkey"]),
                           user=str(opts.get("user") or ""), password=str(opts.get("pass") or ""),
                           client_id=int(info.get("id") or 0), address=str(info.get("host") or ""),
                           transport=str(info.get("type") or "nats"), mqtt_id=str(info.get("mqtt_id") or ""))
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"not an auth callout request: {e!r}") from None


def allow(issuer: KeyPair, req: AuthRequest, *, name: str, permissions: dict[str, Any],
          connection_types: list[str]) -> bytes:
    """The callout's answer letting ``req`` in as ``name`` with ``permissions`` (user-JWT shape)."""
    user = {"sub": req.user_nkey, "aud": APP_ACCOUNT, "name": name,
            "nats": {**permissions, "allowed_connection_types": connection_types, "subs": -1, "data": -1,
                     "payload": -1, "type": "user", "version": 2}}
    return _answer(issuer, req, {"jwt": encode_jwt(issuer, user)})


def deny(issuer: KeyPair, req: AuthRequest, reason: str) -> bytes:
    return _answer(issuer, req, {"error": reason})


def _answer(issuer: KeyPair, req: AuthRequest, body: dict[str, Any]) -> bytes:
    claims = {"sub": req.user_nkey, "aud": req.server_id,
              "nats": {**body, "type": "authorization_response", "version": 2}}
    return encode_jwt(issuer, claims).encode()


@dataclass(frozen=True, slots=True)
class Connection:
    server_id: str
    cid: int
    user: str  # the name the callout gave it (or the configured user)
    kind: str  # Client / MQTT ...


async def connections(nc: Client, account: str = APP_ACCOUNT, timeout: float = 1.0) -> list[Connection]:
    """Every client connection of ``account`` on every server that answers within ``timeout``."""
    inbox = nc.new_inbox()
    answers: list[dict[str, Any]] = []
    got = asyncio.Event()

    async def on_msg(msg: Any) -> None:
        answers.append(json.loads(msg.data))
        got.set()

    sub = await nc.subscribe(inbox, cb=on_msg)
    try:
        request = {"acc": account, "auth": True, "limit": 1_000_000, "state": 0}
        await nc.publish("$SYS.REQ.SERVER.PING.CONNZ", json.dumps(request).encode(), reply=inbox)
        try:
            async with asyncio.timeout(timeout):
                await got.wait()
            await asyncio.sleep(0.05)  # the other servers of a cluster answer about as fast
        except TimeoutError:
            pass
    finally:
        await sub.unsubscribe()
    out = []
    for a in answers:
        server = a.get("server", {}).get("id", "")
        for c in (a.get("data") or {}).get("connections") or []:
            out.append(Connection(server_id=server, cid=int(c.get("cid", 0)), user=str(c.get("authorized_user", "")),
                                  kind=str(c.get("kind", ""))))
    return out


async def kick(nc: Client, server_id: str, cid: int) -> None:
    """Close client ``cid`` on server ``server_id`` (it may reconnect, and is asked about again)."""
    await nc.request(f"$SYS.REQ.SERVER.{server_id}.KICK", json.dumps({"cid": cid}).encode(), timeout=2.0)


@dataclass(frozen=True, slots=True)
class Violation:
    """A publish or subscription nats-server refused, from its log."""

    cid: int
    mqtt: bool
    user: str  # the connection's name, when the log line carries it (NATS clients)
    kind: str  # publish | subscribe
    subject: str
    address: str


_VIOLATION = re.compile(r'\[ERR\] (?P<addr>\S+) - (?P<t>cid|mid):(?P<cid>\d+) - (?P<rest>.*?)'
                        r'(?P<kind>Publish|Subscription) Violation - Subject "(?P<subject>[^"]*)"')
_USER = re.compile(r'"[^"/]*/user:(?P<user>[^"]+)"')


def violations(lines: list[str]) -> Iterator[Violation]:
    """The refused publishes and subscriptions among nats-server log lines (pure)."""
    for line in lines:
        m = _VIOLATION.search(line)
        if m is None:
            continue
        user = _USER.search(m.group("rest"))
        yield Violation(cid=int(m.group("cid")), mqtt=m.group("t") == "mid", user=user.group("user") if user else "",
                        kind="publish" if m.group("kind") == "Publish" else "subscribe", subject=m.group("subject"),
                        address=m.group("addr").rsplit(":", 1)[0])


class LogTail:
    """New lines of a log file since the last read (from its end at the start; from the top after a truncation)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.partial = ""

    def read(self, most: int = 1 << 20) -> list[str]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self.offset:
            self.offset, self.partial = 0, ""
        if size == self.offset:
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read(most)
        self.offset += len(chunk)
        text = self.partial + chunk.decode(errors="replace")
        lines = text.split("\n")
        self.partial = lines.pop()
        return lines
