"""Decoding getHistory answers: Telethon's reader against parser/history_decode.py.

The same answers (messages.channelMessages of 100 messages, encoded by Telethon) are
decoded alternately by Telethon's BinaryReader and by HistoryReader, in one process;
printed: CPU per message of each (best of the rounds) and their ratio, for plain posts
(text, views) and for rich ones (entities with a link, replies header, three reaction
counts, an edit date, an author), the shapes a channel's history is made of.

    .venv/bin/python bench/bench_decode.py [--rounds 7] [--pages 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telethon.extensions import BinaryReader
from telethon.tl import types

from parser.history_decode import HistoryReader

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def message(i: int, rich: bool) -> Any:
    fields: dict[str, Any] = {
        "views": 1000 + i,
        "forwards": 3,
        "post": True,
    }
    if rich:
        fields.update(
            entities=[
                types.MessageEntityBold(0, 5),
                types.MessageEntityTextUrl(6, 5, "https://example.org/news/1"),
                types.MessageEntityHashtag(12, 4),
            ],
            replies=types.MessageReplies(
                replies=5, replies_pts=77, comments=True, channel_id=999, max_id=55
            ),
            reactions=types.MessageReactions(
                results=[
                    types.ReactionCount(reaction=types.ReactionEmoji("👍"), count=120),
                    types.ReactionCount(reaction=types.ReactionEmoji("🔥"), count=31),
                    types.ReactionCount(reaction=types.ReactionCustomEmoji(5), count=2),
                ]
            ),
            edit_date=T0,
            post_author="Иван",
        )
    return types.Message(
        id=i,
        peer_id=types.PeerChannel(12345),
        date=T0,
        message=f"Сообщение {i}: новости дня, подробности по ссылке и в комментариях",
        **fields,
    )


def page(rich: bool) -> bytes:
    answer = types.messages.ChannelMessages(
        pts=1,
        count=100,
        messages=[message(i, rich) for i in range(1, 101)],
        topics=[],
        chats=[types.ChannelForbidden(id=12345, access_hash=1, title="канал")],
        users=[],
    )
    return bytes(answer)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--pages", type=int, default=200)
    args = ap.parse_args()
    for rich in (False, True):
        data = page(rich)
        best = {BinaryReader: float("inf"), HistoryReader: float("inf")}
        for _ in range(args.rounds):
            for reader in (BinaryReader, HistoryReader):  # alternately
                t0 = time.thread_time()
                for _ in range(args.pages):
                    reader(data).tgread_object()
                used = (time.thread_time() - t0) / (args.pages * 100) * 1e6
                best[reader] = min(best[reader], used)
        tele, fast = best[BinaryReader], best[HistoryReader]
        print(
            f"{'rich' if rich else 'plain'} posts: Telethon {tele:.1f} us/message, "
            f"history_decode {fast:.1f} us/message, ratio {fast / tele:.2f} "
            f"({len(data) // 100} bytes a message)"
        )


if __name__ == "__main__":
    main()
