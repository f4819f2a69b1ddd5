"""The repost and mention world of /graph's tests (tests/e2e/test_graph.py through the
app, tests/unit/services/test_graph.py through the fetcher): two channels to archive
that forward from and mention others, and the graph's edges they give."""

from __future__ import annotations

from dataclasses import dataclass

from telethon.tl.types import MessageEntityTextUrl

from tests.doubles.mtproto import World
from tests.doubles.mtproto.world import Channel


@dataclass(frozen=True)
class GraphWorld:
    alpha: Channel  # archived: forwards from and mentions the others
    beta: Channel  # archived: forwards from alpha
    source: Channel  # not archived: forwarded and linked by alpha

    def edges(self, alpha_row: int, beta_row: int) -> dict[tuple[str, str, str], int]:
        """(source node, target node, kind) -> weight once alpha and beta (their row ids)
        are archived: a repost counts once per post, a bot and an invite are no links,
        t.me/source goes to the id the forwards gave with that name."""
        ca, cb, src = f"c{alpha_row}", f"c{beta_row}", f"id:{self.source.id}"
        return {
            (ca, src, "forward"): 2,
            (ca, src, "mention"): 1,
            (ca, cb, "mention"): 1,
            (ca, "@gamma_news", "mention"): 1,
            (cb, ca, "forward"): 1,
        }


def add_graph_channels(world: World) -> GraphWorld:
    alpha = world.add_channel(username="alpha", title="Alpha")
    beta = world.add_channel(username="beta", title="Beta")
    source = world.add_channel(username="source", title="The Source")
    alpha.add_message("hello")
    alpha.add_message("", fwd_from=source)
    alpha.add_message("", fwd_from={"from": source, "channel_post": 42})
    alpha.add_message("read @beta and https://t.me/gamma_news/5, ask @help_bot")
    alpha.add_message("more", entities=[MessageEntityTextUrl(0, 4, url="https://t.me/source/1")])
    beta.add_message("", fwd_from=alpha)
    beta.add_message("join t.me/+AbCdEf")
    return GraphWorld(alpha, beta, source)
