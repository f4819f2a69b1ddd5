"""/graph fed as real Updates through the real Dispatcher, over a fake GraphAPI: the two
files, the list of channels not archived with their Add buttons, and an Add press
going through the /add flow. Both languages; every text checked by the Bot API
double's rules (HTML, lengths, callback data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

import pytest

from bot.routers.graph import GraphAdd, parse_args
from core.channels import AddCode, AddResult, Channel
from core.links import GraphExport, GraphTarget
from tests.unit.bot.conftest import Sent
from tests.unit.bot.routers.conftest import DataBot


@dataclass
class FakeGraph:
    out_dir: Path
    top: tuple[GraphTarget, ...] = ()
    empty: bool = False
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    cleaned: list[Path] = field(default_factory=list)

    async def export(
        self, channel: Channel | None, days: int | None, tz: tzinfo
    ) -> GraphExport | None:
        self.calls.append((channel.id if channel else None, days))
        if self.empty:
            return None
        gexf, csv = self.out_dir / "g.gexf", self.out_dir / "g.csv"
        gexf.write_text("<gexf/>")
        csv.write_text("Source,Target\n")
        return GraphExport(gexf, csv, 5, 7, None, self.top)

    async def cleanup(self, export: GraphExport) -> None:
        self.cleaned.append(export.gexf)


TOP = (
    GraphTarget("id:300", "Src_Chan", "Source <News>", 300, 12, 3, 2),
    GraphTarget("@ext_chan", "ext_chan", None, None, 0, 4, 1),
    GraphTarget("id:42", None, "Private room", 42, 2, 0, 1),
)


def _graph(data_bot: DataBot, tmp_path: Path, **kw: Any) -> FakeGraph:
    fake = FakeGraph(tmp_path, **kw)
    control = data_bot.tg.control
    control.dp.workflow_data["graph"] = fake
    return fake


def _methods(sent: list[Sent]) -> list[str]:
    return [s.method for s in sent if s.method != "sendChatAction"]


def test_parse_args() -> None:
    assert parse_args(None) == (None, None)
    assert parse_args("@c1") == ("@c1", None)
    assert parse_args("@c1 7") == ("@c1", 7)
    assert parse_args("30") == (None, 30)
    assert parse_args("3650") == (None, 3650)
    # Out of range: the usage (which gives the range), not a silently other period.
    assert parse_args("99999") is None
    assert parse_args("@c1 0") is None
    assert parse_args("@c1 7 x") is None
    assert parse_args("@c1 @c2") is None
    assert parse_args("@c1 ²") is None


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_files_then_the_top_list_with_add_buttons(
    data_bot: DataBot, tmp_path: Path, lang: str
) -> None:
    fake = _graph(data_bot, tmp_path, top=TOP)
    data_bot.tg.updates.lang = lang
    sent = await data_bot.tg.send("/graph @c1 7")
    assert _methods(sent) == ["sendDocument", "sendDocument", "sendMessage"]
    assert fake.calls == [(1, 7)] and fake.cleaned == [tmp_path / "g.gexf"]
    docs = [s for s in sent if s.method == "sendDocument"]
    assert "Gephi" in str(docs[0].params["caption"])
    top = sent[-1]
    assert "Source &lt;News&gt;" in top.text and "@Src_Chan" in top.text
    assert "42" in top.text  # the private one: listed, no button
    presses = [data for _, data in top.buttons]
    assert presses == [GraphAdd(name="Src_Chan").pack(), GraphAdd(name="ext_chan").pack()]
    if lang == "ru":
        assert "12 репостов" in top.text and "в 2 каналах" in top.text
    else:
        assert "12 reposts" in top.text and "in 2 channels" in top.text


async def test_whole_archive_empty_usage_and_unknown_channel(
    data_bot: DataBot, tmp_path: Path
) -> None:
    fake = _graph(data_bot, tmp_path, empty=True)
    sent = await data_bot.tg.send("/graph")
    assert fake.calls == [(None, None)]
    assert _methods(sent) == ["sendMessage"] and "no reposts" in sent[-1].text
    (usage,) = await data_bot.tg.send("/graph @c1 7 8")
    assert "/graph" in usage.text
    (usage,) = await data_bot.tg.send("/graph @c1 99999")  # out of range: not clamped
    assert "from 1 to 3650" in usage.text
    sent = await data_bot.tg.send("/graph @nope")
    assert "@nope" in sent[-1].text and len(fake.calls) == 1


async def test_add_button_goes_through_the_add_flow(data_bot: DataBot, tmp_path: Path) -> None:
    _graph(data_bot, tmp_path, top=TOP)
    channels = data_bot.tg.control.dp.workflow_data["channels"]
    channels.add_answers = [AddResult("@Src_Chan", AddCode.ADDED, "Src", channel_id=9)]
    sent = await data_bot.tg.send("/graph")
    pressed = await data_bot.tg.press(GraphAdd(name="Src_Chan").pack(), on=sent[-1])
    assert ("add_lines", "@Src_Chan") in channels.calls
    assert len(pressed) == 2  # the add report, then the history question
    assert pressed[1].buttons  # the depth choices


async def test_not_wired(data_bot: DataBot) -> None:
    data_bot.tg.control.dp.workflow_data["graph"] = None
    (reply,) = await data_bot.tg.send("/graph")
    assert "not available" in reply.text
