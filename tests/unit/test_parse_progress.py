"""/parse's live message: at most one edit per 2 s, the final summary always shown."""

from __future__ import annotations

from typing import Any

import pytest

from bot.routers.parse import _LiveMessage, render_progress, render_result
from parser.fetcher import RunProgress


class FakeMessage:
    def __init__(self) -> None:
        self.text = "queued"
        self.edits: list[str] = []

    async def edit_text(self, text: str) -> None:
        self.edits.append(text)


async def test_edits_are_throttled_and_the_last_one_forced() -> None:
    now = [100.0]
    msg = FakeMessage()
    live = _LiveMessage(msg, clock=lambda: now[0])  # type: ignore[arg-type]
    await live.show("1")
    now[0] += 0.5
    await live.show("2")  # too soon: skipped
    now[0] += 1.6
    await live.show("3")
    now[0] += 0.1
    await live.show("4")  # too soon
    await live.show("done", force=True)
    await live.show("done", force=True)  # unchanged: Telegram would answer 400
    assert msg.edits == ["1", "3", "done"]


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
