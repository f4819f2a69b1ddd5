"""The repost and mention graph end to end (#17 Must 4): the app as a process parses two
channels of the MTProto double that forward from and mention other channels; /graph
through the Bot API double sends a GEXF that networkx reads back with the expected
nodes, edges and weights, the CSV edge list, and the channels linked most that are not
archived; the Add button on one of them adds it through the /add flow. One stack."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import networkx as nx
import pytest

from tests.doubles.graph_world import add_graph_channels
from tests.doubles.mtproto import World
from tests.e2e.harness import ADMIN2_ID, running_stack
from tests.e2e.seeded import CODE, PHONE, caught_up, db, seed, wait_until

pytestmark = pytest.mark.timeout(120)


async def test_graph_files_and_the_add_button(tmp_path: Path) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    graph = add_graph_channels(world)
    alpha, beta, source = graph.alpha, graph.beta, graph.source
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, [alpha, beta])
        await stack.app.start()
        api = stack.botapi
        await api.wait_for_poll(timeout=60)
        for chan in (alpha, beta):
            row = ids[chan.username or ""]
            await wait_until(lambda r=row, c=chan: caught_up(stack, r, c), "parsed", stack)

        op = api.users[ADMIN2_ID]
        await api.send_text(op, "/graph")
        top = await api.wait_for_message(ADMIN2_ID, r"Linked most", timeout=30)
        files = {u.filename.rsplit(".", 1)[1]: u for u in api.uploads if u.filename}
        g = nx.read_gexf(io.BytesIO(files["gexf"].data))
        ca, cb, src = f"c{ids['alpha']}", f"c{ids['beta']}", f"id:{source.id}"
        assert set(g.nodes) == {ca, cb, src, "@gamma_news"}
        assert g.nodes[src]["label"] == "The Source"
        weights = {(u, v, d["kind"]): d["weight"] for u, v, d in g.edges(data=True)}
        assert weights == graph.edges(ids["alpha"], ids["beta"])
        table = list(csv.DictReader(io.StringIO(files["csv"].text())))
        assert {(r["Source"], r["Target"], r["Kind"], int(r["Weight"])) for r in table} == {
            (u, v, k, w) for (u, v, k), w in weights.items()
        }
        assert "The Source · @source — 2 reposts, 1 mention, in 1 channel" in top.text
        assert top.button_texts == ["➕ Add @source", "➕ Add @gamma_news"]

        # Add: the /add flow (resolved through the double), then the history question.
        await api.press_button(op, top, text="➕ Add @source")
        await api.wait_for_message(ADMIN2_ID, r"1 channel added: @source", timeout=30)
        await api.wait_for_message(ADMIN2_ID, r"How much history", timeout=15)
        with db(stack) as conn:
            added = conn.execute("SELECT tg_id FROM channel WHERE username = 'source'").fetchone()
        assert added == (source.id,)
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]
