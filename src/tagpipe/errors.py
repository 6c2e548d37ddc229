"""The error tree, translated once at each boundary.

    TagpipeError
    ├── InvalidInput(field, expected)   bad input; HTTP 422 problem+json naming the field
    ├── NotFound                        HTTP 404
    ├── Conflict                        HTTP 409
    ├── DeviceUnreachable               the PLC did not answer: mark its tags bad, back off, retry
    ├── DeviceMisconfigured             the PLC answered that our request is wrong: report it, retry slowly
    ├── CommandFailed(command_id)       an edge answered that a command failed; HTTP 502
    ├── CommandTimeout(command_id)      an edge did not answer a command in time (it may still act); HTTP 504
    ├── SandboxError                    the sandbox that runs user code is down or overloaded: HTTP 503, retry later
    ├── NotAuthenticated                no credentials, or ones that are wrong, expired or revoked; HTTP 401
    ├── Forbidden                       a permission the caller lacks, or a missing CSRF token; HTTP 403
    └── TooManyAttempts(retry_after_s)  log in throttled; HTTP 429 with Retry-After

Drivers wrap their library's exceptions into these; nothing above a driver sees pymodbus or asyncua errors.
"""

from __future__ import annotations

from typing import ClassVar


class TagpipeError(Exception):
    """Base of every error tagpipe raises on purpose."""


class InvalidInput(TagpipeError):
    """A value does not have the expected form."""

    def __init__(self, field: str, expected: str, got: object = ...) -> None:
        self.field = field
        self.expected = expected
        detail = f"{field}: expected {expected}" + ("" if got is ... else f", got {got!r}")
        super().__init__(detail)


class NotFound(TagpipeError):
    """The referenced object does not exist."""


class Conflict(TagpipeError):
    """The request contradicts what is stored (a duplicate name, an object still in use)."""


class DeviceUnreachable(TagpipeError):
    """The device did not answer (refused, timed out, connection lost)."""


class DeviceMisconfigured(TagpipeError):
    """The device answered that the request is wrong (unknown address, wrong type, access denied)."""


class CommandFailed(TagpipeError):
    """An edge answered that it could not carry out a command (the PLC refused a write, say)."""

    def __init__(self, detail: str, command_id: str) -> None:
        super().__init__(detail)
        self.command_id = command_id


class CommandTimeout(TagpipeError):
    """An edge did not answer a command in time; it may still carry it out."""

    def __init__(self, detail: str, command_id: str) -> None:
        super().__init__(detail)
        self.command_id = command_id


class SandboxError(TagpipeError):
    """The sandbox that runs user code is unavailable (worker down, pool closed, overloaded): retry later.

    Bad user code is never this: it is a ``CodeError`` or a failed run, reported with its line.
    """


class NotAuthenticated(TagpipeError):
    """The request carries no credentials, or ones that are wrong, expired or revoked."""

    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class Forbidden(TagpipeError):
    """The caller is known but may not do this (a missing permission, a missing or wrong CSRF token)."""


class TooManyAttempts(TagpipeError):
    """Too many failed log ins for a user or from an address; try again after ``retry_after_s`` seconds."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
        self.headers = {"Retry-After": str(retry_after_s)}
