"""The README's pictures, each rendered from a stated data set.

    .venv/bin/python -m benchmarks.screenshots                     # fake backends, seeded votes
    .venv/bin/python -m benchmarks.screenshots --demo http://127.0.0.1:8000 --battles 20

Without ``--demo``: the app on a temporary SQLite with two fake model servers
(serving/fakes.py) for the battle pictures and seven models whose votes are drawn from
made-up strengths (tests/web/web_support.py SEED_MODELS, seed ``--seed``) for the board
pictures. With ``--demo URL``: a running ``make demo`` (the two real models on CPU vLLM):
``--battles`` battles through the API with real streamed answers, voted by a stated rule (the
longer answer wins, a tie within 10%), then every picture from that arena, the battle
pictures from one more battle played in the browser.

Also copies the owners and admin pictures the browser tests left in artifacts/screenshots/
(`make screenshots` runs those tests first). Writes docs/screenshots/*.png and
benchmarks/results/screenshots.json: what data each picture shows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from playwright.sync_api import Browser, Page, expect, sync_playwright

from benchmarks.common import RESULTS, ROOT, migrated, write_results
from tests.web.web_support import BROWSER_ARGS, CHROMIUM, SEED_MODELS, LiveServer, seed_history

DOCS = ROOT / "docs" / "screenshots"
ARTIFACTS = ROOT / "artifacts" / "screenshots"
# Written by tests/web/test_web_owners.py and test_web_admin.py (publish()).
FROM_TESTS = [
    "owners-token", "owners-verified", "owners-approved", "owners-refused", "owners-phone",
    "owners-dark", "admin-desktop", "admin-phone",
]  # fmt: skip
DESKTOP = {"viewport": {"width": 1280, "height": 860}}
PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}
PROMPTS = [
    "Write a Python function that reverses a string.",
    "What is the capital of Australia?",
    "Explain recursion to a ten-year-old in two sentences.",
    "Give me three tips for writing clear emails.",
    "How do I read a file line by line in Python?",
    "What causes the seasons on Earth?",
    "Write a haiku about autumn.",
    "What is the difference between a list and a tuple in Python?",
    "Summarise the plot of Romeo and Juliet in one paragraph.",
    "How many minutes are there in a day? Show the calculation.",
    "Write a SQL query that counts rows per day in a table of events.",
    "What is photosynthesis?",
    "Suggest a name for a bakery and explain why.",
    "Write a bash one-liner that counts lines in all .py files.",
    "Why is the sky blue?",
    "What does HTTP status 404 mean?",
    "Write a JavaScript function that checks whether a number is prime.",
    "Give two arguments for and against working from home.",
    "Convert 100 degrees Fahrenheit to Celsius.",
    "What is a binary search and when is it useful?",
]


def judge(a: str, b: str) -> str:
    """The stated rule for scripted votes: the longer answer wins; within 10%, a tie."""
    la, lb = len(a.strip()), len(b.strip())
    if abs(la - lb) <= 0.1 * max(la, lb, 1):
        return "tie"
    return "A" if la > lb else "B"


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST, waiting out the per-client rate limit (the demo keeps its defaults)."""
    for _ in range(20):
        r = client.post(path, json=body)
        if r.status_code != 429:
            return r
        time.sleep(float(r.headers.get("retry-after", "5")))
    return r


def play_api(base: str, battles: int) -> dict[str, int]:
    """Battles with real streamed answers, voted by `judge`; the votes cast per outcome."""
    outcomes = {"A": 0, "B": 0, "tie": 0}
    with httpx.Client(base_url=base, headers={"Origin": base}, timeout=300) as client:
        for i in range(battles):
            battle = _post(client, "/api/v1/battles", {}).json()["battle_id"]
            answer = {"A": "", "B": ""}
            with client.stream(
                "POST",
                f"/api/v1/battles/{battle}/messages",
                json={"content": PROMPTS[i % len(PROMPTS)]},
            ) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if line.startswith("data: {") and '"delta"' in line:
                        event = json.loads(line[6:])
                        answer[event["side"]] += event["delta"]
            winner = judge(answer["A"], answer["B"])
            r = _post(client, f"/api/v1/battles/{battle}/vote", {"winner": winner})
            r.raise_for_status()
            outcomes[winner] += 1
            print(f"battle {i + 1}/{battles}: {winner}", flush=True)
    return outcomes


def wait_for_board(base: str, votes: int, timeout: float = 300) -> dict[str, Any]:
    """The board once a snapshot counts ``votes`` votes (the demo recomputes on its own)."""
    deadline = time.monotonic() + timeout
    while True:
        board: dict[str, Any] = httpx.get(base + "/api/v1/leaderboard", timeout=30).json()
        if board["snapshot_id"] and board["votes_included"] >= votes:
            return board
        if time.monotonic() > deadline:
            raise SystemExit(f"no snapshot with {votes} votes after {timeout:.0f} s: {board}")
        time.sleep(3)


def battle_pictures(browser: Browser, base: str, prompt: str, timeout_ms: int) -> None:
    for name, options in (("battle-reveal", DESKTOP), ("phone-battle", PHONE)):
        context = browser.new_context(reduced_motion="reduce", **options)
        page = context.new_page()
        page.set_default_timeout(timeout_ms)
        page.goto(base + "/")
        page.get_by_test_id("prompt").fill(prompt)
        page.get_by_test_id("send").click()
        expect(page.get_by_test_id("vote-A")).to_be_enabled(timeout=timeout_ms)
        texts = [page.get_by_test_id(f"pane-{s}").inner_text() for s in "AB"]
        page.get_by_test_id(f"vote-{judge(*texts)}").click()
        expect(page.get_by_test_id("reveal")).to_be_visible()
        page.screenshot(path=str(DOCS / f"{name}.png"), full_page=name == "phone-battle")
        context.close()


def board_pictures(browser: Browser, base: str, model: str) -> None:
    context = browser.new_context(reduced_motion="reduce", **DESKTOP)
    page: Page = context.new_page()
    page.goto(base + "/leaderboard")
    expect(page.get_by_test_id("leaderboard-table")).to_be_visible()
    page.screenshot(path=str(DOCS / "leaderboard.png"), full_page=True)
    page.goto(base + f"/models/{model}")
    expect(page.get_by_test_id("history-chart")).to_be_visible()
    page.screenshot(path=str(DOCS / "model-page.png"), full_page=True)
    page.goto(base + "/data")
    page.locator('[data-download="votes"] summary').click()
    page.screenshot(path=str(DOCS / "data.png"), full_page=False)
    context.close()


@contextlib.contextmanager
def fake_arena(seed: int) -> Iterator[str]:
    """The app on a temporary SQLite: fake backends for battles, seeded board history."""
    from arena.settings import Settings
    from serving.fakes import FakeModel, FakeServer
    from tests.battles.support import Backends, register

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=migrated(f"sqlite:///{tmp}/arena.db"),
            secret_key="screenshots-secret",
            min_read_seconds=0,
            health_interval_seconds=3600,
            recompute_seconds=3600,
        )
        alpha = FakeServer(FakeModel(served_name="alpha", answer="Canberra is the capital."))
        beta = FakeServer(
            FakeModel(served_name="beta", answer="The capital of Australia is **Canberra**.")
        )
        with alpha, beta, LiveServer(settings) as live:
            register(live.app, Backends(alpha, beta))
            seed_history(live, rounds=6, votes_per_round=100, rng=np.random.default_rng(seed))
            yield live.url


def copy_test_pictures() -> list[str]:
    copied = []
    for name in FROM_TESTS:
        source = ARTIFACTS / f"{name}.png"
        if source.exists():
            shutil.copyfile(source, DOCS / source.name)
            copied.append(name)
    return copied


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", metavar="URL", help="a running `make demo` to take them from")
    parser.add_argument("--battles", type=int, default=20, help="API battles cast on the demo")
    parser.add_argument("--seed", type=int, default=0, help="the fake data set's votes")
    parser.add_argument("--out", type=Path, default=RESULTS / "screenshots.json")
    args = parser.parse_args(argv)
    DOCS.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"pictures": {}}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        if args.demo:
            base = args.demo.rstrip("/")
            outcomes = play_api(base, args.battles)
            board = wait_for_board(base, 1)
            battle_pictures(
                browser, base, "Write a Python function that adds two numbers.", 300_000
            )
            time.sleep(1)
            board = wait_for_board(base, board["votes_included"] + 1)
            top = board["models"][0]["model"]
            board_pictures(browser, base, top)
            data = (
                f"the demo's two models on CPU vLLM ({', '.join(m['model'] for m in board['models'])}), "
                f"{board['votes_included']} counted votes on real streamed answers, cast by a script "
                "(the longer answer wins, a tie within 10%)"
            )
            results.update(source="demo", outcomes=outcomes, board=board)
        else:
            with fake_arena(args.seed) as base:
                battle_pictures(browser, base, "What is the capital of Australia?", 30_000)
                board_pictures(browser, base, SEED_MODELS[1][0])
            data = (
                f"fake backends; {len(SEED_MODELS)} models with 600 votes drawn from made-up "
                f"strengths (seed {args.seed})"
            )
            results.update(source="fake", seed=args.seed)
        browser.close()
    for name in ("battle-reveal", "phone-battle", "leaderboard", "model-page", "data"):
        results["pictures"][name] = data
    for name in copy_test_pictures():
        results["pictures"][name] = "the browser tests against fake endpoints"
    print(write_results(args.out, results))
    return results


if __name__ == "__main__":
    main()
