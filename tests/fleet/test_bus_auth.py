"""Edges are principals on the bus: nats-server itself, asking tagpipe's auth callout, lets an edge use only its own
subjects, over NATS and MQTT alike; nobody but the worker touches the streams and nobody deletes or purges them;
anonymous clients are refused; a revoked edge is off the bus within 5 s; what was refused shows per edge. Real
nats-server, real clients (nats-py, paho-mqtt), a real server and worker."""

from __future__ import annotations

import asyncio
import json
import time

import nats
import nats.errors
import paho.mqtt.client as mqtt
import pytest
from nats.js.errors import NotFoundError

from tagpipe.bus.security import SERVER, WORKER
from tagpipe.drivers.sims.modbus_tcp import ModbusSim
from tests.conftest import Central
from tests.fleet.test_commands import _online_writable
from tests.helpers import async_wait_until
from tests.plant.test_plc_features import mb_table, post

DEVICES = "TAGPIPE_DEVICES"


class Errors(list[str]):
    """What nats-server answered a client with (its -ERR lines); ``cb`` is its error callback."""

    def __init__(self) -> None:
        super().__init__()

        async def cb(e: Exception) -> None:  # nats-py wants a coroutine function
            self.append(str(e).lower())

        self.cb = cb


async def _stored(central: Central, subject: str) -> bytes | None:
    nc = await central.bus()
    try:
        return bytes((await nc.jetstream().get_last_msg(DEVICES, subject)).data)
    except NotFoundError:
        return None
    finally:
        await nc.close()


async def _refused(nats_url: str, **login: str) -> str:
    with pytest.raises(Exception) as refused:
        await nats.connect(nats_url, allow_reconnect=False, connect_timeout=2, **login)  # type: ignore[arg-type]
    return str(refused.value)


def _refusals(central: Central, edge_id: str) -> list[dict]:
    return central.get("/api/fleet/refusals", params={"edge_id": edge_id}).json()


async def test_an_edge_uses_only_its_own_subjects_and_cannot_touch_the_streams_on_nats(central) -> None:
    a, b = central.credentials("edge-a"), central.credentials("edge-b")
    errors = Errors()
    nc = await central.edge_bus("edge-a", a, error_cb=errors.cb)
    js = nc.jetstream()
    ack = await js.publish("tagpipe.devices.edge-a.data", b'{"tags": {"x": 1}}', headers={"Nats-Msg-Id": "a-1"})
    assert ack.stream == DEVICES, "an edge's own data is stored and acknowledged (its inbox is its own)"

    await nc.publish("tagpipe.devices.edge-b.data", b'{"tags": {"forged": 1}}')  # as another edge
    await nc.publish("tagpipe.devices.edge-b.status", b'{"status": "online"}')
    await nc.publish("tagpipe.devices.edge-a.commands", b'{"id": "self", "command": "ping"}')  # its own commands
    await nc.subscribe("tagpipe.devices.edge-b.commands")  # another edge's commands
    await nc.subscribe("tagpipe.devices.>")  # everything
    await nc.subscribe("_INBOX.>")  # everybody's replies
    for api in ("$JS.API.STREAM.PURGE.TAGPIPE_DEVICES", "$JS.API.STREAM.DELETE.TAGPIPE_DEVICES",
                "$JS.API.STREAM.MSG.DELETE.TAGPIPE_DEVICES", "$JS.API.STREAM.UPDATE.TAGPIPE_DEVICES",
                "$JS.API.CONSUMER.DELETE.TAGPIPE_DEVICES.ingest"):
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await nc.request(api, b"{}", timeout=0.5)
    await nc.flush()
    await async_wait_until(lambda: len(errors) >= 10, timeout=5, what="every refusal answered by nats-server")
    assert all("permissions violation" in e for e in errors), errors
    await nc.close()

    assert await _stored(central, "tagpipe.devices.edge-b.data") is None, "the forged data never reached the stream"
    assert await _stored(central, "tagpipe.devices.edge-a.data") is not None
    # Nobody deletes or purges a stream, the central principals included; only the worker creates them.
    for principal in (SERVER, WORKER):
        central_nc = await central.bus(principal, error_cb=Errors().cb)
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await central_nc.request("$JS.API.STREAM.PURGE.TAGPIPE_DEVICES", b"{}", timeout=0.5)
        assert (await central_nc.jetstream().stream_info(DEVICES)).state.messages >= 1
        await central_nc.close()

    # Wrong credentials, another edge's, and none at all are refused by nats-server.
    assert "authorization violation" in (await _refused(central.nats.url, user="edge-a", password="nope")).lower()
    assert "authorization violation" in (await _refused(central.nats.url, user="edge-a", password=b)).lower()
    assert "authorization violation" in (await _refused(central.nats.url)).lower()

    refused = await async_wait_until(lambda: r if len(r := _refusals(central, "edge-a")) >= 5 else None,
                                     timeout=10, what="the refusals of edge-a on the Fleet page's API")
    seen = {(r["kind"], r["detail"]) for r in refused}
    assert ("auth", "unknown credentials") in seen
    assert ("auth", "the credentials of edge edge-b used as edge-a") in seen
    assert ("publish", "tagpipe.devices.edge-b.data") in seen and ("subscribe", "tagpipe.devices.>") in seen
    assert ("publish", "tagpipe.devices.edge-a.commands") in seen
    assert any(r["kind"] == "auth" and r["detail"] == "anonymous clients are refused" for r in _refusals(central, ""))


def _mqtt(central: Central, client_id: str, user: str | None = None, password: str | None = None) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    if user is not None:
        client.username_pw_set(user, password)
    client.connect("127.0.0.1", central.nats.mqtt_port)
    client.loop_start()
    return client


def _connack(central: Central, user: str | None, password: str | None) -> str:
    """The CONNACK reason an MQTT client gets for these credentials."""
    result: list[str] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{user}-{time.monotonic_ns()}")
    client.on_connect = lambda _c, _u, _f, rc, _p: result.append(str(rc))
    if user is not None:
        client.username_pw_set(user, password)
    client.connect("127.0.0.1", central.nats.mqtt_port)
    client.loop_start()
    deadline = time.monotonic() + 5
    while not result and time.monotonic() < deadline:
        time.sleep(0.02)
    client.loop_stop()
    client.disconnect()
    return result[0] if result else "no answer"


async def test_the_same_over_the_mqtt_listener_and_a_revoked_edge_is_disconnected_within_five_seconds(central) -> None:
    a = central.credentials("col-a", kind="collector")
    central.credentials("col-b", kind="collector")
    got: list[tuple[str, bytes]] = []
    granted: list[list[str]] = []
    gone: list[float] = []
    client = _mqtt(central, "col-a", "col-a", a)
    client.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    client.on_subscribe = lambda _c, _u, _mid, rc, _p: granted.append([str(x) for x in rc])
    client.on_disconnect = lambda *_: gone.append(time.monotonic())
    await async_wait_until(client.is_connected, timeout=5, what="the collector connected")
    client.subscribe("tagpipe/devices/col-a/commands", qos=1)
    client.subscribe("tagpipe/devices/col-b/commands", qos=1)
    client.subscribe("tagpipe/devices/#", qos=1)
    await async_wait_until(lambda: len(granted) == 3, timeout=5)
    assert granted[0] == ["Granted QoS 1"] and granted[1] != ["Granted QoS 1"] and granted[2] != ["Granted QoS 1"]
    client.publish("tagpipe/devices/col-a/data", json.dumps({"tags": {"mine": 1}}), qos=1).wait_for_publish(5)
    client.publish("tagpipe/devices/col-b/data", json.dumps({"tags": {"forged": 1}}), qos=1).wait_for_publish(5)
    client.publish("tagpipe/devices/col-a/commands", b'{"id": "x", "command": "ping"}', qos=1).wait_for_publish(5)
    server = await central.bus()
    await server.publish("tagpipe.devices.col-b.commands", b'{"id": "for-b", "command": "ping"}')
    await server.publish("tagpipe.devices.col-a.commands", b'{"id": "for-a", "command": "ping"}')
    await server.flush()
    await server.close()
    await async_wait_until(lambda: got, timeout=5, what="the server's command to col-a")
    assert [t for t, _ in got] == ["tagpipe/devices/col-a/commands"], "its own commands only, and only the server's"
    assert json.loads(got[0][1])["id"] == "for-a"
    await async_wait_until(lambda: "mine" in central.tag_values(), timeout=10, what="col-a's data stored")
    assert await _stored(central, "tagpipe.devices.col-b.data") is None
    assert _connack(central, None, None) != "Success", "anonymous MQTT clients are refused"
    assert _connack(central, "col-a", "wrong") != "Success"
    assert _connack(central, "col-b", a) != "Success", "another collector's password is not col-b's"

    # a collector is MQTT only
    assert "authorization violation" in (await _refused(central.nats.url, user="col-a", password=a)).lower()

    revoked_at = time.monotonic()
    r = central.delete("/api/fleet/devices/col-a/credentials")
    assert r.status_code == 200 and r.json()["admission"] == "revoked", r.text
    await async_wait_until(lambda: gone, timeout=5, interval=0.01, what="the revoked collector disconnected")
    assert gone[0] - revoked_at < 5.0
    client.loop_stop()
    assert _connack(central, "col-a", a) != "Success", "and refused from then on"
    refused = await async_wait_until(lambda: {(x["kind"], x["detail"], x["transport"]) for x in _refusals(
        central, "col-a")} >= {("publish", "tagpipe.devices.col-b.data", "mqtt"),
                               ("subscribe", "tagpipe.devices.col-b.commands", "mqtt"),
                               ("auth", "credentials revoked", "mqtt")}, timeout=10, what="col-a's refusals")
    assert refused


async def test_a_revoked_nats_edge_is_disconnected_within_five_seconds_even_revoked_from_the_cli(central) -> None:
    import subprocess
    import sys

    token = central.credentials("edge-r")
    closed: list[float] = []

    async def on_disconnect() -> None:
        closed.append(time.monotonic())

    nc = await central.edge_bus("edge-r", token, disconnected_cb=on_disconnect, max_reconnect_attempts=-1,
                                reconnect_time_wait=0.2, error_cb=Errors().cb)
    await nc.publish("tagpipe.devices.edge-r.status", b"{}")
    await nc.flush()
    began = time.monotonic()
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "tagpipe", "fleet", "revoke", "edge-r"],
                                   env=central.env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    await async_wait_until(lambda: closed, timeout=5, interval=0.01, what="the edge revoked by the CLI disconnected")
    assert closed[0] - began < 5.0
    await asyncio.sleep(0.5)  # it tries to come back, and is refused every time
    assert not nc.is_connected
    await nc.close()


async def test_only_the_server_commands_an_edge_and_every_command_it_runs_is_recorded(central) -> None:
    async with ModbusSim() as sim:
        _, device = await _online_writable(central, sim)
        await sim.set_value("40005", 5)
        write = json.dumps({"id": "forged-1", "command": "write",
                            "params": {"device_id": device, "tag": "setpoint", "value": 99}}).encode()
        intruder = await central.edge_bus("edge-x", central.credentials("edge-x"), error_cb=(errors := Errors()).cb)
        await intruder.publish("tagpipe.devices.edge-1.commands", write)
        await intruder.flush()
        worker = await central.bus(WORKER, error_cb=(worker_errors := Errors()).cb)
        await worker.publish("tagpipe.devices.edge-1.commands", write)
        await worker.flush()
        collector = _mqtt(central, "col-x", "col-x", central.credentials("col-x", kind="collector"))
        await async_wait_until(collector.is_connected, timeout=5)
        collector.publish("tagpipe/devices/edge-1/commands", write, qos=1).wait_for_publish(5)
        await async_wait_until(lambda: errors and worker_errors, timeout=5, what="both publishes refused")
        assert "permissions violation" in errors[0] and "permissions violation" in worker_errors[0]
        # The edge answers commands in order: once the server's ping is answered, nothing forged is left to run.
        ping = await post(central, "/api/fleet/devices/edge-1/commands?wait_s=5", {"command": "ping"})
        assert ping.json()["status"] == "ok", ping.text
        assert (await sim.get_raw(mb_table("40005"), 4))[0] == 5, "no forged write ran"
        assert central.get("/api/fleet/commands/forged-1").status_code == 404
        written = await post(central, "/api/fleet/devices/edge-1/commands?wait_s=5",
                             {"command": "write", "params": {"device_id": device, "tag": "setpoint", "value": 7}})
        assert written.json()["status"] == "ok" and (await sim.get_raw(mb_table("40005"), 4))[0] == 7
        await async_wait_until(lambda: central.get(f"/api/fleet/commands/{written.json()['id']}").json()[
            "status"] == "ok", timeout=10, what="the server's record of the write, answered")
        collector.loop_stop()
        collector.disconnect()
        await intruder.close()
        await worker.close()
