"""Log in, sessions, CSRF, throttling, API tokens and refusals, through a real server."""

from __future__ import annotations

import datetime as dt

import httpx

from tests.conftest import ADMIN_PASSWORD, Central
from tests.helpers import wait_until

PROBLEM = "application/problem+json"


def problem(r: httpx.Response, status: int, *words: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["title"]
    for word in words:
        assert word in body["detail"], body
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_log_in_use_the_session_with_its_csrf_token_and_log_out(central: Central) -> None:
    with central.anonymous as browser:
        problem(browser.get("/api/tags"), 401, "no credentials")
        r = browser.post("/api/auth/login", json={"username": "Admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        assert r.json()["username"] == "admin" and r.json()["role"] == "admin"
        cookies = r.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("tagpipe_session="))
        assert "HttpOnly" in session and "SameSite=lax" in session and "Path=/" in session
        csrf = r.json()["csrf_token"]
        assert browser.cookies["tagpipe_csrf"] == csrf

        assert browser.get("/api/auth/me").json()["via"] == "session"
        assert browser.get("/api/tags").status_code == 200  # reads need no CSRF token
        problem(browser.post("/api/equipment", json={"name": "Press 9"}), 403, "CSRF")
        problem(browser.post("/api/equipment", json={"name": "Press 9"}, headers={"X-CSRF-Token": "guess"}), 403,
                "CSRF")
        assert [e["name"] for e in central.get("/api/equipment").json()] == [], "nothing was written"
        r = browser.post("/api/equipment", json={"name": "Press 9"}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 201, r.text

        problem(browser.post("/api/auth/logout"), 403, "CSRF")
        assert browser.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        problem(browser.get("/api/auth/me", cookies={"tagpipe_session": session.split(";")[0].split("=", 1)[1]}),
                401, "session")


def test_unknown_user_and_wrong_password_get_the_same_answer(central: Central) -> None:
    with central.anonymous as c:
        wrong = problem(c.post("/api/auth/login", json={"username": "admin", "password": "nope-nope"}), 401)
        unknown = problem(c.post("/api/auth/login", json={"username": "nobody", "password": "nope-nope"}), 401)
    assert wrong == unknown


def test_the_sixth_wrong_password_within_a_minute_is_429_with_retry_after(central: Central) -> None:
    central.user("olga", "operator", "olgas-password")
    with central.anonymous as c:
        for _ in range(5):
            problem(c.post("/api/auth/login", json={"username": "olga", "password": "guess-guess"}), 401)
        r = c.post("/api/auth/login", json={"username": "olga", "password": "guess-guess"})
        problem(r, 429, "try again")
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        # Even the right password: otherwise the answer would tell a guesser which password is right.
        problem(c.post("/api/auth/login", json={"username": "olga", "password": "olgas-password"}), 429)
        # The same address is throttled for any user name.
        problem(c.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}), 429)
    # An API token still works: throttling guards passwords only.
    assert central.get("/api/auth/me").status_code == 200
    refused = central.get("/api/audit", params={"action": "log in", "outcome": "refused"}).json()
    assert [e["status"] for e in refused].count(429) == 3 and [e["status"] for e in refused].count(401) == 5
    assert {e["principal"] for e in refused} == {"olga", "admin"}


def test_a_revoked_token_is_refused_at_once_and_an_expired_one_after_its_time(central: Central) -> None:
    token = central.user("otto", "operator")
    with central.anonymous as c:
        assert c.get("/api/auth/me", headers=bearer(token)).json()["role"] == "operator"
        [mine] = c.get("/api/tokens", headers=bearer(token)).json()
        assert mine["last_used_at"] is not None and "token" not in mine
        assert c.delete(f"/api/tokens/{mine['id']}", headers=bearer(token)).status_code == 204
        problem(c.get("/api/auth/me", headers=bearer(token)), 401, "revoked")

        soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
        r = central.post("/api/tokens", {"name": "short", "username": "otto", "expires_at": soon.isoformat()})
        assert r.status_code == 201, r.text
        short = r.json()["token"]
        assert c.get("/api/auth/me", headers=bearer(short)).status_code == 200
        wait_until(lambda: c.get("/api/auth/me", headers=bearer(short)).status_code == 401, timeout=10,
                   what="the token to expire")
        problem(c.get("/api/auth/me", headers=bearer(short)), 401, "expired")
        problem(c.get("/api/auth/me", headers=bearer("tp_not-a-token")), 401, "not valid")
        problem(c.get("/api/auth/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}), 401, "Bearer")


def test_a_token_role_is_never_higher_than_its_creators(central: Central) -> None:
    operator = central.user("opal", "operator")
    with central.anonymous as c:
        problem(c.post("/api/tokens", json={"name": "up", "role": "engineer"}, headers=bearer(operator)), 403,
                "higher than your role")
        problem(c.post("/api/tokens", json={"name": "other", "username": "admin"}, headers=bearer(operator)), 403,
                "users.manage")
        r = c.post("/api/tokens", json={"name": "down", "role": "viewer"}, headers=bearer(operator))
        assert r.status_code == 201 and r.json()["role"] == "viewer"
        viewer = r.json()["token"]
        problem(c.post("/api/tags/1/write", json={"value": 1}, headers=bearer(viewer)), 403, "tags.write")
    problem(central.post("/api/tokens", {"name": "x", "username": "opal", "role": "admin"}), 403,
            "higher than opal's role")


def test_a_viewer_reads_but_changes_nothing(central: Central) -> None:
    viewer = central.user("vera", "viewer")
    with central.anonymous as c:
        assert c.get("/api/equipment", headers=bearer(viewer)).status_code == 200
        problem(c.post("/api/equipment", json={"name": "Press 2"}, headers=bearer(viewer)), 403, "plant.configure",
                "viewer")
        problem(c.post("/api/users", json={"username": "eve", "role": "admin", "password": "password123"},
                       headers=bearer(viewer)), 403, "users.manage")
        problem(c.get("/api/audit", headers=bearer(viewer)), 403, "audit.review")
        # A body that is not even JSON: the caller is refused first all the same.
        for body in (b"\x00", b"{not json", b"\xff\xfe"):  # NUL, not JSON, not UTF-8
            problem(c.put("/api/equipment/1", content=body, headers={**bearer(viewer), "content-type":
                                                                     "application/json"}), 403, "plant.configure")
            problem(c.put("/api/equipment/1", content=body, headers={"content-type": "application/json"}), 401)
        assert c.put("/api/equipment/1", content=b"{", headers={**bearer(central.token), "content-type":
                                                                "application/json"}).status_code == 422
    assert central.get("/api/equipment").json() == []
    assert [u["username"] for u in central.get("/api/users").json()] == ["admin", "vera"]


def test_password_change_ends_the_other_sessions(central: Central) -> None:
    central.user("paul", "engineer", "pauls-password")
    with central.anonymous as a, central.anonymous as b:
        csrf = a.post("/api/auth/login", json={"username": "paul", "password": "pauls-password"}).json()["csrf_token"]
        assert b.post("/api/auth/login", json={"username": "paul", "password": "pauls-password"}).status_code == 200
        problem(a.post("/api/auth/password", json={"current_password": "wrong-wrong", "new_password": "new-password"},
                       headers={"X-CSRF-Token": csrf}), 401, "current password")
        problem(a.post("/api/auth/password", json={"current_password": "pauls-password", "new_password": "short"},
                       headers={"X-CSRF-Token": csrf}), 422, "new_password")
        r = a.post("/api/auth/password", json={"current_password": "pauls-password", "new_password": "new-password"},
                   headers={"X-CSRF-Token": csrf})
        assert r.status_code == 204, r.text
        assert a.get("/api/auth/me").status_code == 200, "this session goes on"
        problem(b.get("/api/auth/me"), 401, "session")
        problem(b.post("/api/auth/login", json={"username": "paul", "password": "pauls-password"}), 401)
        assert b.post("/api/auth/login", json={"username": "paul", "password": "new-password"}).status_code == 200


def test_the_last_admin_cannot_be_demoted_or_locked(central: Central) -> None:
    [admin] = central.get("/api/users").json()
    with central.api as c:
        problem(c.patch(f"/api/users/{admin['id']}", json={"role": "viewer"}), 409, "last admin")
        problem(c.patch(f"/api/users/{admin['id']}", json={"disabled": True}), 409, "last admin")
        problem(c.delete(f"/api/users/{admin['id']}"), 409)
        assert c.get("/api/auth/me").json()["role"] == "admin"
