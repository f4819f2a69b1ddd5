"""/parse's progress and result lines (the live message itself: test_live_message.py)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.routers.parse import render_progress, render_result
from core.parsing import RunProgress, RunStatus


def test_progress_and_results_render_in_both_languages(monkeypatch: pytest.MonkeyPatch) -> None:
    p = RunProgress("@news", fetched=500, total=1500, started=0.0, new=120)
    monkeypatch.setattr("core.parsing.time.monotonic", lambda: 10.0)
    assert render_progress(p, "en") == (
        "⏳ @news: 500 / ~1500 messages (120 new), 50/s, ETA 20 s"
    )
    assert render_progress(p, "ru") == (
        "⏳ @news: сообщения 500 / ~1500 (новых: 120), 50/с, осталось 20 с"
    )
    p.status, p.deferred_seconds = RunStatus.DEFERRED, 3700
    assert render_result(p, 1.0, "en") == (
        "⏸ @news: Telegram asked to wait, deferred for 1 h 1 min"
    )
    p.status, p.error = RunStatus.DISABLED, "private"
    assert render_result(p, 1.0, "ru") == (
        "🚫 @news: отключён (канал закрытый или аккаунт в нём не состоит)"
    )
    q: Any = RunProgress("<b>", fetched=3, new=3, status=RunStatus.OK)
    assert render_result(q, 2.0, "en") == "✅ &lt;b&gt;: 3 new messages in 2 s"


def test_a_result_counts_new_messages_apart_from_re_read_ones() -> None:
    r = RunProgress("@news", fetched=260, new=10, status=RunStatus.OK)
    assert render_result(r, 1.25, "en") == "✅ @news: 10 new messages, 250 re-read, in 1.2 s"
    assert render_result(r, 1.25, "ru") == (
        "✅ @news: 10 новых сообщений, перечитано 250, за 1,2 с"
    )
    one = RunProgress("@news", fetched=1, new=1, status=RunStatus.OK)
    assert render_result(one, 3.0, "ru") == "✅ @news: 1 новое сообщение за 3 с"
    few = RunProgress("@news", fetched=22, new=22, status=RunStatus.OK)
    assert render_result(few, 3.0, "ru") == "✅ @news: 22 новых сообщения за 3 с"
