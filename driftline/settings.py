"""All of Driftline's configuration, in one typed object.

Built once at an entry point (``Settings()`` reads ``DRIFTLINE_*`` variables, nested with ``__``) and passed
down. This is the only module that reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from driftline.errors import ConfigError

DEFAULT_WEBHOOK_TOKEN = "driftline-local-token"  # the repository's own: loopback only (trainer/app.py)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    """How to reach Kafka, and under which names."""

    bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka brokers to connect to first, `host:port` separated by commas"
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how clients talk to the brokers: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`); required by the SASL_ protocols"
    )
    sasl_username: str | None = Field(None, description="SASL user name; required by the SASL_ protocols")
    sasl_password: SecretStr | None = Field(None, description="SASL password (secret); required by the SASL_ protocols")
    ssl_cafile: Path | None = Field(None, description="PEM file of the CA that signed the brokers' certificates (SSL)")
    ssl_certfile: Path | None = Field(None, description="PEM client certificate, for brokers that require one (SSL)")
    ssl_keyfile: Path | None = Field(None, description="PEM private key of `ssl_certfile` (SSL)")
    topic_prefix: str = Field("driftline.", description="prefix of every topic name; lets deployments share a cluster")
    records_partitions: int = Field(
        6, ge=1, description="partitions of the records topic (at most this many workers share the stream)"
    )
    labels_partitions: int = Field(6, ge=1, description="partitions of the labels topic")
    predictions_partitions: int = Field(6, ge=1, description="partitions of the predictions topic")
    dead_letter_partitions: int = Field(3, ge=1, description="partitions of the dead-letter topic")
    replication_factor: int = Field(
        1, ge=1, description="copies of each partition when `driftline topics create` creates a topic (at most the "
        "brokers; 3 on a 3-broker cluster)",
    )  # fmt: skip
    request_timeout_ms: int = Field(
        30_000, ge=1000, description="milliseconds an admin request (topics, offsets, lag) may wait for a broker"
    )

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_") and (
            self.sasl_mechanism is None or self.sasl_username is None or self.sasl_password is None
        ):
            raise ValueError(
                f"security_protocol={self.security_protocol} needs sasl_mechanism, sasl_username and sasl_password"
            )
        return self


class RedisSettings(_Section):
    """Where predictions are written."""

    url: str = Field("redis://127.0.0.1:6379/0", description="Redis, or with `cluster` any node of a Redis Cluster; "
                     "`rediss://` for TLS (the server's certificate is then verified against `ssl_ca_certs`)")
    username: str | None = Field(None, description="Redis ACL user the clients log in as (with `password`); none: "
                                 "Redis's `default` user")
    password: SecretStr | None = Field(None, description="Redis AUTH password (secret); none on loopback by default")
    ssl_ca_certs: Path | None = Field(None, description="PEM file of the CA that signed Redis's certificate "
                                      "(`rediss://` only); none: the system's CAs")
    ssl_certfile: Path | None = Field(None, description="PEM client certificate, for a Redis that requires one "
                                      "(`rediss://` only)")
    ssl_keyfile: Path | None = Field(None, description="PEM private key of `ssl_certfile` (`rediss://` only)")
    key_prefix: str = Field("driftline:", description="prefix of every Redis key; a prediction is `<prefix>pred:<id>`")
    prediction_ttl_seconds: int = Field(
        7 * 24 * 3600, ge=1, description="seconds a prediction stays in Redis after it was written (default 7 days)"
    )
    cluster: bool = Field(False, description="`url` is a node of a Redis Cluster: each batch is written to the "
                          "primaries that own its keys' hash slots, one pipeline per primary")
    replica_acks: int = Field(0, ge=0, description="a batch counts as written only once this many replicas of every "
                              "primary have it (Redis WAIT), else it is written again: 1 loses nothing when a primary "
                              "fails over; 0 does not wait (a failover can lose the last writes)")
    replica_ack_timeout_ms: int = Field(1000, ge=1, description="longest WAIT for `replica_acks` replicas per attempt")

    @property
    def tls(self) -> bool:
        """Clients talk TLS to Redis (a `rediss://` url)."""
        return self.url.startswith("rediss://")

    @model_validator(mode="after")
    def _tls_files_need_tls(self) -> RedisSettings:
        given = [name for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile") if getattr(self, name) is not None]
        if given and not self.tls:
            raise ValueError(f"{', '.join(given)} set but url {self.url!r} is not rediss:// (TLS)")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together: set both or neither")
        if self.username is not None and self.password is None:
            raise ValueError(f"username {self.username!r} needs a password")
        return self


class RegistrySettings(_Section):
    """Where model versions live (a shared filesystem path in production)."""

    root: Path = Field(
        Path(".driftline/registry"), description="folder of the model registry; in production a path every host shares"
    )
    model_name: str = Field("driftline", description="name of the model under `root` (its versions and aliases)")
    signing_key: Path | None = Field(
        None, description="Ed25519 private key (PEM) the trainer signs each version's manifest with (`driftline keys "
        "create`); the trainer's alone. With neither key set: `<stack data_dir>/keys/registry.key` if it exists, else "
        "versions are unsigned",
    )  # fmt: skip
    public_key: Path | None = Field(
        None, description="Ed25519 public key (PEM) workers and `models promote` check each version's signature "
        "against: unsigned or wrongly signed versions are refused. With neither key set: `<stack data_dir>/keys/"
        "registry.pub` if it exists; unset: the signing key's own, else versions are not checked",
    )  # fmt: skip


class ProcessorSettings(_Section):
    """The faust worker: micro-batching, metrics, drift windows."""

    group_id: str | None = Field(None, description="consumer group (faust app id); default '<topic prefix>processor'")
    batch_max: int = Field(1000, ge=1, description="most records in one micro-batch")
    batch_within_seconds: float = Field(0.05, gt=0, description="longest wait to fill a micro-batch")
    metrics_host: str = Field("127.0.0.1", description="address the workers' /metrics server binds")
    metrics_port_base: int = Field(6066, ge=1, le=65535, description="worker i serves /metrics on base + i")
    drift_window: int = Field(5000, ge=100, description="most recent scored records per worker the drift PSI is over")
    drift_min_records: int = Field(
        1000, ge=1, description="scored records a worker's drift window needs before its PSI gauges are set"
    )
    model_reconcile_seconds: float = Field(
        10.0, gt=0, description="how often a worker checks the registry's production alias (besides updates)"
    )
    pin_cpu: bool = Field(False, description="pin worker i to the i-th available CPU (wrapping around)")
    error_change_delta: float = Field(
        1e-8, gt=0, lt=1, description="ADWIN's delta on each version's labeled error stream: expected false alarms "
        "at most 5 * delta per 32 stationary labeled records (driftline/change.py)",
    )  # fmt: skip
    error_change_min_window: int = Field(5, ge=1, description="fewest labeled records either side of an ADWIN cut")
    error_change_grace: int = Field(10, ge=0, description="labeled records of a version before its ADWIN tests")


class TrainerSettings(_Section):
    """The retrain service."""

    host: str = Field("127.0.0.1", description="address the trainer's HTTP server (webhook, /status, /metrics) binds")
    port: int = Field(8088, ge=1, le=65535, description="port of the trainer's HTTP server")
    webhook_token: SecretStr = Field(
        SecretStr(DEFAULT_WEBHOOK_TOKEN), description="bearer token Alertmanager sends to /alerts (secret); the "
        "default is for loopback only: a trainer bound elsewhere refuses to start with it",
    )  # fmt: skip
    webhook_token_file: Path | None = Field(
        None, description="file holding the webhook token (docker secrets style: surrounding whitespace ignored); "
        "set it instead of `webhook_token`",
    )  # fmt: skip
    cooldown_seconds: float = Field(
        300.0, ge=0, description="seconds after a retrain during which alerts start no new one (settle rounds aside)"
    )
    promote_margin: float = Field(
        0.005, ge=0, description="the lower bound of the 95% interval of the challenger's holdout accuracy gain over "
        "the champion (paired bootstrap) must exceed this",
    )  # fmt: skip
    promote_now_gain: float = Field(
        0.05, ge=0, le=1, description="a retrain's winner whose holdout accuracy gain over the champion has a 95% "
        "lower bound at least this is promoted at once (the champion is clearly broken); a smaller win becomes "
        "staging and waits for a shadow trial on live labels",
    )  # fmt: skip
    staging_min_records: int = Field(
        500, ge=10, description="fewest labeled records scored by both staging and production (the shadow) before "
        "the trainer may promote or discard staging",
    )  # fmt: skip
    staging_max_records: int = Field(
        20_000, ge=10, description="paired labeled records after which a staging version not shown better is discarded"
    )
    staging_alpha: float = Field(
        0.05, gt=0, lt=1, description="the staging trial's error bound: the chance that it promotes a version no "
        "better than production (or discards one no worse) stays below this however often it is judged (a "
        "sequential test on the records only one of the two versions got right; paired: the same records scored by "
        "both)",
    )  # fmt: skip
    staging_check_seconds: float = Field(5.0, gt=0, description="how often the trainer judges the staging trial")
    retrain_window: int = Field(
        20_000, ge=100, description="most labeled records a retrain learns from (the newest, after the change point)"
    )
    change_lookback_seconds: float = Field(
        15.0, ge=0, description="an alert that names no change point: its change is taken to begin this long before it"
    )
    settle_rounds: int = Field(2, ge=0, description="retrains again from the same change point after a promotion")
    settle_seconds: float = Field(20.0, gt=0, description="seconds between two settle rounds (labels keep arriving)")
    retrain_min_rows: int = Field(2000, ge=50, description="fewer recent labeled records than this: skip")
    min_holdout_rows: int = Field(
        30, ge=1, description="fewest test rows on which a first model (no production yet) must beat the "
        "majority-class baseline to be promoted; with fewer, it is registered but not promoted",
    )  # fmt: skip
    holdout_fraction: float = Field(0.2, gt=0, lt=0.5, description="newest share of the recent data for the gate")
    max_epochs: int = Field(200, ge=1, description="most epochs of one search trial (early stopping usually stops it)")
    search_budget_seconds: float = Field(
        40.0, gt=0, description="wall time of a retrain's hyperparameter search; the trial running at its end is cut"
    )
    first_search_budget_seconds: float = Field(
        15.0, gt=0, description="search budget of the first retrain from a change point, the one that ends the "
        "loss; its settle rounds, and retrains without a change point, take search_budget_seconds",
    )  # fmt: skip
    warm_start: bool = Field(False, description="also try a challenger started from the champion's weights")
    bootstrap_resamples: int = Field(1000, ge=100, description="resamples of every bootstrap interval (the gate's)")
    lag_interval_seconds: float = Field(
        5.0, gt=0, description="how often the trainer reads the processor groups' committed offsets and the log ends "
        "for driftline_consumer_group_lag (lag that outlives the workers)",
    )  # fmt: skip
    seed: int = Field(7, description="seed of a retrain's split, weights and bootstrap resamples (reproducible runs)")

    def token(self) -> str:
        """The webhook token: the content of ``webhook_token_file`` if set, else ``webhook_token``. (Checked here,
        not by a validator: a validation error would print the token it was given.)"""
        if self.webhook_token_file is None:
            return self.webhook_token.get_secret_value()
        if "webhook_token" in self.model_fields_set:
            raise ConfigError("set trainer.webhook_token or trainer.webhook_token_file, not both")
        try:
            token = self.webhook_token_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"trainer.webhook_token_file {self.webhook_token_file}: cannot read it: {exc}") from exc
        if not token:
            raise ConfigError(f"trainer.webhook_token_file {self.webhook_token_file} is empty: expected the token")
        return token


class ServeSettings(_Section):
    """`driftline serve`: HTTP scoring (`POST /v1/predict`), concurrent requests batched together."""

    host: str = Field("127.0.0.1", description="address the HTTP scoring server binds")
    port: int = Field(8000, ge=1, le=65535, description="port of the HTTP scoring server")
    max_batch_size: int = Field(
        256, ge=1, description="most records in one model call; a batch closes as soon as it holds this many "
        "(a request with more records than this is scored alone, in one call)",
    )  # fmt: skip
    max_wait_ms: float = Field(
        2.0, ge=0, description="longest a request waits for others to join its batch (TF Serving's batch timeout)"
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="largest request body; a larger one answers 413 (`too_large`)"
    )


class StackSettings(_Section):
    """The local stack started by `driftline stack up`."""

    data_dir: Path = Field(Path(".driftline/stack"), description="data, logs and pid files of the local stack")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "driftline", description="downloaded Kafka jars, shared by every checkout"
    )
    kafka_version: str = Field("3.9.2", description="Apache Kafka release the stack fetches and runs (3.x, KRaft)")
    kafka_port: int = Field(9092, description="port of the stack's Kafka broker (the first node's in a cluster)")
    kafka_controller_port: int = Field(9094, description="port of the stack's KRaft controller listener")
    kafka_heap: str = Field("512m", description="JVM heap of each Kafka node (-Xms and -Xmx), e.g. `512m`, `2g`")
    kafka_brokers: int = Field(
        1, ge=1, le=9, description="Kafka nodes, each a KRaft broker and controller (`driftline stack up --brokers "
        "3`); node i (from 0) listens on kafka_port + 10 i, its controller on kafka_controller_port + 10 i",
    )  # fmt: skip
    redis_port: int = Field(6379, description="port of the stack's Redis (the first node's in a cluster)")
    redis_cluster: bool = Field(
        False, description="Redis as a cluster of 3 primaries and 3 replicas (`driftline stack up --redis-cluster`); "
        "node i (from 0) listens on redis_port + i, its cluster bus on that + 10000",
    )  # fmt: skip
    secure: bool = Field(
        False, description="`driftline stack up --secure`: Kafka on SASL_SSL (SCRAM-SHA-512) and Redis with an ACL "
        "user and TLS, under a CA made at set-up; the client settings go to `<data_dir>/secure.env`",
    )  # fmt: skip
    prometheus_port: int = Field(9090, description="port of the stack's Prometheus")
    alertmanager_port: int = Field(9093, description="port of the stack's Alertmanager")
    health_timeout_seconds: float = Field(
        90.0, gt=0, description="seconds `driftline stack up` waits for every service to be healthy"
    )
    install_missing: bool = Field(True, description="apt-get install missing Debian packages when root")


class Settings(BaseSettings):
    """Everything Driftline can be told. Env: ``DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS=...`` and so on."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFTLINE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    registry: RegistrySettings = RegistrySettings()
    processor: ProcessorSettings = ProcessorSettings()
    trainer: TrainerSettings = TrainerSettings()
    serve: ServeSettings = ServeSettings()
    stack: StackSettings = StackSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="least severe log records written (`-v` on a command: DEBUG)"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="`json`: one object per line (time, level, logger, message, extras, exception) for a "
        "log pipeline; `text`: one readable line",
    )  # fmt: skip

    @model_validator(mode="after")
    def _no_unknown_env(self) -> Settings:
        # pydantic-settings ignores unknown top-level DRIFTLINE_* variables; a typo should not pass silently.
        known = {name.upper() for name in type(self).model_fields}
        unknown = sorted(
            key
            for key in os.environ
            if key.upper().startswith("DRIFTLINE_")
            and key.upper().removeprefix("DRIFTLINE_").split("__")[0] not in known
        )
        if unknown:
            raise ValueError(
                f"unknown Driftline settings in the environment: {unknown}; known sections: {sorted(known)}"
            )
        return self


def settings_markdown() -> str:
    """The settings as a Markdown table (environment variable, default, description), for the README."""
    rows = ["| variable | default | what |", "|---|---|---|"]
    for section_name, section_field in Settings.model_fields.items():
        model = section_field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for name, field in model.model_fields.items():
                default = field.default
                shown = "(secret)" if isinstance(default, SecretStr) else ("" if default is None else str(default))
                shown = shown.replace(str(Path.home()), "~")
                variable = f"DRIFTLINE_{section_name.upper()}__{name.upper()}"
                rows.append(f"| `{variable}` | `{shown}` | {field.description or ''} |".replace("``", ""))
        else:
            described = section_field.description or ""
            rows.append(f"| `DRIFTLINE_{section_name.upper()}` | `{section_field.default}` | {described} |")
    return "\n".join(rows)
