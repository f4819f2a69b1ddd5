"""The per-channel deletion alert: only for channels that asked, naming the channel as
the operator knows it, in both languages."""

from __future__ import annotations

from pathlib import Path

from bot.delivery import render_alert
from core.alerts import AlertBody
from db.models import Channel
from services.deletion_alerts import DeletionNotifier
from services.events import EventBus, PostsDeleted


async def test_alert_only_when_asked_and_names_the_channel(db: Path) -> None:
    quiet = await Channel.create(tg_id=1, access_hash=1, username="quiet", title="Quiet")
    loud = await Channel.create(
        tg_id=2, access_hash=1, username="loud", title="Loud & <Clear>", alert_deletions=True
    )
    private = await Channel.create(tg_id=3, access_hash=1, title="Hidden", alert_deletions=True)
    sent: list[AlertBody] = []

    async def notify(body: AlertBody) -> None:
        sent.append(body)

    bus = EventBus()
    bus.subscribe(DeletionNotifier(notify).on_posts_deleted, PostsDeleted)
    await bus.publish(PostsDeleted(quiet.id, (1,), 1))
    await bus.publish(PostsDeleted(loud.id, (4, 5), 7))
    await bus.publish(PostsDeleted(private.id, (9,), 1))
    await bus.publish(PostsDeleted(999, (9,), 1))  # removed meanwhile: nothing
    assert len(sent) == 2
    en = render_alert(sent[0], "en")
    assert en.splitlines() == [
        "🗑 <b>Loud &amp; &lt;Clear&gt; (@loud)</b>: posts deleted: 7",
        "• https://t.me/loud/4",
        "• https://t.me/loud/5",
        "…and 5 more",
    ]
    assert "удалено постов: 7" in render_alert(sent[0], "ru")
    assert "https://t.me/c/3/9" in render_alert(sent[1], "en")
