"""The per-channel deletion alert (issue #15, Must 8): a run found posts of a channel
deleted (services/parsing/deletions.py) -> PostsDeleted -> one notification to the
operators, when the channel has `alert_deletions` on (the toggle in its /channels
view). It names the channel as the operator knows it (Channel.display_name: title and
@username), how many posts, and links to the first few."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.alerts import AlertBody, AlertLines, AlertText
from core.channels import Channel, post_link
from db.channels import get_channel
from services.events import PostsDeleted


def deletion_alert(ch: Channel, event: PostsDeleted) -> AlertLines:
    """The alert's lines: the title (channel, count), a link per named post, and how
    many more there are."""
    lines = [AlertText("deleted_alert_title", channel=ch.display_name, n=event.count)]
    lines += [
        AlertText("deleted_alert_line", link=post_link(ch.username, ch.tg_id, msg_id))
        for msg_id in event.ids
    ]
    if event.count > len(event.ids):
        lines.append(AlertText("deleted_alert_more", n=event.count - len(event.ids)))
    return AlertLines(tuple(lines))


class DeletionNotifier:
    """Subscriber of PostsDeleted: notifies the operators for channels that asked."""

    def __init__(self, notify: Callable[[AlertBody], Awaitable[None]]) -> None:
        self._notify = notify

    async def on_posts_deleted(self, event: PostsDeleted) -> None:
        """Notify when the channel (read now: the toggle may just have changed) has
        deletion alerts on; nothing for a channel removed meanwhile."""
        ch = await get_channel(event.channel_id)
        if ch is None or not ch.alert_deletions:
            return
        await self._notify(deletion_alert(ch, event))
