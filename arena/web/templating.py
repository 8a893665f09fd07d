"""The Jinja2 environment (autoescaping everywhere), static asset URLs, the site navigation."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse

# `web/` ships as the package `arena_web` (pyproject.toml); pip installs packages as plain
# files, so the resource root is a real directory that Jinja2 and StaticFiles can read.
WEB_DIR = Path(str(files("arena_web")))
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

DASH = "\N{EN DASH}"

# (label, href) in the header. Owner and researcher pages add their entries here.
NAV: list[tuple[str, str]] = [
    ("Battle", "/"),
    ("Leaderboard", "/leaderboard"),
    ("Model owners", "/owners"),
    ("Data", "/data"),
]


@lru_cache(maxsize=64)
def _fingerprint(name: str, mtime_ns: int) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]


def asset(name: str) -> str:
    """`/static/<name>?v=<content hash>`, so browsers may cache assets for good."""
    path = STATIC_DIR / name
    return f"/static/{name}?v={_fingerprint(name, path.stat().st_mtime_ns)}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(asset=asset, nav=NAV)
    env.filters["rating"] = lambda v: f"{v:.0f}" if v is not None else DASH
    env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if d else DASH
    return env


def page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    html = environment().get_template(template).render(path=request.url.path, **context)
    return HTMLResponse(html, status_code=status_code)
