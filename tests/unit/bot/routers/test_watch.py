"""/watch arguments: the pattern and the channel it watches."""

from __future__ import annotations

from bot.routers.watch import PAGER_PREFIX, WatchesPage, split_watch_args
from tests.unit.bot.conftest import ADMIN
from tests.unit.bot.routers.conftest import DataBot


def test_split_watch_arguments() -> None:
    assert split_watch_args("/цен[аы]/ @news") == ("/цен[аы]/", "@news")
    assert split_watch_args("нефть газ all") == ("нефть газ", "all")
    assert split_watch_args("нефть газ") == ("нефть газ", None)


def test_the_pager_builds_watches_page_buttons() -> None:
    # bot.keyboards.pager_row() writes prefix + page: it must be WatchesPage packed.
    assert PAGER_PREFIX + "7" == WatchesPage(page=7).pack()
    assert WatchesPage.unpack(PAGER_PREFIX + "7").page == 7


# -- in process: real Updates through the real Dispatcher, fake watches --------------


async def test_add_list_page_and_remove(data_bot: DataBot) -> None:
    tg, watches = data_bot.tg, data_bot.watches
    (added,) = await tg.send("/watch нефть газ @c2")
    assert "#1" in added.text or "1" in added.text
    assert watches.calls == [("add_watch", ("нефть газ", 2, ADMIN))]
    for i in range(25):
        await tg.send(f"/watch word{i}")
    (page1,) = await tg.send("/watches")
    nav = dict(page1.buttons)
    assert WatchesPage(page=1).pack() in nav.values()
    (page2,) = await tg.press(WatchesPage(page=1).pack(), on=page1)
    assert page2.method == "editMessageText" and "word24" in page2.text
    (removed,) = await tg.send("/unwatch #1")
    assert "1" in removed.text and len(watches.watches) == 25


async def test_a_bad_pattern_is_explained_by_the_error_handler(data_bot: DataBot) -> None:
    (reply,) = await data_bot.tg.send("/watch /(/")
    assert reply.text.startswith("Bad pattern") and "at character 1" in reply.text
    assert data_bot.watches.watches == []
