"""/watch arguments: the pattern and the channel it watches."""

from __future__ import annotations

from bot.routers.watch import PAGER_PREFIX, WatchesPage, split_watch_args


def test_split_watch_arguments() -> None:
    assert split_watch_args("/цен[аы]/ @news") == ("/цен[аы]/", "@news")
    assert split_watch_args("нефть газ all") == ("нефть газ", "all")
    assert split_watch_args("нефть газ") == ("нефть газ", None)


def test_the_pager_builds_watches_page_buttons() -> None:
    # bot.keyboards.pager_row() writes prefix + page: it must be WatchesPage packed.
    assert PAGER_PREFIX + "7" == WatchesPage(page=7).pack()
    assert WatchesPage.unpack(PAGER_PREFIX + "7").page == 7
