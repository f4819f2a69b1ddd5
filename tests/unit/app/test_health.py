"""GET /healthz: 200 with component states when healthy, 503 otherwise."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from app.health import FAILED, RESTARTING, RUNNING, STARTING, HealthRegistry, HealthServer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _get(port: int, path: str = "/healthz") -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
            assert resp.content_type == "application/json"
            return resp.status, await resp.json()


@pytest.mark.parametrize("bad_state", [RESTARTING, FAILED, STARTING])
async def test_healthz_200_when_running_503_when_a_component_is_not(bad_state: str) -> None:
    registry = HealthRegistry()
    registry.set("bot", RUNNING)
    registry.set("userbot", RUNNING)
    port = _free_port()
    server = HealthServer(registry, "127.0.0.1", port)
    await server.start()
    try:
        status, body = await _get(port)
        assert status == 200
        assert body["healthy"] is True
        assert body["components"]["bot"]["state"] == RUNNING
        assert body["components"]["userbot"]["state"] == RUNNING

        registry.set("userbot", bad_state, "ConnectionError: gone")
        registry.component("userbot").restarts = 2
        status, body = await _get(port)
        assert status == 503
        assert body["healthy"] is False
        assert body["components"]["userbot"]["state"] == bad_state
        assert body["components"]["userbot"]["last_error"] == "ConnectionError: gone"
        assert body["components"]["userbot"]["restarts"] == 2
        assert body["components"]["bot"]["state"] == RUNNING

        registry.set("userbot", RUNNING)
        status, _ = await _get(port)
        assert status == 200
    finally:
        await server.stop()


async def test_a_failing_probe_makes_it_unhealthy() -> None:
    registry = HealthRegistry()
    registry.set("bot", RUNNING)
    state = {"healthy": True, "detail": "ok"}
    registry.add_probe("session", lambda: dict(state))
    assert registry.healthy()
    assert registry.snapshot()["session"] == {"healthy": True, "detail": "ok"}
    state["healthy"] = False
    assert not registry.healthy()
    assert registry.snapshot()["healthy"] is False


def test_empty_registry_is_not_healthy() -> None:
    assert not HealthRegistry().healthy()


async def test_metrics_endpoint_serves_prometheus_text() -> None:
    port = _free_port()
    server = HealthServer(HealthRegistry(), "127.0.0.1", port)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                assert "text/plain" in resp.content_type
                assert "python_info" in await resp.text() or "process_" in await resp.text()
    finally:
        await server.stop()
