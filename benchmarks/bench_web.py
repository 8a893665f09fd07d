"""Web benchmark: page weight, first streamed token on the page vs the API, leaderboard load,
an owner's registration verified on the owners page.

    .venv/bin/python -m benchmarks.bench_web [--runs 10] [--requests 400] [--concurrency 8]

Everything runs on loopback: the app under uvicorn (SQLite in a temporary directory), two
fake model servers (serving/fakes.py) with a fixed first-token delay, Debian's chromium
through Playwright. Writes benchmarks/results/web.json.

* ``page_weight``: bytes of HTML, CSS and JS the battle page loads (uncompressed, as served);
  ``page_weights`` the same for the owners and admin pages, and for /data with a full page of
  snapshots (the votes below are seeded in that many rounds, one snapshot each).
* ``data_page``: server time of GET /data over those votes and snapshots (its size estimates
  encode a sample of each download on every view).
* ``owner_verify``: on /owners, from pressing "Register and verify" to the page showing the
  model verified (the page's own clock, as it prints it), against a fast fake endpoint.
* ``ttft``: time to the first streamed token of a new battle, measured the way a voter sees
  it (click Send → first text in a pane, in the browser's clock) and the way a program sees
  it (POST /battles, POST /messages → first delta event), alternating, same servers.
* ``leaderboard``: server time of GET /leaderboard (from the ASGI call to the last body
  byte, measured by a wrapper around the app) and the client's latency, for a bounded number
  of requests from a few concurrent clients, over a board seeded with votes.

Timings depend on the machine's load: the JSON records the load average next to them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from playwright.sync_api import Page, sync_playwright
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arena.settings import Settings
from arena.web.data_page import PAGE as DATA_PAGE
from benchmarks.common import RESULTS, describe, loadavg, migrated, write_results
from serving.fakes import FakeModel, FakeServer
from tests.battles.support import Backends, register
from tests.web.web_support import BROWSER_ARGS, CHROMIUM, LiveServer, seed_history

FIRST_TOKEN_DELAY = 0.05
ANSWER = "Paris is the capital of France, and it has been for a very long time. " * 4


class ServerTimer:
    """ASGI wrapper: seconds from the call to the last body chunk, per path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.times: dict[str, list[float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.times.setdefault(scope["path"], []).append(time.perf_counter() - start)

        await self.app(scope, receive, timed_send)


def page_weight(page: Page, base: str, path: str = "/") -> dict[str, Any]:
    sizes: dict[str, int] = {}
    kinds: dict[str, str] = {}

    def on_response(response: Any) -> None:
        kind = response.request.resource_type
        if kind in ("document", "stylesheet", "script"):
            sizes[response.url] = len(response.body())
            kinds[response.url] = kind

    page.on("response", on_response)
    page.goto(base + path, wait_until="networkidle")
    page.remove_listener("response", on_response)
    by_kind = {"html": 0, "css": 0, "js": 0}
    names = {"document": "html", "stylesheet": "css", "script": "js"}
    for url, size in sizes.items():
        by_kind[names[kinds[url]]] += size
    files = {url.replace(base, "").split("?")[0]: size for url, size in sorted(sizes.items())}
    return {**by_kind, "total": sum(by_kind.values()), "files": files, "target_total": 100_000}


PAGE_TTFT = """
async () => {
  const panes = [...document.querySelectorAll('.pane-body')];
  const t0 = performance.now();
  return await new Promise((resolve) => {
    const seen = () => panes.some((p) => (p.querySelector('.md') || {}).textContent);
    const obs = new MutationObserver(() => {
      if (seen()) { obs.disconnect(); resolve(performance.now() - t0); }
    });
    for (const p of panes) obs.observe(p, { subtree: true, childList: true, characterData: true });
    document.getElementById('send').click();
  });
}
"""


def page_ttft(page: Page, base: str) -> float:
    page.goto(base + "/")
    page.get_by_test_id("prompt").fill("What is the capital of France?")
    ms: float = page.evaluate(PAGE_TTFT)
    page.get_by_test_id("vote-A").wait_for(state="visible")
    page.wait_for_function("() => !document.querySelector('[data-testid=vote-A]').disabled")
    return ms / 1000


def owner_verify(page: Page, base: str, endpoint: str, runs: int) -> list[float]:
    """Seconds from "Register and verify" to "verified" on the page, as the page shows it."""
    page.goto(base + "/owners")
    page.get_by_label("Name", exact=True).fill("Bench")
    page.get_by_role("button", name="Get a token").click()
    page.get_by_test_id("owner-token").wait_for()
    times = []
    for i in range(runs):
        form = page.get_by_test_id("register-model")
        for name, value in {
            "name": f"Bench-{i}",
            "base_url": endpoint,
            "api_model": "bench-owner",
        }.items():
            form.locator(f'[name="{name}"]').fill(value)
        page.evaluate(
            "() => delete document.getElementById('register-status').dataset.settledSeconds"
        )
        page.get_by_role("button", name="Register and verify").click()
        page.wait_for_function(
            "() => document.getElementById('register-status').dataset.settledSeconds",
            timeout=30_000,
        )
        shown = page.locator("#register-status").inner_text()
        assert "is verified after" in shown, shown
        times.append(
            float(page.locator("#register-status").get_attribute("data-settled-seconds") or "nan")
        )
    return times


def api_ttft(base: str) -> float:
    headers = {"Origin": base}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        start = time.perf_counter()
        battle = client.post("/api/v1/battles", json={}).json()["battle_id"]
        first = None
        with client.stream(
            "POST", f"/api/v1/battles/{battle}/messages", json={"content": "Capital of France?"}
        ) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if first is None and line.startswith("data: {") and '"delta"' in line:
                    first = time.perf_counter() - start
        assert first is not None
        return first


async def hammer(base: str, path: str, requests: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    counter = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in counter:
            start = time.perf_counter()
            r = await client.get(path, headers={"Accept": "text/html"})
            latencies.append(time.perf_counter() - start)
            assert r.status_code == 200

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return latencies


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="battles per TTFT side")
    parser.add_argument("--requests", type=int, default=400, help="leaderboard requests")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--votes", type=int, default=6000)
    parser.add_argument("--verify-runs", type=int, default=5, help="owner registrations")
    parser.add_argument("--data-requests", type=int, default=40, help="/data requests")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--out", type=Path, default=RESULTS / "web.json")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        url = migrated(f"sqlite:///{tmp}/arena.db")
        settings = Settings(
            database_url=url,
            secret_key="bench-secret",  # type: ignore[arg-type]
            min_read_seconds=0,
            rate_limit_battles="100000/minute",
            rate_limit_votes="100000/minute",
            rate_limit_owners="100000/minute",
            allow_private_endpoints=True,  # the fake owner endpoint listens on loopback
            recompute_seconds=3600,
            health_interval_seconds=3600,
        )
        fake = {"answer": ANSWER, "first_token_delay": FIRST_TOKEN_DELAY}
        alpha = FakeServer(FakeModel(served_name="alpha", **fake))  # type: ignore[arg-type]
        beta = FakeServer(FakeModel(served_name="beta", **fake))  # type: ignore[arg-type]
        owned = FakeServer(FakeModel(served_name="bench-owner", answer="Hello there."))
        timer: ServerTimer | None = None

        def wrap(app: ASGIApp) -> ASGIApp:
            nonlocal timer
            timer = ServerTimer(app)
            return timer

        with alpha, beta, owned, LiveServer(settings, wrap=wrap) as server:
            register(server.app, Backends(alpha, beta))
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
                page = browser.new_page()
                weight = page_weight(page, server.url)
                weights = {p: page_weight(page, server.url, p) for p in ("/owners", "/admin")}
                verify_times = owner_verify(page, server.url, owned.base_url, args.verify_runs)
                page_ttft(page, server.url)  # warm-up, both paths
                api_ttft(server.url)
                page_times, api_times = [], []
                for _ in range(args.runs):
                    page_times.append(page_ttft(page, server.url))
                    api_times.append(api_ttft(server.url))
                browser_version = browser.version
                browser.close()

            # A full page of snapshots on /data (its heaviest state), the same votes in all.
            rounds = DATA_PAGE
            seed_history(server, rounds=rounds, votes_per_round=args.votes // rounds, rng=rng)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
                weights["/data"] = page_weight(browser.new_page(), server.url, "/data")
                browser.close()
            assert timer is not None
            asyncio.run(hammer(server.url, "/data", 4, 1))  # warm-up
            timer.times.clear()
            data_client = asyncio.run(hammer(server.url, "/data", args.data_requests, 2))
            data_server = timer.times["/data"]
            timer.times.clear()
            asyncio.run(hammer(server.url, "/leaderboard", 20, 2))  # warm-up
            timer.times.clear()
            client_times = asyncio.run(
                hammer(server.url, "/leaderboard", args.requests, args.concurrency)
            )
            server_times = timer.times["/leaderboard"]

    result = {
        "benchmark": "web",
        "seed": args.seed,
        "page_weight_bytes": weight,
        "page_weights_bytes": weights,
        "owner_verify": {
            "runs": args.verify_runs,
            "poll_interval_ms": 1000,
            "shown_s": describe(verify_times, digits=2),
            "target_s": 5,
        },
        "ttft": {
            "fake_first_token_delay_ms": FIRST_TOKEN_DELAY * 1000,
            "page_ms": describe(page_times, scale=1000, digits=2),
            "api_ms": describe(api_times, scale=1000, digits=2),
            "page_minus_api_p50_ms": round(
                (statistics.median(page_times) - statistics.median(api_times)) * 1000, 2
            ),
        },
        "data_page": {
            "votes": args.votes,
            "snapshots": rounds,
            "requests": args.data_requests,
            "concurrency": 2,
            "server_ms": describe(data_server, scale=1000, digits=2),
            "client_ms": describe(data_client, scale=1000, digits=2),
        },
        "leaderboard": {
            "votes": args.votes,
            "models": 7,
            "requests": args.requests,
            "concurrency": args.concurrency,
            "server_ms": describe(server_times, scale=1000, digits=2),
            "client_ms": describe(client_times, scale=1000, digits=2),
        },
        "environment": {
            "python": platform.python_version(),
            "chromium": browser_version,
            "cpus": os.cpu_count(),
            "loadavg": loadavg(),
            "database": "sqlite",
        },
    }
    print(write_results(args.out, result))
    return result


if __name__ == "__main__":
    main()
