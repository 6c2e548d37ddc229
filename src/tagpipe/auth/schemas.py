"""API shapes of users, log in, API tokens and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tagpipe.web.inputs import UtcDatetime

Role = Literal["viewer", "operator", "engineer", "admin"]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(..., min_length=1, max_length=120)
    password: str = Field(..., min_length=1, max_length=1000)


class Me(BaseModel):
    username: str
    role: str
    permissions: list[str]
    via: str = Field(..., description="session, token, link or off")
    token_name: str | None = None
    csrf_token: str | None = Field(None, description="After log in: the value to send as X-CSRF-Token.")


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(..., max_length=1000)
    new_password: str = Field(..., max_length=1000)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(..., min_length=1, max_length=120, examples=["alice"])
    role: Role = "viewer"
    password: str = Field(..., max_length=1000, json_schema_extra={"format": "password", "writeOnly": True})


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(None, max_length=1000, json_schema_extra={"format": "password", "writeOnly": True})


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    disabled: bool
    created_at: UtcDatetime
    last_login_at: UtcDatetime | None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=120, examples=["historian export"])
    role: Role | None = Field(None, description="Default: the lower of your role and the user's.")
    username: str | None = Field(None, description="Whose token (admins only); default: yours.")
    expires_at: dt.datetime | None = Field(None, description="Default: never.")


class TokenOut(BaseModel):
    id: int
    name: str
    role: str
    prefix: str = Field(..., description="The token's first characters, to tell it apart.")
    username: str | None
    created_at: UtcDatetime
    created_by: str
    expires_at: UtcDatetime | None
    last_used_at: UtcDatetime | None
    revoked_at: UtcDatetime | None


class TokenCreated(TokenOut):
    token: str = Field(..., description="The token itself: shown this once, send it as 'Authorization: Bearer …'.")


class RoleOut(BaseModel):
    name: str
    permissions: list[str]


class PermissionOut(BaseModel):
    name: str
    description: str
    lowest_role: str


class RolesOut(BaseModel):
    roles: list[RoleOut]
    permissions: list[PermissionOut]


class AuditOut(BaseModel):
    id: int
    at: UtcDatetime
    principal: str
    role: str
    address: str
    action: str
    target: str
    status: int
    detail: dict[str, Any]
