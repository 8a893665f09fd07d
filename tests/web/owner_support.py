"""Helpers for the owners and admin pages in a browser: accounts and models made through
the API, keyboard and label checks, and calls the page was expected to see fail."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page
from web_support import LiveServer, Tab

ADMIN_TOKEN = "test-admin-token"
XSS = '<img src=x onerror="window.__xss=1;alert(1)">'


def api(live: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=live.url, headers={"Origin": live.url}, timeout=30)


def new_owner(live: LiveServer, name: str = "Acme") -> str:
    with api(live) as client:
        r = client.post("/api/v1/owners", json={"name": name})
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token


def register(live: LiveServer, token: str, **fields: Any) -> int:
    body = {"organization": "", "license": "open", **fields}
    with api(live) as client:
        r = client.post("/api/v1/models", json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 202, r.text
        model_id: int = r.json()["id"]
        return model_id


def wait_status(live: LiveServer, token: str, model_id: int, status: str) -> dict[str, Any]:
    with api(live) as client:
        for _ in range(400):
            r = client.get(
                f"/api/v1/models/{model_id}", headers={"Authorization": f"Bearer {token}"}
            )
            body: dict[str, Any] = r.json()
            if body["status"] == status:
                return body
            time.sleep(0.05)
    raise AssertionError(f"model {model_id} is {body['status']}, not {status}: {body['report']}")


def expected_failures(tab: Tab, *prefixes: str) -> None:
    """The failed calls this test provoked on purpose: present, then off the watch list."""
    for prefix in prefixes:
        assert any(c.startswith(prefix) for c in tab.watch.console), (prefix, tab.watch.console)
    tab.watch.console[:] = [c for c in tab.watch.console if not c.startswith(prefixes)]


UNLABELLED = """
() => [...document.querySelectorAll('main input, main select, main textarea')]
  .filter((el) => el.type !== 'hidden' && el.getClientRects().length > 0)
  .filter((el) => !(el.labels && [...el.labels].some((l) => l.textContent.trim()))
    && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map((el) => el.id || el.name || el.outerHTML.slice(0, 80))
"""

CONTROLS = """
() => [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex="0"]')]
  .filter((el) => !el.matches(':disabled') && el.getClientRects().length > 0 && el.tabIndex >= 0
    && getComputedStyle(el).visibility !== 'hidden')
  .map((el) => el.id || el.getAttribute('data-testid') || el.textContent.trim().slice(0, 40))
"""

FOCUSED = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  return {
    key: el.id || el.getAttribute('data-testid') || el.textContent.trim().slice(0, 40),
    outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
  };
}
"""


def check_keyboard_and_labels(page: Page) -> list[str]:
    """Every visible form control has a label; Tab reaches every control, each with a
    visible focus ring. Returns the tab order."""
    assert page.evaluate(UNLABELLED) == []
    controls = page.evaluate(CONTROLS)
    page.locator("body").focus()
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    order: list[str] = []
    unringed: list[str] = []
    for _ in range(len(controls) + 5):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        if order and focused["key"] == order[0]:
            break
        order.append(focused["key"])
        if not focused["outline"]:
            unringed.append(focused["key"])
    missing = [c for c in controls if c not in order]
    assert missing == [], (missing, order)
    assert unringed == [], unringed
    return order


def publish(tab: Tab, name: str, *, full_page: bool = True) -> Path:
    """A screenshot in artifacts/screenshots/ that the README shows: `make screenshots`
    copies it into docs/screenshots/ (tests never write to tracked files)."""
    return tab.shot(name, full_page=full_page)
