"""Keyword alerts end to end: the real fetcher stores posts, operators get one alert."""

from __future__ import annotations

from pathlib import Path

from tests.doubles.mtproto import World
from tests.e2e.harness import ADMIN2_ID, ADMIN_ID, running_stack
from tests.e2e.seeded import CODE, PHONE, caught_up, parse, seed, wait_until


def _alerts(stack_api: object, chat_id: int) -> list[str]:
    transcript = stack_api.transcript(chat_id)  # type: ignore[attr-defined]
    return [e.text for e in transcript if e.text and e.text.startswith("Keyword alerts")]


async def test_a_watch_fires_once_per_matching_post(tmp_path: Path) -> None:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    news = world.add_channel(username="alerts", title="Alerts")
    news.add_messages(10, text_fn=lambda i: f"обычный пост {i}")
    async with running_stack(tmp_path, world, start=False) as stack:
        ids = await seed(stack, [news])
        await stack.app.start()
        api = stack.botapi
        await api.wait_for_poll(timeout=60)
        await wait_until(lambda: caught_up(stack, ids["alerts"], news), "backfill", stack)

        await api.send_text(api.users[ADMIN2_ID], "/watch срочно all")
        await api.wait_for_message(ADMIN2_ID, r"Alert #1 added", timeout=15)
        news.add_message("СРОЧНО: первая новость")
        news.add_message("ничего особенного")
        news.add_message("Снова срочно, вторая")
        await parse(stack, "@alerts")
        alert = await api.wait_for_message(ADMIN2_ID, r"Keyword alerts", timeout=15, after=0)
        assert "2 new matching posts" in alert.text
        assert "https://t.me/alerts/11" in alert.text and "https://t.me/alerts/13" in alert.text
        assert "alerts/12" not in alert.text
        assert len(_alerts(api, ADMIN_ID)) == 1  # every operator is told, once

        # The next run re-reads the recent posts (an edit among them): no repeat.
        news.edit_message(11, text="СРОЧНО: первая новость (обновлено)")
        await parse(stack, "@alerts")
        assert len(_alerts(api, ADMIN2_ID)) == 1
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]
