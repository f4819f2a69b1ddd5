"""/healthz (JSON) and /metrics (Prometheus) over the registry in core/health.py."""

from __future__ import annotations

import json

from aiohttp import web

from core.health import (
    FAILED,
    RESTARTING,
    RUNNING,
    STARTING,
    STOPPED,
    ComponentState,
    HealthRegistry,
)

__all__ = [
    "FAILED",
    "RESTARTING",
    "RUNNING",
    "STARTING",
    "STOPPED",
    "ComponentState",
    "HealthRegistry",
    "HealthServer",
]

class HealthServer:
    """GET /healthz (200 healthy, 503 otherwise) and GET /metrics (Prometheus)."""

    def __init__(self, registry: HealthRegistry, host: str, port: int) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        snap = self._registry.snapshot()
        return web.Response(
            text=json.dumps(snap, default=str),
            status=200 if snap["healthy"] else 503,
            content_type="application/json",
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return web.Response(
            body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
