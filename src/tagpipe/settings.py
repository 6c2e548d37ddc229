"""One settings class for every process: environment variables ``TAGPIPE_*`` and ``tagpipe.toml``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, IPvAnyNetwork
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
    database_url: str | None = Field(None, description="SQLAlchemy URL; default is SQLite in data_dir.")
    host: str = Field("127.0.0.1", description="Address the web server and embedded NATS bind to.")
    http_port: int = Field(8080, description="Port of the REST API and web UI.")
    nats_port: int = Field(4222, description="Client port of the embedded nats-server.")
    mqtt_port: int = Field(1883, description="MQTT listener port of the embedded nats-server.")
    nats_url: str | None = Field(None, description="External NATS cluster; when set no nats-server is started.")
    nats_server_binary: str | None = Field(None, description="Path of a nats-server binary to use instead of the bundled one.")
    prefix: str = Field("tagpipe", description="Topic prefix: {prefix}/devices/{edge_id}/data (the seed used 'vexplor').")
    heartbeat_interval_s: float = Field(30.0, description="Expected edge heartbeat interval; 3 missed beats mark an edge offline.")
    stream_max_age_days: float = Field(7.0, description="How long the device stream keeps messages for redelivery.")
    device_networks: list[IPvAnyNetwork] = Field(
        default_factory=list, description="Networks whose devices the server may connect to (Test connection, OPC UA "
        "browse) and that saved connections may name, e.g. [\"10.1.0.0/16\"]; hosts must then be IP addresses. "
        "Empty: any device.")

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
    def bus_url(self) -> str:
        return self.nats_url or f"nats://{self.host}:{self.nats_port}"
