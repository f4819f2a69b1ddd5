"""/graph's files (issue #17 Must 4, Proof): the GEXF read back by networkx with the
expected nodes, edges and weights, the CSV edge list, the top targets not archived,
and the backfill component over an archive stored before the links existed."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import networkx as nx
import pytest
from telethon.tl import types

from core.channels import Channel as ChannelInfo
from db.links import LinkRepository
from db.messages import MessageRepository
from db.models import Channel, MessageLink
from parser.history import message_row
from services.graph import GraphService, LinksBackfill, period_start
from tests.unit.message_fixtures import NOW, tl_message


def _fwd(tg_id: int) -> types.MessageFwdHeader:
    return types.MessageFwdHeader(date=NOW, from_id=types.PeerChannel(tg_id))


async def _archive(repo: MessageRepository) -> tuple[Channel, Channel]:
    a = await Channel.create(tg_id=100, access_hash=1, username="alpha", title="Alpha")
    b = await Channel.create(tg_id=200, access_hash=1, username="beta", title="Beta")
    rows_a = [
        message_row(a.id, tl_message(1, "", fwd_from=_fwd(300)), NOW),
        message_row(a.id, tl_message(2, "", fwd_from=_fwd(300)), NOW),
        message_row(a.id, tl_message(3, "see @beta and @ext_chan"), NOW),
        message_row(a.id, tl_message(4, "again t.me/ext_chan/5"), NOW),
        message_row(a.id, tl_message(5, "and @ext_chan"), NOW),
    ]
    await repo.store_batch(a.id, rows_a, cursor=5, new_rows=5)
    rows_b = [
        message_row(b.id, tl_message(1, "", fwd_from=_fwd(300)), NOW),
        message_row(b.id, tl_message(2, "thanks @alpha"), NOW),
    ]
    await repo.store_batch(b.id, rows_b, cursor=2, new_rows=2)
    return a, b


async def test_gexf_and_csv_of_the_whole_archive(
    repo: MessageRepository, tmp_path: Path
) -> None:
    a, b = await _archive(repo)
    service = GraphService(tmp_path, clock=lambda: NOW + timedelta(hours=1))
    export = await service.export(None, None)
    assert export is not None
    g = nx.read_gexf(export.gexf)
    ca, cb = f"c{a.id}", f"c{b.id}"
    assert set(g.nodes) == {ca, cb, "id:300", "@ext_chan"}
    assert g.nodes[ca]["label"] == "Alpha" and g.nodes[ca]["archived"] is True
    assert g.nodes["@ext_chan"]["archived"] is False
    weights = {(u, v, d["kind"]): d["weight"] for u, v, d in g.edges(data=True)}
    assert weights == {
        (ca, "id:300", "forward"): 2,
        (ca, cb, "mention"): 1,
        (ca, "@ext_chan", "mention"): 3,
        (cb, "id:300", "forward"): 1,
        (cb, ca, "mention"): 1,
    }
    first = next(d["first"] for u, v, d in g.edges(data=True) if v == "@ext_chan")
    assert first == NOW.isoformat()
    assert (export.nodes, export.edges) == (4, 5)

    with export.csv.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {(r["Source"], r["Target"], r["Kind"], int(r["Weight"])) for r in rows} == {
        (u, v, k, w) for (u, v, k), w in weights.items()
    }
    assert {r["Type"] for r in rows} == {"Directed"}

    top = [(t.target, t.forwards, t.mentions, t.sources) for t in export.top]
    assert top == [("id:300", 3, 0, 2), ("@ext_chan", 0, 3, 1)]
    await service.cleanup(export)
    assert not export.gexf.parent.exists()


async def test_one_channel_a_period_and_no_edges(
    repo: MessageRepository, tmp_path: Path
) -> None:
    a, b = await _archive(repo)
    service = GraphService(tmp_path, clock=lambda: NOW + timedelta(days=3))
    beta = ChannelInfo(id=b.id, tg_id=200, username="beta")
    export = await service.export(beta, None)
    assert export is not None and export.gexf.name.startswith("graph-beta-all-")
    g = nx.read_gexf(export.gexf)
    assert {(u, v) for u, v in g.edges()} == {
        (f"c{b.id}", "id:300"), (f"c{b.id}", f"c{a.id}"), (f"c{a.id}", f"c{b.id}")
    }
    # The last 2 days (NOW is 3 days back): nothing.
    assert await service.export(beta, 2) is None


def test_period_start_is_midnight_in_the_operators_zone() -> None:
    from zoneinfo import ZoneInfo

    moscow = ZoneInfo("Europe/Moscow")
    now = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)  # 01:30 on the 11th in Moscow
    assert period_start(1, moscow, now) == datetime(2026, 3, 10, 21, 0, tzinfo=UTC)
    assert period_start(None, moscow, now) is None


async def test_backfill_component_fills_an_old_archive(
    repo: MessageRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    import db.messages

    monkeypatch.setattr(db.messages, "links_sqlite", lambda *a: None)
    a, _ = await _archive(repo)
    monkeypatch.undo()
    assert await MessageLink.all().count() == 0
    backfill = LinksBackfill(span=2, pause=0)
    assert await backfill.backfill() == 8
    assert await MessageLink.filter(channel_id=a.id).count() == 6
    # Done: a second start finds nothing left.
    assert await LinksBackfill(LinkRepository()).backfill() == 0


async def test_through_telethon_and_the_mtproto_double(
    repo: MessageRepository, tmp_path: Path
) -> None:
    """Posts as the real Telethon reads them from the double (forward headers with the
    source in the answer's chats, mentions in text and text_url entities), stored by
    the real fetcher, exported and read back."""
    from db.channels import ChannelStateRepository
    from services.parsing.ingest import ChannelFetcher
    from tests.doubles.graph_world import add_graph_channels
    from tests.doubles.mtproto import MTProtoServer, World, signed_in_client

    world = World()
    world.add_account(phone="+15550000001", code="12345")
    graph = add_graph_channels(world)
    alpha, beta, source = graph.alpha, graph.beta, graph.source
    state = ChannelStateRepository()
    fetcher = ChannelFetcher(repo, state, refresh_window_hours=0)
    rows = {}
    async with MTProtoServer(world) as server, signed_in_client(
        server.port, "+15550000001", "12345"
    ) as (client, _):
        for chan in (alpha, beta):
            entity = await client.get_input_entity(chan.username)
            row = await Channel.create(
                tg_id=chan.id, access_hash=entity.access_hash, username=chan.username,
                title=chan.title,
            )
            ch = await state.channel(row.id)
            assert ch is not None
            assert (await fetcher.run(client, ch)).status == "ok"
            rows[chan.username] = row.id

    export = await GraphService(tmp_path).export(None, None)
    assert export is not None
    g = nx.read_gexf(export.gexf)
    src = f"id:{source.id}"
    assert g.nodes[src]["label"] == "The Source" and g.nodes[src]["username"] == "source"
    weights = {(u, v, d["kind"]): d["weight"] for u, v, d in g.edges(data=True)}
    assert weights == graph.edges(rows["alpha"], rows["beta"])
    assert [(t.target, t.forwards, t.mentions) for t in export.top] == [
        (src, 2, 1), ("@gamma_news", 0, 1)
    ]
