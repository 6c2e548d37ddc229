"""The ``tagpipe`` command: run the central side, the demo, an edge agent, or single pieces for scale-out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tagpipe import gctune
from tagpipe.settings import Settings

app = typer.Typer(help="tagpipe: PLCs -> edge agent -> NATS -> central store -> live dashboard.",
                  no_args_is_help=True, add_completion=False)
console = Console()

DataDir = Annotated[Path | None, typer.Option(help="Data directory (SQLite, NATS store). Env: TAGPIPE_DATA_DIR.")]
HttpPort = Annotated[int | None, typer.Option(help="Web UI and REST API port. Env: TAGPIPE_HTTP_PORT.")]
NatsPort = Annotated[int | None, typer.Option(help="Embedded NATS client port. Env: TAGPIPE_NATS_PORT.")]
MqttPort = Annotated[int | None, typer.Option(help="Embedded NATS MQTT listener port. Env: TAGPIPE_MQTT_PORT.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]
Tls = Annotated[str | None, typer.Option(
    "--tls", help="self-signed: serve HTTPS with a certificate of this installation's own CA, made in "
                  "<data dir>/tls (edges: --ca <data dir>/tls/ca.pem); off: plain http. Env: TAGPIPE_TLS.")]
TlsCert = Annotated[Path | None, typer.Option(help="PEM certificate to serve HTTPS with. Env: TAGPIPE_TLS_CERT.")]
TlsKey = Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert. Env: TAGPIPE_TLS_KEY.")]


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("asyncua", "pymodbus", "nicegui", "uvicorn.access", "httpx", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings(data_dir: Path | None, http_port: int | None, nats_port: int | None, mqtt_port: int | None,
              tls: str | None = None, tls_cert: Path | None = None, tls_key: Path | None = None) -> Settings:
    overrides = {k: v for k, v in {"data_dir": data_dir, "http_port": http_port, "nats_port": nats_port,
                                   "mqtt_port": mqtt_port, "tls": tls, "tls_cert": tls_cert,
                                   "tls_key": tls_key}.items() if v is not None}
    from pydantic import ValidationError

    try:
        settings = Settings(**overrides)
    except ValidationError as e:
        err = e.errors()[0]
        raise typer.BadParameter(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise typer.BadParameter("TLS needs both a certificate and its key (--tls-cert and --tls-key, or "
                                 "TAGPIPE_TLS_CERT and TAGPIPE_TLS_KEY)")
    return settings


def tls_ready(settings: Settings) -> Settings:
    """The settings with the self-signed pair made when asked for; a loud warning when serving plain http beyond
    this machine (warned, not refused: a reverse proxy that terminates TLS is a sound set-up)."""
    from tagpipe.tls import transport_warning, with_tls_files

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings = with_tls_files(settings)
    for path in (settings.tls_cert, settings.tls_key):
        if path is not None and not path.is_file():
            console.print(f"[red]TLS file {path} does not exist.[/]")
            raise typer.Exit(2)
    warning = transport_warning(settings)
    if warning:
        from rich.panel import Panel

        logging.getLogger("tagpipe.tls").warning(warning)
        console.print(Panel(warning, title="no TLS", border_style="bold red"))
    return settings


def serve_central(settings: Settings, before_serve=None, demo: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Embedded NATS (unless TAGPIPE_NATS_URL), the worker process and the web server, until Ctrl-C.

    Every child is supervised: one that dies is restarted with back-off, and its state is in ``/api/health``.
    ``before_serve(supervisor, env, settings)`` adds the demo's children.
    """
    from tagpipe.bus import EmbeddedNats
    from tagpipe.processes import python_child, run_to_end, settings_env
    from tagpipe.supervisor import ChildSpec, Supervisor

    settings = tls_ready(settings)
    # Migrate in a short-lived child: this long-running process and the worker then never load Alembic (~10 MB each).
    if run_to_end(["tagpipe", "migrate"], settings_env(settings)) != 0:
        raise typer.Exit(1)
    first_start(settings, demo)
    supervisor, nats = Supervisor(), None
    previous = signal.signal(signal.SIGTERM, _interrupt)  # until the web server takes over: stop while starting too
    try:
        if settings.nats_url is None:
            # Restarts keep the store and the ports: the same configuration file, written again by spawn(). Every
            # client authenticates (bus.security); the web server reads the log for refused publishes.
            nats = EmbeddedNats(settings.data_dir / "nats", host=settings.host, port=settings.nats_port,
                                mqtt_port=settings.mqtt_port, binary=settings.nats_server_binary,
                                own_process_group=True, **embedded_security(settings))
            settings = settings.model_copy(update={"nats_log": settings.nats_log or nats.log_file})
            nats.start()
            supervisor.add(ChildSpec(name="nats-server", spawn=nats.spawn, tier=0), nats.process)
        env = settings_env(settings)
        from tagpipe.workers import known_roles

        # Every role of every feature, migrated above.
        supervisor.add(python_child("worker", ["tagpipe", "worker", "--role", ",".join(known_roles()),
                                               "--no-migrate"], env))
        if before_serve:
            before_serve(supervisor, env, settings)
        supervisor.start()  # after the demo's start-up, which replaces a simulator that cannot listen itself
        from tagpipe.server import create_app

        fastapi_app = create_app(settings, migrate=False, children=supervisor.snapshot)
        scheme = "https" if settings.https else "http"
        console.print(f"[bold green]tagpipe[/] is running: [link]{scheme}://{settings.host}:{settings.http_port}[/]"
                      f"  (API docs at /docs, NATS {settings.bus_url}, MQTT {settings.host}:{settings.mqtt_port})"
                      "  Ctrl-C stops everything.")
        serve_http(fastapi_app, settings, on_signal=supervisor.stopping)
    except KeyboardInterrupt:
        console.print("stopped while starting")
    finally:
        supervisor.stop_all()
        if nats is not None:
            nats.stop()  # when interrupted before the supervisor took it over; else it is stopped already
        signal.signal(signal.SIGTERM, previous)


def embedded_security(settings: Settings) -> dict[str, Any]:
    """The embedded nats-server's accounts and auth callout (secrets created on first start) and its TLS pair."""
    from tagpipe.bus.security import load_or_create
    from tagpipe.contracts import Subjects

    tls = (settings.tls_cert, settings.tls_key) if settings.tls_cert and settings.tls_key else None
    return {"security": (load_or_create(settings.bus_secrets_file), Subjects(settings.prefix)), "tls": tls}


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def serve_http(fastapi_app, settings: Settings, on_signal=None) -> None:  # type: ignore[no-untyped-def]
    """Serve until SIGINT, SIGTERM or SIGHUP, then return, so the caller's clean-up (children, nats-server) runs.

    uvicorn would re-raise the signal after its shutdown and end the process before any ``finally`` block.
    ``on_signal`` is called first (the supervisor then restarts nothing more).
    """
    import uvicorn

    tls = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)} if settings.https else {}
    server = uvicorn.Server(uvicorn.Config(fastapi_app, host=settings.host, port=settings.http_port,
                                           log_level="warning", **tls))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]

    def stop(*_: object) -> None:
        if on_signal is not None:
            on_signal()
        server.force_exit = server.should_exit  # a second Ctrl-C does not wait for open connections
        server.should_exit = True

    # SIGHUP too: the children run in their own process groups, so a closed terminal reaches only this process.
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def first_start(settings: Settings, demo: bool) -> None:
    """Refuse a non-loopback address with no admin; else make sure somebody can log in, and say how."""
    if settings.auth == "off" and not settings.loopback:
        console.print(f"[red]TAGPIPE_AUTH=off is only allowed on a loopback address, not {settings.host}.[/]")
        raise typer.Exit(2)
    from tagpipe.auth.bootstrap import NoAdmin, prepare

    try:
        start = prepare(settings, demo=demo)
    except NoAdmin as e:
        console.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    if start.password:
        console.print(f"Created the admin [bold]{start.username}[/] with the password [bold]{start.password}[/] "
                      "(shown once; change it under Account).", soft_wrap=True)
    if start.link:
        console.print(f"Log in once, without a password, at: [link]{start.link}[/]", soft_wrap=True)


@app.command()
def up(data_dir: DataDir = None, http_port: HttpPort = None, nats_port: NatsPort = None,
       mqtt_port: MqttPort = None, tls: Tls = None, tls_cert: TlsCert = None, tls_key: TlsKey = None,
       verbose: Verbose = False) -> None:
    """Run the central side: embedded NATS (JetStream + MQTT), the web UI and API, the ingest and fleet workers."""
    _logging(verbose)
    serve_central(_settings(data_dir, http_port, nats_port, mqtt_port, tls, tls_cert, tls_key))


@app.command()
def demo(data_dir: DataDir = None, http_port: HttpPort = None, nats_port: NatsPort = None,
         mqtt_port: MqttPort = None,
         plant: Annotated[str, typer.Option(help="Simulated plant: press (one Modbus press) or mixed "
                                                 "(one PLC of every protocol).")] = "press",
         tls: Tls = None, tls_cert: TlsCert = None, tls_key: TlsKey = None, verbose: Verbose = False) -> None:
    """Run ``up`` plus simulated PLCs (a press, or one of every protocol) and a local edge agent: live data in seconds."""  # noqa: E501 - typer lists this line as the command's help
    from tagpipe.demo import start_demo

    _logging(verbose)
    settings = _settings(data_dir, http_port, nats_port, mqtt_port, tls, tls_cert, tls_key)
    serve_central(settings, before_serve=lambda sup, env, ready: start_demo(ready, sup, env, plant), demo=True)


@app.command()
def edge(server: Annotated[str, typer.Option(help="Central server URL, e.g. http://host:8080")],
         edge_id: Annotated[str, typer.Option(help="This gateway's id (letters, digits, - and _).")],
         transport: Annotated[str, typer.Option(help="nats (default: JetStream acks) or mqtt (QoS 1).")] = "nats",
         nats_url: Annotated[str | None,
                             typer.Option("--nats", help="NATS URL; default nats://<server host>:4222")] = None,
         mqtt_url: Annotated[str | None,
                             typer.Option("--mqtt", help="MQTT URL; default mqtt://<server host>:1883")] = None,
         prefix: Annotated[str, typer.Option(help="Topic prefix (the seed used 'vexplor').")] = "tagpipe",
         data_dir: Annotated[Path | None, typer.Option(help="Outbox and config cache.")] = None,
         heartbeat: Annotated[float, typer.Option(help="Heartbeat interval in seconds.")] = 30.0,
         config_poll: Annotated[float, typer.Option(help="Config poll interval in seconds.")] = 30.0,
         company_code: Annotated[str, typer.Option(help="Passed to hooks as context['company_code'].")] = "",
         provisioning_key: Annotated[str | None, typer.Option(
             envvar="TAGPIPE_PROVISIONING_KEY", help="Ask for credentials with this key (from the Fleet page or "
             "tagpipe fleet key create) when the data directory holds none; an admin approves the edge.")] = None,
         ca: Annotated[Path | None, typer.Option(
             "--ca", help="CA certificate (PEM) that verifies the server's TLS (HTTP, NATS, MQTT), e.g. the server's "
                          "<data dir>/tls/ca.pem after tagpipe up --tls self-signed; default: the system's "
                          "trusted authorities. Verification is never skipped.")] = None,
         name: Annotated[str, typer.Option(help="What to call this edge when it asks for credentials.")] = "",
         verbose: Verbose = False) -> None:
    """Run an edge agent: poll the PLCs in the server's config for this edge, forward every value exactly once.

    It logs in with its own credentials, kept in its data directory (credentials.json, mode 0600): asked for once
    with --provisioning-key, or placed there by an admin (tagpipe fleet add)."""
    from tagpipe.edge import EdgeAgent, EdgeSettings

    _logging(verbose)
    if transport not in ("nats", "mqtt"):
        raise typer.BadParameter("expected nats or mqtt", param_hint="--transport")
    s = EdgeSettings(server=server, edge_id=edge_id, transport=transport, nats_url=nats_url, mqtt_url=mqtt_url,
                     prefix=prefix, data_dir=data_dir or Path(f"tagpipe-edge-{edge_id}"), heartbeat_s=heartbeat,
                     config_poll_s=config_poll, company_code=company_code, provisioning_key=provisioning_key,
                     ca=ca, name=name)
    try:
        agent = EdgeAgent(s)
    except ValueError as e:  # an unreadable --ca
        raise typer.BadParameter(str(e), param_hint="--ca") from None
    gctune.settle()
    _run_until_signal(agent.run())


@app.command()
def server(data_dir: DataDir = None, http_port: HttpPort = None, tls: Tls = None, tls_cert: TlsCert = None,
           tls_key: TlsKey = None,
           migrate: Annotated[bool, typer.Option(help="Upgrade the database schema before starting.")] = True,
           verbose: Verbose = False) -> None:
    """Run only the web UI and REST API (against TAGPIPE_NATS_URL and TAGPIPE_DATABASE_URL)."""
    from tagpipe.server import create_app

    _logging(verbose)
    settings = tls_ready(_settings(data_dir, http_port, None, None, tls, tls_cert, tls_key))
    if not settings.loopback:  # scale-out: refuse to listen beyond this machine with nobody able to log in
        from tagpipe.auth.bootstrap import NoAdmin, prepare

        try:
            prepare(settings)
        except NoAdmin as e:
            console.print(f"[red]{e}[/]")
            raise typer.Exit(2) from None
    serve_http(create_app(settings, migrate=migrate), settings)


@app.command()
def migrate(data_dir: DataDir = None, verbose: Verbose = False) -> None:
    """Upgrade the database (TAGPIPE_DATABASE_URL, or SQLite in the data directory) to this version's schema."""
    from tagpipe.db import upgrade

    _logging(verbose)
    upgrade(_settings(data_dir, None, None, None).db_url)


@app.command()
def worker(role: Annotated[str, typer.Option(help="Comma-separated roles (default: every role of every feature: "
                                                   "ingest, fleet, ...).")] = "",
           data_dir: DataDir = None,
           migrate: Annotated[bool, typer.Option(help="Upgrade the database schema before starting.")] = True,
           verbose: Verbose = False) -> None:
    """Run worker roles (JetStream consumers); run N copies on N machines to scale out."""
    _logging(verbose)
    settings = _settings(data_dir, None, None, None)
    _nats_without_websockets(settings.bus_url)
    from tagpipe.workers import known_roles, run_workers

    roles = [r.strip() for r in role.split(",") if r.strip()] or known_roles()
    _run_until_signal(run_workers(settings, roles, migrate=migrate))


def _nats_without_websockets(url: str) -> None:
    """Import nats-py without aiohttp unless ``url`` names a WebSocket server.

    nats-py imports aiohttp whenever it is installed (NiceGUI needs it), only for its WebSocket transport: ~10 MB in
    the worker, which uses nothing else of it. aiohttp is hidden while nats-py loads (it then counts WebSockets as
    unavailable) and importable again afterwards.
    """
    if "ws://" in url or "wss://" in url or "nats" in sys.modules or "aiohttp" in sys.modules:
        return
    sys.modules["aiohttp"] = None  # type: ignore[assignment]  # the import raises ImportError
    try:
        import nats.aio.transport  # noqa: F401
    finally:
        del sys.modules["aiohttp"]


def _run_until_signal(coro) -> None:  # type: ignore[no-untyped-def]
    """Run until SIGINT or SIGTERM, then cancel cleanly (the outbox is closed, nothing half-written)."""

    async def main() -> None:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()

        def stop() -> None:
            # Again every half second until it ends: a library may swallow one cancellation (asyncio.wait_for
            # in Python 3.11 does when its future completes at the same moment), which would leave a loop running.
            if not task.done():
                task.cancel()
                loop.call_later(0.5, stop)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())


# Commands no feature is needed for: the edge agent on a gateway imports no central code at all.
CORE = frozenset({"up", "demo", "edge", "server", "migrate", "worker"})


def main() -> None:
    """The ``tagpipe`` entry point: the core commands plus every feature's commands (``tagpipe user ...``)."""
    if len(sys.argv) < 2 or sys.argv[1] not in CORE:
        from tagpipe.features import FEATURES

        for feature in FEATURES:
            if feature.cli:
                app.add_typer(feature.cli())  # its commands and groups keep their own names (tagpipe user ...)
        from tagpipe.db.cli import app as db_app

        app.add_typer(db_app, name="db")
    app()


if __name__ == "__main__":
    main()
