"""An edge's credential: one secret that is its HTTP bearer token and its NATS and MQTT password (user: its id).

Stored like an API token (``auth_tokens`` kind ``edge``, SHA-256). Issued when an admin adds or approves the edge;
for an agent that picks it up itself it waits sealed (``auth.secrets``) until the agent collects it, then only its
hash is left. A rotation issues a new one and revokes the old, which may then be used for one thing only: to collect
its successor. A revocation leaves nothing that works.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tagpipe.auth.credentials import digest, new_secret, same
from tagpipe.auth.models import ApiToken
from tagpipe.auth.secrets import box_of
from tagpipe.db.base import utcnow

EDGE_PREFIX = "tpe_"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a log in as ``edge_id`` with a secret is good; the token's id, or why not (said to the Fleet page)."""

    ok: bool
    token_id: int | None = None
    reason: str = ""


def issue(session: Session, edge_id: str, *, created_by: str, sealed: bool = False) -> tuple[ApiToken, str]:
    """A new credential for ``edge_id`` (the ones it had stay as they are); kept sealed for pickup when ``sealed``."""
    secret = new_secret(EDGE_PREFIX)
    token = ApiToken(kind="edge", edge_id=edge_id, name=f"edge {edge_id}", role="edge", secret_hash=digest(secret),
                     prefix=secret[:8], created_by=created_by,
                     sealed=box_of(session).seal(secret) if sealed else None)
    session.add(token)
    session.flush()
    return token, secret


def _live(edge_id: str):  # type: ignore[no-untyped-def]
    return select(ApiToken).where(ApiToken.kind == "edge", ApiToken.edge_id == edge_id, ApiToken.revoked_at.is_(None))


def revoke(session: Session, edge_id: str, *, replaced_by: int | None = None) -> int:
    """Revoke every credential of ``edge_id``; how many there were."""
    now = utcnow()
    tokens = list(session.scalars(_live(edge_id)))
    for token in tokens:
        if token.id != replaced_by:
            token.revoked_at, token.replaced_by, token.sealed = now, replaced_by, None
    return len([t for t in tokens if t.id != replaced_by])


def rotate(session: Session, edge_id: str, *, created_by: str) -> tuple[ApiToken, str]:
    """A new credential (sealed for the agent to collect with the old one) replacing every live one."""
    token, secret = issue(session, edge_id, created_by=created_by, sealed=True)
    revoke(session, edge_id, replaced_by=token.id)
    return token, secret


def check(session: Session, edge_id: str, secret: str) -> Verdict:
    """A log in as ``edge_id`` with ``secret`` (the callout and the HTTP edge token alike)."""
    token = session.scalar(select(ApiToken).where(ApiToken.secret_hash == digest(secret)))
    if token is None or token.kind != "edge":
        return Verdict(False, reason="unknown credentials")
    if token.edge_id != edge_id:
        return Verdict(False, token.id, f"the credentials of edge {token.edge_id} used as {edge_id}")
    if token.revoked_at is not None:
        why = "rotated: the edge must collect its new credentials" if token.replaced_by else "revoked"
        return Verdict(False, token.id, f"credentials {why}")
    if token.expires_at is not None and token.expires_at <= utcnow():
        return Verdict(False, token.id, "credentials expired")
    return Verdict(True, token.id)


def successor(session: Session, edge_id: str, secret: str) -> ApiToken | None:
    """The credential that replaced the one ``secret`` is, when a rotation did and it was not collected yet."""
    old = session.scalar(select(ApiToken).where(ApiToken.secret_hash == digest(secret)))
    if old is None or old.kind != "edge" or old.edge_id != edge_id or old.replaced_by is None:
        return None
    new = session.get(ApiToken, old.replaced_by)
    return new if new is not None and new.revoked_at is None and new.sealed else None


def collect(session: Session, token: ApiToken) -> str:
    """Unseal a credential waiting for its edge; it is never handed out again."""
    secret = box_of(session).unseal(token.sealed or "")
    if not same(digest(secret), token.secret_hash):
        raise ValueError("a sealed edge credential does not match its hash")
    token.sealed = None
    return secret


def waiting(session: Session, edge_id: str) -> ApiToken | None:
    """The newest live credential of ``edge_id`` still waiting sealed for its edge."""
    return session.scalar(_live(edge_id).where(ApiToken.sealed.is_not(None)).order_by(ApiToken.id.desc()))


def live(session: Session, edge_id: str) -> list[ApiToken]:
    return list(session.scalars(_live(edge_id).order_by(ApiToken.id)))


def still_valid(session: Session, token_ids: set[int]) -> set[int]:
    """Which of ``token_ids`` are live edge credentials now (the gate disconnects the others)."""
    if not token_ids:
        return set()
    now = utcnow()
    rows = session.scalars(select(ApiToken.id).where(ApiToken.id.in_(token_ids), ApiToken.kind == "edge",
                                                     ApiToken.revoked_at.is_(None)).where(
        (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now)))
    return set(rows)


def revocations(session: Session) -> tuple[object, ...]:
    """A mark that changes whenever an edge credential stops being valid (revoked, rotated, expired): the gate lists
    the bus's connections only when it changed, not every round."""
    count, last = session.execute(select(func.count(), func.max(ApiToken.revoked_at)).where(
        ApiToken.kind == "edge", ApiToken.revoked_at.is_not(None))).one()
    expired = session.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.kind == "edge", ApiToken.revoked_at.is_(None), ApiToken.expires_at <= utcnow()))
    return count, last, expired


def forget_sealed(session: Session, before: dt.datetime) -> None:
    """Drop sealed copies older than ``before`` that nobody collected (the credential stays valid)."""
    session.execute(update(ApiToken).where(ApiToken.kind == "edge", ApiToken.sealed.is_not(None),
                                           ApiToken.created_at < before).values(sealed=None))
