"""Configuration: one `Settings` object, read from `ARENA_*` environment variables on demand."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

NEUTRAL_SYSTEM_MESSAGE = "You are a helpful assistant. Answer the user's question directly."


class UnresolvedKey(SecretStr):
    """ARENA_SECRET_KEY before `resolve_secret_key`: reading it is a bug, so it raises rather
    than sign or seal anything with a key no other process (or restart) would share."""

    def __init__(self) -> None:
        super().__init__("")

    def get_secret_value(self) -> str:
        raise RuntimeError(
            "ARENA_SECRET_KEY is not resolved yet: call arena.secret_key.resolve_secret_key first"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnresolvedKey)

    def __hash__(self) -> int:
        return hash(UnresolvedKey)


MIN_ADMIN_TOKEN_CHARS = 16


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_", extra="ignore")

    database_url: str = "sqlite:///./arena.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    admin_token: SecretStr | None = None
    # Secret key and several processes: unset, ARENA_SECRET_KEY stays an UnresolvedKey until
    # arena.secret_key.resolve_secret_key runs at start (a key file beside SQLite; refused on
    # PostgreSQL, where replicas must share one), so nothing is drawn or read at import time.
    secret_key: SecretStr = Field(default_factory=UnresolvedKey)
    # How long SIGTERM waits for in-flight requests (SSE battle streams) before cancelling them.
    graceful_shutdown_seconds: float = Field(default=30.0, ge=0)
    # A turn still streaming this long after its attempt started was left by a process that
    # died (no answer of ours runs that long): it is marked failed so it can be retried.
    stale_turn_seconds: float = Field(default=900.0, gt=0)
    fleet: Path | None = None
    # No cache_dir here: ARENA_CACHE_DIR belongs to serving.cache.cache_dir(), the one reader,
    # because serving/ must not import arena/.
    allow_private_endpoints: bool = False
    redis_url: str | None = None
    rate_limit_battles: str = "20/minute"
    rate_limit_votes: str = "20/minute"
    rate_limit_owners: str = "5/hour"
    min_read_seconds: float = Field(default=2.0, ge=0)
    trusted_networks: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    max_message_chars: int = Field(default=8000, ge=1)
    max_turns: int = Field(default=8, ge=1)
    max_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(default=0.7, ge=0)
    system_message: str = NEUTRAL_SYSTEM_MESSAGE
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    rating_anchor: str | None = None
    recompute_seconds: float = Field(default=60.0, gt=0)
    # A board from the first vote: where the plain MLE does not exist yet, the recompute fits
    # with this many virtual ties of every model against the mean (0: wait for the MLE).
    rating_prior: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    health_interval_seconds: float = Field(default=15.0, gt=0)
    # Verification and drift: how often approved endpoints are asked their canaries again.
    canary_interval_seconds: float = Field(default=3600.0, gt=0)
    # Exclusion rules (arena/votes/abuse.py, README "Exclusion rules"). The board test flags a
    # client whose votes are improbable under the headline board; a voter who votes as the
    # board predicts is flagged with at most this probability, however many votes they cast.
    abuse_false_positive_rate: float = Field(default=1e-4, gt=0, lt=1)
    # The burst rule: once the last hour holds at least abuse_burst_min_votes votes, a
    # network (not in trusted_networks) casting more than this share of them is flagged.
    abuse_burst_share: float = Field(default=0.5, gt=0, le=1)
    abuse_burst_min_votes: int = Field(default=200, ge=1)
    # De-duplication (arena/votes/dedup.py, README "Exclusion rules"): a prompt among the top
    # dedup_top_share of prompts by votes keeps its first max(dedup_max_votes, that share's
    # cut-off count) votes; later ones are excluded as duplicate_prompt.
    dedup_max_votes: int = Field(default=20, ge=1)
    dedup_top_share: float = Field(default=0.001, gt=0, lt=1)
    cookie_secure: bool = False
    # Operations (arena/logs.py, arena/requestid.py, docs/operations.md): log format and
    # level, the access log's client addresses (hashed by default: raw addresses are never
    # stored, so they are not printed either), and the reverse proxies whose X-Forwarded-For
    # is believed (none by default: a client could otherwise choose its own address).
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    access_log: Literal["hashed", "raw", "off"] = "hashed"
    forwarded_allow_ips: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    # Data page (/data, arena/web/data_page.py): the licence every download is published
    # under, an SPDX identifier (shown on the page and sent as a rel="license" link with
    # each download). CC-BY-4.0 by default: any reuse, commercial included, with credit.
    data_license: str = Field(
        default="CC-BY-4.0", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9.+-]+$"
    )

    # Leaderboard views (arena/leaderboard/boards.py, README "Leaderboard"): a category board
    # with fewer included votes than this is still computed and stored, but listed as hidden
    # (`shown: false`); a model with fewer included votes on a board is marked provisional.
    category_min_votes: int = Field(default=300, ge=0)
    provisional_votes: int = Field(default=300, ge=0)

    @field_validator("log_format", "log_level", "access_log", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _parse_proxies(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        networks = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(
                    f"{part!r} is not an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)"
                ) from None
        return networks

    @field_validator("trusted_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr) -> SecretStr:
        if not isinstance(value, UnresolvedKey) and not value.get_secret_value().strip():
            raise ValueError("must not be empty (unset it to use the key file beside SQLite)")
        return value

    @field_validator("admin_token")
    @classmethod
    def _check_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        # The admin API has no lockout: a short token could be guessed online.
        if value is not None and 0 < len(value.get_secret_value()) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(
                f"ARENA_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters "
                "(e.g. openssl rand -hex 24)"
            )
        return value

    @field_validator("rating_anchor")
    @classmethod
    def _check_anchor(cls, value: str | None) -> str | None:
        if value is not None:
            parse_anchor(value)
        return value

    def anchor(self) -> tuple[str, float] | None:
        return parse_anchor(self.rating_anchor) if self.rating_anchor else None


def parse_anchor(text: str) -> tuple[str, float]:
    """Parse `MODEL=RATING`; the model name may itself contain '='."""
    name, sep, rating = text.rpartition("=")
    if not sep or not name.strip():
        raise ValueError(f"anchor must look like MODEL=RATING, got {text!r}")
    try:
        value = float(rating)
    except ValueError:
        raise ValueError(f"anchor rating must be a number, got {rating!r}") from None
    return name.strip(), value
