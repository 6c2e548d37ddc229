"""schemathesis hooks of test_fuzz.py (loaded by the ``st`` process through SCHEMATHESIS_HOOKS).

- ``problem_json_for_4xx``: every 4xx of the API is RFC 9457 problem+json.
- ``viewer_cannot_write``: run as a viewer (``FUZZ_ROLE=viewer``), every POST, PUT, PATCH and DELETE but the few a
  viewer may make for itself (log in and out, its password, its own tokens) and an edge's enrollment (whose key is
  its credential) is 403 (404 or 405 when no route
  matches): refused before anything is validated or written.
- ``filter_failure`` accepts a 502 or 504 that an operation declares and that relays an edge's answer (or its
  silence) to a command, with the command's id: the PLC refused a write or the edge did not answer, which fuzzing a
  live plant causes; every other 5xx stays a failure.
- ``before_call`` keeps PATCH and DELETE off the users the runs log in as and DELETE off their tokens (a run that
  locked, demoted or revoked its own credentials would fuzz nothing after), keeps PUT off the seeded equipment,
  connection and tags (the plant the writes go through) and points
  part of the generated requests at the local simulators, so connection tests, OPC UA browse
  and tag writes really reach a PLC (the server refuses any other device: TAGPIPE_DEVICE_NETWORKS=127.0.0.0/8), and
  caps how long a command waits for an edge that does not exist. Which cases are pointed is decided by a checksum of
  the case, so a seed replays the same run.
"""

from __future__ import annotations

import json
import os
import zlib
from typing import Any

import schemathesis

PROBLEM = "application/problem+json"


@schemathesis.check
def problem_json_for_4xx(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx answer is application/problem+json with status, title and detail."""
    if not 400 <= response.status_code < 500:
        return None
    headers = {k.lower(): v for k, v in response.headers.items()}
    media = headers.get("content-type", "")
    media = (media[0] if media else "") if isinstance(media, list) else media
    if not media.startswith(PROBLEM):
        raise AssertionError(f"{response.status_code} answered as {media!r}, not {PROBLEM}")
    body = json.loads(response.content) if response.content else None
    if case.method.upper() != "HEAD" and not (isinstance(body, dict) and body.get("status") == response.status_code
                                              and body.get("title") and "detail" in body):
        raise AssertionError(f"{response.status_code} problem without status, title and detail: {body!r}")
    return True


WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OWN = frozenset({"POST /api/auth/login", "POST /api/auth/logout", "POST /api/auth/password", "POST /api/tokens",
                 "DELETE /api/tokens/{token_id}",  # what a viewer may do for itself
                 # an edge's own routes, public: the provisioning key or the enrollment secret is the credential
                 "POST /api/fleet/v1/edges/{edge_id}/enroll", "POST /api/fleet/v1/edges/{edge_id}/credentials"})


@schemathesis.check
def viewer_cannot_write(ctx: Any, response: Any, case: Any) -> bool | None:
    """As a viewer, a write is refused (403) before anything else happens."""
    method = case.method.upper()
    if os.environ.get("FUZZ_ROLE") != "viewer" or method not in WRITES or f"{method} {case.operation.path}" in OWN:
        return None
    sent = getattr(getattr(response, "request", None), "headers", None) or {}
    if not any(k.lower() == "authorization" and str(v).startswith("Bearer tp_") for k, v in sent.items()):
        return None  # a case made without the viewer's token (schemathesis tries missing credentials): 401 is right
    if response.status_code not in (403, 404, 405):
        raise AssertionError(f"a viewer's {method} {case.operation.path} answered {response.status_code}, not 403")
    return True


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    if response is None or response.status_code not in (502, 504):
        return True
    declared = str(response.status_code) in (case.operation.definition.raw.get("responses") or {})
    try:
        relayed = bool(json.loads(response.content).get("command_id"))
    except (ValueError, AttributeError):
        relayed = False
    return not (declared and relayed)


def _sims() -> dict[str, Any]:
    return json.loads(os.environ["FUZZ_SIMS"])


def _pick(case: Any) -> bool:
    """Half of the cases, the same ones for the same generated data."""
    seed = json.dumps([case.path_parameters, case.query, case.body], sort_keys=True, default=repr)
    return zlib.crc32(seed.encode()) % 2 == 0


def _point_settings(protocol: object, settings: dict[str, Any], sims: dict[str, Any]) -> None:
    sim = sims.get(str(protocol).replace("plc_ethernet", "xgt"))
    if sim is None:
        return
    if "endpoint_url" in sim:
        settings["endpoint_url"] = sim["endpoint_url"]
    else:
        settings["host"], settings["port"] = "127.0.0.1", sim["port"]


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    path, method = case.operation.path, case.method.upper()
    if path == "/api/fleet/devices/{edge_id}/commands" and isinstance(case.query, dict):
        wait = case.query.get("wait_s")
        if isinstance(wait, (int, float)) and not isinstance(wait, bool) and wait > 1:
            case.query["wait_s"] = 1  # an edge that does not exist never answers: do not wait 30 s for it
    sims = _sims()
    keep = {"/api/users/{user_id}": ("user_id", sims.get("protected_users", []), {"PATCH", "DELETE"}),
            "/api/tokens/{token_id}": ("token_id", sims.get("protected_tokens", []), {"DELETE"})}
    if path in keep and method in keep[path][2] and isinstance(case.path_parameters, dict):
        name, ids, _ = keep[path]
        value = str(case.path_parameters.get(name))
        if value.isdigit() and int(value) in ids:  # 2 or "2" or "02": the same id to the server
            case.path_parameters[name] = 2**31 - 1  # the run's own credentials stay: 404
    seeded = {"/api/equipment/{equipment_id}": ("equipment_id", sims["equipment"]),
              "/api/connections/{connection_id}": ("connection_id", sims["connection"]),
              "/api/tags/{tag_id}": ("tag_id", sims["tags"])}
    if method == "PUT" and path in seeded and isinstance(case.path_parameters, dict):
        name, ids = seeded[path]
        ids = ids if isinstance(ids, list) else [ids]
        if case.path_parameters.get(name) in ids:
            case.path_parameters[name] = max(ids) + 1_000_000  # the seeded plant stays as it is: 404
    if not _pick(case):
        return
    body = case.body
    if path in ("/api/connections/test", "/api/connections", "/api/connections/{connection_id}") \
            and method in ("POST", "PUT") and isinstance(body, dict) and isinstance(body.get("settings"), dict):
        _point_settings(body.get("protocol"), body["settings"], sims)
    elif path == "/api/opcua/browse" and isinstance(body, dict) and isinstance(body.get("settings"), dict):
        body["settings"]["endpoint_url"] = sims["opcua"]["endpoint_url"]
    elif path == "/api/tags/{tag_id}/write" and isinstance(case.path_parameters, dict):
        case.path_parameters["tag_id"] = sims["writable_tag"]
    elif path in ("/api/connections/{connection_id}/test",) and isinstance(case.path_parameters, dict):
        case.path_parameters["connection_id"] = sims["connection"]
