"""The Driver interface every protocol module implements, and the values it returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self

from pydantic import BaseModel, ConfigDict

from tagpipe.contracts.config import TagConfig

SETTINGS = ConfigDict(extra="forbid", allow_inf_nan=False)
"""Every driver's settings model: an unknown key (a typo) is refused, not dropped; numbers are finite."""


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
