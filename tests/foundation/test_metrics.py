"""Operator metrics live on their own port; the public app has no /metrics."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from arena.app import create_app
from arena.settings import Settings
from serving.threaded import free_port


async def test_metrics_port_separate_from_public(settings: Settings) -> None:
    settings.metrics_port = free_port()
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as public:
            assert (await public.get("/health")).status_code == 200
            assert (await public.get("/metrics")).status_code == 404
        async with httpx.AsyncClient() as ops:
            r = await ops.get(f"http://127.0.0.1:{settings.metrics_port}/metrics")
        assert r.status_code == 200
        assert 'arena_http_requests_total{method="GET",route="/health",status="200"} 1.0' in r.text
        assert "arena_backend_ttft_seconds" in r.text
