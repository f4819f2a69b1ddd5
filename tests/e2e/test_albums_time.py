"""Albums and the operators' zone end to end: the app (TIMEZONE=Europe/Moscow) parses a
channel from the MTProto double, then /stats counts posts as a reader sees them.

The channel holds a three-photo album with one caption, two single posts and a pin
(a service event): six stored messages, three posts. The album and one post are dated
22:30 UTC, which is already the next day in Moscow.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.doubles.mtproto import World
from tests.doubles.mtproto.world import Channel
from tests.e2e.harness import ADMIN2_ID, running_stack
from tests.e2e.seeded import CODE, PHONE, caught_up, db, seed, wait_until


def _world(late: datetime) -> tuple[World, Channel]:
    world = World()
    world.add_account(phone=PHONE, code=CODE)
    pics = world.add_channel(username="pics", title="Pics")
    pics.add_message("evening post", date=late - timedelta(hours=3), views=10)  # 22:30 MSK
    for caption in ("", "Три фото из Москвы", ""):
        pics.add_message(caption, date=late, views=900, media="photo", grouped_id=4242)
    single = pics.add_message("night post", date=late + timedelta(minutes=1), views=20)
    pics.add_service("pin_message", date=late + timedelta(minutes=2), reply_to=single.id)
    return world, pics


async def test_an_album_is_one_post_and_days_are_moscow_days(tmp_path: Path) -> None:
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    late = three_days_ago.replace(hour=22, minute=30, second=0, microsecond=0)
    world, pics = _world(late)
    async with running_stack(tmp_path, world, start=False, TIMEZONE="Europe/Moscow") as stack:
        ids = await seed(stack, [pics])
        await stack.app.start()
        api = stack.botapi
        await api.wait_for_poll(timeout=60)
        # A seeded channel runs at start.
        await wait_until(lambda: caught_up(stack, ids["pics"], pics), "the run", stack)
        with db(stack) as conn:
            stored = conn.execute("SELECT COUNT(*) FROM message").fetchone()[0]
            days = conn.execute(
                "SELECT COUNT(DISTINCT date(date)) FROM message WHERE action IS NULL"
            ).fetchone()[0]
        assert stored == 6 and days == 1  # one UTC day

        en = api.users[ADMIN2_ID]
        await api.send_text(en, "/stats @pics 7")
        chart = await api.wait_for_message(ADMIN2_ID, r"in 7 days", timeout=30)
        top = await api.wait_for_message(ADMIN2_ID, r"Top by views", timeout=30)
        assert api.uploads[-1].kind == "photo" and api.uploads[-1].data.startswith(b"\x89PNG")
        caption = chart.caption or ""
        assert caption.startswith("Pics · @pics: 3 posts in 7 days"), caption
        assert caption.endswith("by day, Europe/Moscow (UTC+03:00)"), caption
        album = pics.ids[1]
        # The album once, at its first item, with its views (not three times 900).
        text = top.text or ""
        listed = text.split("Top by views", 1)[1].split("\n\n")[0].splitlines()[1:]
        assert listed[0].startswith(f"• #{album} ") and "👁 900 ·" in listed[0], text
        assert len(listed) == 3 and "\n".join(listed).count("👁 900") == 1
        assert f"#{album + 1} " not in text and f"#{album + 2} " not in text

        # "N days" are whole Moscow days: the window that starts on the album's Moscow
        # day holds the album and the night post, not the evening post (22:30 the day
        # before there, though the same UTC day).
        moscow = ZoneInfo("Europe/Moscow")
        n = (datetime.now(moscow).date() - late.astimezone(moscow).date()).days + 1
        for days, posts in ((n, 2), (n + 1, 3)):
            await api.send_text(en, f"/stats @pics {days}")
            chart = await api.wait_for_message(ADMIN2_ID, rf"in {days} days", timeout=30)
            assert f": {posts} posts in {days} days" in (chart.caption or ""), chart.caption
        assert await stack.app.terminate() == 0, stack.app.log()[-3000:]
