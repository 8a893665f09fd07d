"""The arena set up to be fuzzed, and the fuzzing loop that `test_api_fuzz` and
`benchmarks/fuzz_api.py` share.

The arena runs under uvicorn in a thread on a seeded SQLite database: two operator models on
loopback fakes, an owner with an approved model, a voted battle and a snapshot, so that
generated ids sometimes hit something. Owner endpoints go through the real SSRF guard, but
its resolver says every name is a public address and every connection it allows lands on a
loopback fake: nothing generated leaves the machine.

Every operation of the OpenAPI schema is sent generated requests, valid and invalid, with the
admin token on admin routes and an owner token elsewhere; each response must pass the
schema checks (no 5xx, documented status, content type, headers and body) and, when it is
an error, be the one envelope `{"error": {"message", "type", "code"}}`.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from httpcore import AnyIOBackend, AsyncNetworkBackend, AsyncNetworkStream

from arena.app import create_app
from arena.db import make_engine
from arena.leaderboard.loop import recompute_once
from arena.migrate import upgrade
from arena.settings import Settings
from serving.fakes import FakeModel, FakeServer
from serving.guard import EndpointGuard, make_guarded_client
from serving.threaded import ThreadedServer
from tests.faults.support import ready_battle, register_models

ADMIN_TOKEN = "fuzz-admin-token"
PUBLIC_ADDRESS = "1.1.1.1"  # what the fuzzing guard says every name resolves to


class LoopbackBackend(AsyncNetworkBackend):
    """Every connection the guard allows goes to one loopback fake instead."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._inner = AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        return await self._inner.connect_tcp(
            "127.0.0.1", self.port, timeout=timeout, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        raise httpx.ConnectError("no unix sockets while fuzzing")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def resolve_public(host: str, port: int) -> list[str]:
    return [PUBLIC_ADDRESS]


@dataclass
class FuzzArena:
    url: str
    app: Any
    owner_token: str
    ids: dict[str, Any]

    def headers_for(self, path: str) -> dict[str, str]:
        token = ADMIN_TOKEN if path.startswith("/api/v1/admin") else self.owner_token
        return {"Authorization": f"Bearer {token}"}


def fuzz_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="fuzz-secret-key-0123456789",  # type: ignore[arg-type]
        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
        min_read_seconds=0,
        health_interval_seconds=3600,
        recompute_seconds=3600,
        canary_interval_seconds=3600,
        rate_limit_battles="1000000/hour",
        rate_limit_votes="1000000/hour",
        rate_limit_owners="1000000/hour",
    )


def _seed(arena: FuzzArena, owner_fake: FakeServer) -> None:
    with httpx.Client(base_url=arena.url, timeout=30) as client:
        owner = client.post("/api/v1/owners", json={"name": "Fuzz Owner"})
        assert owner.status_code == 201, owner.text
        arena.owner_token = owner.json()["token"]
        auth = {"Authorization": f"Bearer {arena.owner_token}"}
        body = {
            "name": "Owner-Model",
            "organization": "Fuzz Org",
            "license": "open",
            "base_url": "http://owner-model.example/v1",
            "api_model": owner_fake.model.served_name,
        }
        registered = client.post("/api/v1/models", json=body, headers=auth)
        assert registered.status_code == 202, registered.text
        model_id = registered.json()["id"]
        deadline = time.monotonic() + 60
        while (
            status := client.get(f"/api/v1/models/{model_id}", headers=auth).json()["status"]
        ) == "verifying":
            assert time.monotonic() < deadline, "verification did not finish"
            time.sleep(0.1)
        assert status == "verified", status
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        approved = client.post(f"/api/v1/admin/models/{model_id}/approve", json={}, headers=admin)
        assert approved.status_code == 200, approved.text
        for winner in ("A", "B", "tie"):
            battle = ready_battle(client, "")
            voted = client.post(f"/api/v1/battles/{battle}/vote", json={"winner": winner})
            assert voted.status_code == 200, voted.text
        snapshot = recompute_once(arena.app.state.sessionmaker, arena.app.state.settings)
        arena.ids = {"model_id": model_id, "battle_id": battle, "snapshot_id": snapshot}


@contextlib.contextmanager
def fuzz_arena(folder: Path) -> Iterator[FuzzArena]:
    database_url = f"sqlite:///{folder / 'fuzz.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    alpha = FakeServer(FakeModel(served_name="alpha-served", answer="Paris is the capital."))
    beta = FakeServer(FakeModel(served_name="beta-served", answer="It is **Paris**."))
    owner_fake = FakeServer(FakeModel(served_name="owner-served", weights=7))
    with alpha, beta, owner_fake:
        register_models(
            database_url,
            [
                ("Alpha-7B", alpha.base_url, "alpha-served"),
                ("Beta-3B", beta.base_url, "beta-served"),
            ],
        )
        app = create_app(fuzz_settings(database_url))
        with ThreadedServer(app, lifespan="on", timeout_graceful_shutdown=2) as server:
            guard = EndpointGuard(resolver=resolve_public)
            # Replaced before any owner endpoint exists; the unused original holds no connection.
            app.state.guarded_http = make_guarded_client(
                guard, read=10.0, backend=LoopbackBackend(owner_fake.port)
            )
            arena = FuzzArena(server.url, app, "", {})
            _seed(arena, owner_fake)
            yield arena


# --- the fuzzing loop ----------------------------------------------------------------------


def is_envelope(body: Any) -> bool:
    if not isinstance(body, dict) or set(body) != {"error"}:
        return False
    error = body["error"]
    return (
        isinstance(error, dict)
        and set(error) == {"message", "type", "code"}
        and all(isinstance(error[k], str) and error[k] for k in error)
    )


@dataclass
class Report:
    calls: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # (operation, what failed) → first example seen
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    seconds: float = 0.0
    tolerated: Counter[str] = field(default_factory=Counter)  # see DOWNLOADS

    def fail(self, operation: str, what: str, example: str) -> None:
        self.failures.setdefault((operation, what), example[:1500])


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        ignored_auth,
        negative_data_rejection,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        negative_data_rejection,
        ignored_auth,
    ]


# Downloads stream JSONL, CSV or Parquet but their routes do not document those media types yet
# (arena/exports/router.py, arena/leaderboard/router.py): an undocumented content type is
# accepted there only when it is the one the requested format calls for.
DOWNLOADS = {
    "GET /api/v1/exports/votes",
    "GET /api/v1/exports/preferences",
    "GET /api/v1/exports/snapshots",
    "GET /api/v1/snapshots/{snapshot_id}/votes",
    "GET /api/v1/leaderboard/history",
}


def _download_media_type_ok(label: str, name: str, case: Any, response: Any) -> bool:
    from arena.exports.encode import MEDIA_TYPES

    if label not in DOWNLOADS or not name.startswith("UndefinedContentType"):
        return False
    fmt = (case.query or {}).get("format", "jsonl")
    expected = MEDIA_TYPES.get(fmt)
    received = response.headers.get("content-type") or [""]  # schemathesis: lists of values
    return expected is not None and received[0].startswith(expected)


def _failures(exc: BaseException) -> list[tuple[str, str]]:
    """(type and first line, the whole message) of each failure in `exc`."""
    found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
    out = []
    for e in found:
        text = str(e).strip()
        out.append((f"{type(e).__name__}: {text.splitlines()[0][:200] if text else ''}", text))
    return out


def fuzz(
    arena: FuzzArena,
    *,
    max_examples: int,
    seed: int,
    budget_seconds: float | None = None,
    operations: list[str] | None = None,
) -> Report:
    """Send generated requests to every operation (positive, then negative data)."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import seed as hypothesis_seed
    from hypothesis import settings as hypothesis_settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_dict(arena.app.openapi())

    # As an auth provider, so that schemathesis knows the header it generates without is
    # set afterwards (its negative cases then do not count a restored token as "invalid").
    class TokenAuth:
        def get(self, case: Any, ctx: Any) -> str:
            return arena.headers_for(case.path)["Authorization"]

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": data}

    schema.auth(refresh_interval=None)(TokenAuth)
    checks = _checks()
    report = Report()
    started = time.monotonic()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if operations is not None and label not in operations:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if budget_seconds is not None and time.monotonic() - started > budget_seconds:
                break

            @hypothesis_seed(seed)
            @hypothesis_settings(
                max_examples=max_examples,
                database=None,
                deadline=None,
                derandomize=False,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                print_blob=False,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                label = f"{case.method.upper()} {case.path}"
                if case.method.upper() == "POST" and not case.operation.body:
                    # DESIGN.md: such a POST takes the body {} as JSON (the cross-site guard
                    # refuses a state-changing call that is not JSON); the schema omits it.
                    case.body, case.media_type = {}, "application/json"
                response = case.call(base_url=arena.url, session=session, timeout=30)
                headers = dict(case.headers or {})
                report.calls += 1
                report.statuses[response.status_code] += 1
                example = f"{case.as_curl_command(headers=headers)}\n→ {response.status_code} {response.text[:400]}"
                if response.status_code >= 400:
                    try:
                        body = response.json()
                    except ValueError:
                        body = None
                    if not is_envelope(body):
                        report.fail(
                            label, f"error {response.status_code} not in the envelope", example
                        )
                try:
                    case.validate_response(response, checks=checks, headers=headers)
                except (AssertionError, BaseExceptionGroup) as exc:
                    for name, detail in _failures(exc):
                        if _download_media_type_ok(label, name, case, response):
                            report.tolerated[label] += 1
                        else:
                            report.fail(label, name, f"{detail[:600]}\n{example}")

            # Unsatisfiable: nothing to make invalid (an operation without parameters).
            with contextlib.suppress(Unsatisfiable):
                run()
    session.close()
    report.seconds = time.monotonic() - started
    return report
