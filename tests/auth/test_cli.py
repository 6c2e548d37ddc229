"""First start and the command line: no admin on a non-loopback address is refused, a first look on loopback gets
an admin and a one-time login link, and ``tagpipe user`` / ``tagpipe token`` work with no server running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from tests.helpers import free_port, wait_until


def env_for(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAGPIPE_")}
    return {**env, "TAGPIPE_DATA_DIR": str(data), "TAGPIPE_HTTP_PORT": str(free_port()),
            "TAGPIPE_NATS_PORT": str(free_port()), "TAGPIPE_MQTT_PORT": str(free_port()), **extra}


def tagpipe(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tagpipe", *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=60, start_new_session=True, check=False)


def test_up_refuses_a_non_loopback_address_until_an_admin_exists(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data", TAGPIPE_HOST="0.0.0.0")
    refused = tagpipe(env, "up")
    assert refused.returncode == 2
    assert "No admin user exists" in refused.stdout and "tagpipe user add NAME --role admin" in refused.stdout
    assert not (tmp_path / "data" / "nats").exists(), "nothing was started"
    off = tagpipe({**env, "TAGPIPE_AUTH": "off"}, "up")
    assert off.returncode == 2 and "loopback" in off.stdout


def test_user_add_prompts_for_the_password_and_token_create_prints_one(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    added = tagpipe(env, "user", "add", "Alice", "--role", "admin", stdin="long-password\nlong-password\n")
    assert added.returncode == 0, added.stdout + added.stderr
    short = tagpipe(env, "user", "add", "bob", "--password", "short")
    assert short.returncode == 1 and "at least 8 characters" in short.stdout
    created = tagpipe(env, "token", "create", "--user", "alice", "--name", "ci", "--role", "viewer", "--expires", "30d")
    assert created.returncode == 0, created.stdout + created.stderr
    assert re.fullmatch(r"tp_[A-Za-z0-9_-]{40,}", created.stdout.strip())
    listed = tagpipe(env, "token", "list").stdout
    assert "alice" in listed and "ci" in listed and "viewer" in listed and created.stdout.strip() not in listed
    users = tagpipe(env, "user", "list").stdout
    assert "alice" in users and "admin" in users


def test_a_first_look_on_loopback_gets_an_admin_and_a_login_link_that_works_once(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    out = tmp_path / "up.out"
    with out.open("w") as sink:
        up = subprocess.Popen([sys.executable, "-m", "tagpipe", "up"], env=env, stdout=sink, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        link = wait_until(lambda: re.search(r"http://\S+/api/auth/link/\S+", out.read_text()), timeout=60,
                          what="the login link").group(0)
        assert re.search(r"Created the admin admin with the password \S{20}", out.read_text())
        base = link.split("/api/")[0]
        wait_until(lambda: httpx.get(base + "/api/health").status_code == 200, timeout=60, what="the server")
        assert httpx.get(base + "/api/tags").status_code == 401, "nobody is let in without credentials"
        with httpx.Client(base_url=base) as browser:
            r = browser.get(link)
            assert r.status_code == 303 and r.headers["location"] == "/"
            me = browser.get("/api/auth/me").json()
            assert me["username"] == "admin" and me["via"] == "session"
        again = httpx.get(link)
        assert again.status_code == 303 and again.headers["location"] == "/login?link=invalid"
    finally:
        kids = psutil.Process(up.pid).children(recursive=True)
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(30)
        psutil.wait_procs(kids, timeout=15)
