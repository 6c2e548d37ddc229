"""Commands to edges as request/reply, and writing a tag's value to its PLC through its edge.

A command has an id that doubles as its idempotency key: sending an id again returns the stored command (and
resends it while it is unanswered), and an edge executes an id once, answering a repeat with its first answer. The
server waits for the answer on the edge's ``responses`` subject (one subscription per process, answers matched to
waiters by id), never by polling the database; the fleet worker records every answer from the stream.

Outcomes and their HTTP statuses (``POST /api/tags/{id}/write``):

    200  the edge wrote the value; ``value`` is what the PLC returned when read back
    404  no such tag
    422  the tag is not marked writable (field ``writable``) or the value does not fit its type (field ``value``)
    409  the tag's edge is offline or has never connected, or its connection is disabled: nothing was sent
    502  the edge answered that the write failed (the PLC refused it or did not answer); ``detail`` says why
    504  the edge did not answer within the wait; the write may still happen (see ``command_id``)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from tagpipe import plant
from tagpipe.contracts import CommandResponse
from tagpipe.errors import CommandFailed, CommandTimeout, Conflict, NotFound
from tagpipe.fleet import service
from tagpipe.fleet.models import Command, Edge
from tagpipe.fleet.schemas import CommandOut
from tagpipe.ports import Written

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

    from tagpipe.services import Services

log = logging.getLogger(__name__)
WAIT_S = 5.0


def load_command(session: Session, command_id: str) -> CommandOut:
    cmd = session.get(Command, command_id)
    if cmd is None:
        raise NotFound(f"command {command_id} does not exist")
    return CommandOut.model_validate(cmd, from_attributes=True)


def _edge_status(session: Session, edge_id: str) -> str | None:
    edge = session.get(Edge, edge_id)
    return edge.status if edge else None


class Commander:
    """Sends commands and waits for their answers; one per server process, bound to its services."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._waiting: dict[str, asyncio.Future[CommandResponse]] = {}
        self._sub: Subscription | None = None
        self._sub_nc: object = None

    async def _listen(self) -> None:
        """Subscribe to every edge's answers once per bus connection (the connection is replaced on restart)."""
        nc = self.services.nc
        if nc is None or (self._sub is not None and self._sub_nc is nc):
            return
        self._sub = await nc.subscribe(self.services.subjects.all("responses"), cb=self._on_response)
        self._sub_nc = nc

    async def _on_response(self, msg: Msg) -> None:
        try:
            response = CommandResponse.model_validate_json(msg.data)
        except ValidationError:
            return  # the fleet worker dead-letters it from the stream
        future = self._waiting.get(response.id)
        if future is not None and not future.done():
            future.set_result(response)

    async def send(self, edge_id: str, command: str, params: dict[str, Any], wait_s: float = 0.0,
                   command_id: str | None = None) -> CommandOut:
        """Record and publish a command; with ``wait_s``, wait that long for the edge's answer."""
        cmd = await self.services.run_db(service.new_command, edge_id, command, params, command_id)
        if cmd.status != "sent":
            return cmd  # answered before: the key was used already
        nc = self.services.nc
        if nc is None or not nc.is_connected:
            return cmd
        await self._listen()
        future: asyncio.Future[CommandResponse] = asyncio.get_running_loop().create_future()
        self._waiting[cmd.id] = future
        try:
            body = json.dumps({"id": cmd.id, "command": command, "params": params}).encode()
            await nc.publish(self.services.subjects.device(edge_id, "commands"), body)
            await nc.flush()
            if wait_s <= 0:
                return cmd
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    answer = await future
                    return cmd.model_copy(update={"status": "ok" if answer.ok else "error",
                                                  "result": answer.result, "error": answer.error})
            return cmd
        finally:
            self._waiting.pop(cmd.id, None)

    async def write_tag(self, tag_id: int, value: object, wait_s: float = WAIT_S) -> Written:
        """Validate, send the write to the tag's edge and wait for its answer.

        Raises InvalidInput, NotFound, Conflict (edge offline), CommandFailed (502) or CommandTimeout (504)."""
        target = await self.services.run_db(plant.write_target, tag_id, value)
        status = await self.services.run_db(_edge_status, target.edge_id)
        if status != "online":
            state = "has never connected" if status is None else "is offline"
            raise Conflict(f"edge {target.edge_id!r} {state}; the write to {target.tag} was not sent")
        out = await self.send(target.edge_id, "write",
                              {"device_id": target.device_id, "tag": target.tag, "value": value}, wait_s)
        if out.status == "ok":
            result = out.result if isinstance(out.result, dict) else {}
            return Written(tag_id=target.tag_id, value=result.get("value"), command_id=out.id)
        if out.status == "error":
            raise CommandFailed(f"edge {target.edge_id} could not write {target.tag}: {out.error}", out.id)
        raise CommandTimeout(f"edge {target.edge_id} did not answer within {wait_s:g} s; the write may still happen "
                             f"(GET /api/fleet/commands/{out.id})", out.id)
