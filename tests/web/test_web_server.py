"""The pages without a browser: error pages vs the JSON envelope, headers, no inline code,
and the Markdown sanitizer on hostile input."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from web_support import sqlite_only

from arena.web.render import MAX_CHARS, pygments_css, render_markdown
from arena.web.templating import STATIC_DIR, TEMPLATES_DIR

HTML = {"Accept": "text/html,application/xhtml+xml"}
INLINE = re.compile(r"<script(?![^>]*\bsrc=)|\sstyle=|\son[a-z]+=", re.IGNORECASE)


@pytest.fixture
async def web(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/boom", boom)
    app.add_api_route("/api/v1/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    # The background loops are idle here; do not let the lifespan wait out their grace.
    for task in list(app.state.tasks._tasks):
        task.cancel()


def envelope(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["type"] and body["error"]["code"]
    error: dict[str, str] = body["error"]
    return error


@sqlite_only
async def test_pages_render_with_strict_headers_and_no_inline_code(
    web: httpx.AsyncClient,
) -> None:
    for path in ("/", "/leaderboard", "/leaderboard?license=open&organization=x"):
        r = await web.get(path, headers=HTML)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert not INLINE.search(r.text), (path, INLINE.search(r.text))
        assert 'data-testid="' in r.text
    page = (await web.get("/", headers=HTML)).text
    for testid in ("prompt", "send", "pane-A", "pane-B", "vote-A", "vote-B", "vote-tie"):
        assert f'data-testid="{testid}"' in page
    for testid in ("vote-bothbad", "reveal", "new-battle"):
        assert f'data-testid="{testid}"' in page
    empty = (await web.get("/leaderboard", headers=HTML)).text
    assert "No ratings yet" in empty


def test_templates_and_scripts_carry_no_inline_code() -> None:
    for path in TEMPLATES_DIR.rglob("*.html"):
        assert not INLINE.search(path.read_text()), path
    for path in STATIC_DIR.glob("*.js"):
        text = path.read_text()
        assert "eval(" not in text and "new Function" not in text, path
        assert "https://" not in text and "http://" not in text, path


@sqlite_only
async def test_static_assets_are_served_with_a_content_hash(web: httpx.AsyncClient) -> None:
    page = (await web.get("/", headers=HTML)).text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+\?v=[0-9a-f]{10})"', page)
    assert {a.split("?")[0] for a in assets} >= {
        "/static/arena.css",
        "/static/code.css",
        "/static/battle.js",
        "/static/favicon.svg",
    }
    for asset in assets:
        r = await web.get(asset)
        assert r.status_code == 200, asset
    js = await web.get("/static/battle.js")
    assert "javascript" in js.headers["content-type"]
    assert (await web.get("/static/nope.js", headers=HTML)).status_code == 404


@sqlite_only
async def test_html_error_pages_for_people_envelope_for_programs(web: httpx.AsyncClient) -> None:
    r = await web.get("/no-such-page", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "There is no page at this address." in r.text and 'aria-label="Main"' in r.text
    assert not INLINE.search(r.text)

    r = await web.get("/no-such-page", headers={"Accept": "application/json"})
    assert r.status_code == 404 and envelope(r)["code"] == "not_found"
    r = await web.get("/api/v1/no-such-thing", headers=HTML)
    assert r.status_code == 404 and envelope(r)["code"] == "not_found"

    r = await web.get("/battles/" + "0" * 32, headers=HTML)
    assert r.status_code == 404 and "no battle with this id" in r.text
    r = await web.get("/battles/not-an-id/turns/0/render", headers={"Accept": "application/json"})
    assert r.status_code == 404 and envelope(r)["code"] == "battle_not_found"
    r = await web.get("/models/Nobody", headers=HTML)
    assert r.status_code == 404 and "There is no model with this name" in r.text

    r = await web.get("/boom", headers=HTML)
    assert r.status_code == 500 and "Something went wrong on our side" in r.text
    assert "boom" not in r.text and "Traceback" not in r.text
    r = await web.get("/api/v1/boom", headers=HTML)
    assert r.status_code == 500 and envelope(r)["code"] == "internal_error"
    r = await web.post("/leaderboard", headers=HTML)
    assert r.status_code == 405 and r.headers["content-type"].startswith("text/html")


def test_code_css_is_generated_from_pygments() -> None:
    assert (STATIC_DIR / "code.css").read_text() == pygments_css(), (
        "regenerate: python -c 'from arena.web.render import pygments_css; "
        'open("web/static/code.css", "w").write(pygments_css())\''
    )


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](  javascript:alert(1))",
        "[x](java&#115;cript:alert(1))",
        "<javascript:alert(1)>",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](vbscript:msgbox(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=//evil></iframe><svg onload=alert(1)>",
        "![x](https://evil.example/pixel.png)",
        '```html" onmouseover="alert(1)\ncode\n```',
        "<style>body{display:none}</style>",
        '[x](https://ok.example "a" onclick="alert(1)")',
    ],
)
def test_hostile_markdown_is_inert(text: str) -> None:
    html = render_markdown(text)
    lowered = html.lower()
    assert "<script" not in lowered and "<img" not in lowered and "<iframe" not in lowered
    assert "<svg" not in lowered and "<style" not in lowered
    # Only real tags matter: escaped text may well read "onerror=".
    assert not re.search(r"<[a-z][^>]*\s(on[a-z]+|style)=", lowered)
    assert not re.search(r'<a [^>]*href="\s*(javascript|data|vbscript)', lowered)


def test_markdown_features_survive_sanitizing() -> None:
    html = render_markdown(
        "# Title\n\n**bold** *em* ~~gone~~ `code`\n\n- a\n- b\n\n3. three\n\n"
        "> quote\n\n| h |\n|---|\n| c |\n\n[link](https://example.com)\n\n"
        "```python\nprint('hi')\n```\n"
    )
    for fragment in (
        "<h1>Title</h1>",
        "<strong>bold</strong>",
        "<em>em</em>",
        "<s>gone</s>",
        "<code>code</code>",
        "<li>a</li>",
        '<ol start="3">',
        "<blockquote>",
        "<td>c</td>",
        '<pre class="highlight"><code><span class="nb">print</span>',
    ):
        assert fragment in html, fragment
    link = re.search(r'<a [^>]*href="https://example.com"[^>]*>', html)
    assert link is not None
    assert 'rel="noopener noreferrer nofollow"' in link.group(0)
    assert 'target="_blank"' in link.group(0)


def test_huge_answers_are_cut_for_display() -> None:
    html = render_markdown("word " * (MAX_CHARS // 2))
    assert "more characters not shown" in html
    assert len(html) < MAX_CHARS + 1000
    assert render_markdown("") == ""
