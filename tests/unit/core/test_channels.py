"""The one channel type's label and the one post link."""

from __future__ import annotations

from core.channels import Channel, post_link


def test_label_prefers_username_then_title_then_id() -> None:
    assert Channel(id=1, tg_id=5, username="news", title="News").label == "@news"
    assert Channel(id=1, tg_id=5, title="News").label == "News"
    assert Channel(id=1, tg_id=5).label == "5"


def test_post_link_public_and_private() -> None:
    assert post_link("news", 1, 5) == "https://t.me/news/5"
    assert post_link(None, 777, 5) == "https://t.me/c/777/5"
    # t.me/c/ takes the bare id: a Bot-API-style -100… id loses its prefix.
    assert post_link(None, -1001234567890, 5) == "https://t.me/c/1234567890/5"
    assert post_link(None, 1234567890, 5) == "https://t.me/c/1234567890/5"
