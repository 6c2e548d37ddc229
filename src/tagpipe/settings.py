"""One settings class for every process: environment variables ``TAGPIPE_*`` and ``tagpipe.toml``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field, IPvAnyNetwork, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Where tagpipe stores data, which ports it serves and which bus it uses."""

    model_config = SettingsConfigDict(env_prefix="TAGPIPE_", toml_file="tagpipe.toml", extra="ignore")

    data_dir: Path = Field(Path("tagpipe-data"), description="Directory for the SQLite database and the NATS store.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default is SQLite in data_dir. `tagpipe db "
                                                       "copy` moves an installation from one to another.")
    host: str = Field("127.0.0.1", description="Address the web server and embedded NATS bind to.")
    http_port: int = Field(8080, description="Port of the REST API and web UI.")
    nats_port: int = Field(4222, description="Client port of the embedded nats-server.")
    mqtt_port: int = Field(1883, description="MQTT listener port of the embedded nats-server.")
    nats_url: str | None = Field(None, description="External NATS cluster; when set no nats-server is started.")
    nats_server_binary: str | None = Field(None, description="Path of a nats-server binary to use instead of the "
                                                             "bundled one.")
    prefix: str = Field("tagpipe", description="Topic prefix: {prefix}/devices/{edge_id}/data "
                                               "(the seed used 'vexplor').")
    heartbeat_interval_s: float = Field(30.0, description="Expected edge heartbeat interval; 3 missed beats mark an "
                                                          "edge offline.")
    stream_max_age_days: float = Field(7.0, description="How long the device stream keeps messages for redelivery.")
    events_max_age_hours: float = Field(24.0, description="How long the events stream keeps events (features' "
                                                          "durable consumers must catch up within it).")
    events_max_mb: int = Field(1024, description="Size limit of the events stream; the oldest events go first.")
    event_partitions: int = Field(16, ge=1, le=1024, description="Stored-value events are split by tag id into this "
                                                                 "many partitions, so N copies of a role share them.")
    # What ingest accepts (contracts.data); anything else is dead-lettered with the reason.
    ingest_not_before: dt.datetime = Field(dt.datetime(1990, 1, 1, tzinfo=dt.UTC),
                                           description="Data timestamped earlier than this is dead-lettered.")
    ingest_max_ahead_s: float = Field(86_400.0, ge=0, description="Data timestamped further ahead of the receiving "
                                                                  "worker's clock is dead-lettered.")
    ingest_merge_s: float = Field(30.0, gt=0, le=3600, description="How often, under load, values staged by ingest "
                                  "move into the per-tag tables (queryable before; fewer, larger moves cost less).")
    ingest_max_tags: int = Field(5_000, ge=1, description="Most tag values one data message may carry.")
    ingest_max_value_bytes: int = Field(65_536, ge=16, description="Largest string, list or object value (UTF-8 "
                                                                   "bytes of its JSON) one tag may carry.")
    max_deliveries: int = Field(5, ge=1, le=100, description="How often a worker tries a message (redeliveries "
                                                             "included) before it is dead-lettered.")
    dead_letters_keep: int = Field(10_000, ge=1, description="Dead letters kept; the oldest go first (counts stay).")

    @field_validator("ingest_not_before")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # a time without an offset is UTC
    device_networks: list[IPvAnyNetwork] = Field(
        default_factory=list, description="Networks whose devices the server may connect to (Test connection, OPC UA "
        "browse) and that saved connections may name, e.g. [\"10.1.0.0/16\"]; hosts must then be IP addresses. "
        "Empty: any device.")
    auth: Literal["on", "off"] = Field("on", description="off: every request acts as an admin, with no log in; "
                                                          "refused unless host is a loopback address (benchmarks).")
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="How long a browser session lasts after log in.")
    bus_secrets: Path | None = Field(None, description="File with the NATS passwords of the central processes and "
                                     "the key that signs the auth callout's answers; default bus-secrets.json in "
                                     "data_dir, created mode 0600 by tagpipe up. Every central machine needs it.")
    nats_log: Path | None = Field(None, description="nats-server's log, read for refused publishes and "
                                  "subscriptions shown per edge on the Fleet page; default: the embedded server's.")
    secret_key: str | None = Field(None, description="Key that encrypts stored secrets (urlsafe base64 of 32 bytes); "
                                                     "default: the file secret.key in data_dir, created mode 0600.")
    tls_cert: Path | None = Field(None, description="PEM certificate (with its chain) that the web server, the "
                                                    "embedded NATS client port and its MQTT listener serve; with "
                                                    "tls_key, HTTPS is on. Central processes trust it as their CA.")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert.")
    tls: Literal["off", "self-signed"] = Field(
        "off", description="self-signed: unless tls_cert and tls_key are set, serve HTTPS with a certificate from a "
                           "CA made for this installation in data_dir/tls "
                           "(edges trust it with --ca data_dir/tls/ca.pem).")
    tls_hosts: list[str] = Field(default_factory=list, description="Extra host names and IP addresses the self-signed "
                                 "certificate is valid for (besides host, localhost, 127.0.0.1, ::1 and this machine's "
                                 "name), e.g. [\"plant-server.local\", \"10.1.0.5\"].")
    certificate_dir: Path | None = Field(
        None, description="A directory whose certificate and key files connections may name, besides the ones "
                          "uploaded into tagpipe's store (Configuration → Certificates). Nothing outside it is read.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'tagpipe.db').resolve()}"

    @property
    def loopback(self) -> bool:
        """Whether the web server and the bus bind to this machine only."""
        import ipaddress

        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def https(self) -> bool:
        """Whether the web server speaks TLS (a certificate and its key are configured)."""
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def bus_secrets_file(self) -> Path:
        return self.bus_secrets or self.data_dir / "bus-secrets.json"

    @property
    def bus_url(self) -> str:
        return self.nats_url or f"nats://{self.host}:{self.nats_port}"
