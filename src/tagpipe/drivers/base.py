"""The Driver interface every protocol module implements, and the values it returns."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self

from pydantic import BaseModel, ConfigDict

from tagpipe.contracts.config import TagConfig

SETTINGS = ConfigDict(extra="forbid", allow_inf_nan=False)
"""Every driver's settings model: an unknown key (a typo) is refused, not dropped; numbers are finite."""

MATERIAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A certificate or key in tagpipe's store is named like a plain file name: never a path."""

Material = Mapping[str, bytes]
"""Certificates and keys a connection names, by name: what a driver with material fields is given to connect."""


def material_fields(model: type[BaseModel]) -> dict[str, str]:
    """The fields of a settings model that name a certificate or key in tagpipe's store, with the kind they name
    (``json_schema_extra={"material": "certificate"}`` or ``"private_key"``)."""
    return {name: str(f.json_schema_extra["material"]) for name, f in model.model_fields.items()
            if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("material")}


def material_name(value: str | None) -> str | None:
    """``value`` if it can name stored material; ValueError (a path, say) otherwise."""
    if value is not None and not MATERIAL_NAME.fullmatch(value):
        raise ValueError("the name of a certificate or key in tagpipe's store (upload it under "
                         "Configuration → Certificates), not a path")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """One tag's raw value (before scale and offset), or the reason it could not be read."""

    value: Any = None
    error: str | None = None

    @property
    def good(self) -> bool:
        return self.error is None


class Driver(Protocol):
    """A PLC connection: ``async with driver:`` connects and closes."""

    settings_model: ClassVar[type[BaseModel]]
    requests: int

    def __init__(self, settings: Any) -> None: ...

    @classmethod
    def validate_tag(cls, tag: TagConfig) -> None:
        """Raise InvalidInput naming the field when the tag cannot work with this protocol."""

    async def connect(self) -> None: ...

    async def read(self, tags: Sequence[TagConfig]) -> dict[str, Reading]: ...

    async def write(self, tag: TagConfig, value: Any) -> None: ...

    async def close(self) -> None: ...


class DriverBase:
    """Context-manager plumbing and the request counter shared by the drivers."""

    requests: int = 0

    async def connect(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
