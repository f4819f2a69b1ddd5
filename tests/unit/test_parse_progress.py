"""/parse's progress and result lines (the live message itself: test_live_message.py)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.routers.parse import render_progress, render_result
from parser.fetcher import RunProgress


def test_progress_and_results_render_in_both_languages(monkeypatch: pytest.MonkeyPatch) -> None:
    p = RunProgress("@news", fetched=500, total=1500, started=0.0)
    monkeypatch.setattr("parser.fetcher.time.monotonic", lambda: 10.0)
    assert render_progress(p, "en") == "⏳ @news: 500 / ~1500 messages, 50/s, ETA 20 s"
    assert render_progress(p, "ru") == "⏳ @news: 500 / ~1500 сообщений, 50/с, осталось 20 с"
    p.status, p.deferred_seconds = "deferred", 3700
    assert render_result(p, 1.0, "en") == (
        "⏸ @news: Telegram asked to wait, deferred for 1 h 1 min"
    )
    p.status, p.error = "disabled", "private"
    assert render_result(p, 1.0, "ru") == "🚫 @news: отключён (private)"
    q: Any = RunProgress("<b>", fetched=3, status="ok")
    assert render_result(q, 2.0, "en") == "✅ &lt;b&gt;: 3 messages in 2.0 s"
