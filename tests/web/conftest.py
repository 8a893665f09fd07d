"""Browser fixtures: Debian's chromium through Playwright, the app on a loopback port,
two fake model servers. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright
from web_support import BROWSER_ARGS, CHROMIUM, LiveServer, Tab, watch

from arena.settings import Settings
from serving.fakes import FakeModel, FakeServer
from tests.battles.support import Backends, register


# Per module, not per session: sync Playwright keeps its event loop marked as running while
# it lives, which would break the async (non-browser) tests collected after it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()


@pytest.fixture
def backends() -> Iterator[Backends]:
    alpha = FakeServer(FakeModel(served_name="alpha-served", answer="Paris is the capital."))
    beta = FakeServer(FakeModel(served_name="beta-served", answer="The capital is **Paris**."))
    with alpha, beta:
        yield Backends(alpha, beta)


@pytest.fixture
def live(settings: Settings, backends: Backends) -> Iterator[LiveServer]:
    with LiveServer(settings) as server:
        register(server.app, backends)
        yield server


def _context(browser: Browser, **kwargs: Any) -> BrowserContext:
    kwargs.setdefault("viewport", {"width": 1280, "height": 860})
    kwargs.setdefault("reduced_motion", "reduce")
    return browser.new_context(**kwargs)


@pytest.fixture
def context_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Browser context options; parametrize indirectly for viewports or colour schemes."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def tab(browser: Browser, live: LiveServer, context_options: dict[str, Any]) -> Iterator[Tab]:
    context = _context(browser, **context_options)
    page = context.new_page()
    page.set_default_timeout(20_000)
    t = Tab(page, watch(page), live.url)
    yield t
    context.close()
    assert t.watch.errors == [], t.watch.errors
    assert t.watch.console == [], t.watch.console
