"""Which threads need a messages.getReplies request."""

from __future__ import annotations

from parser.comments import needs_reading


def test_a_thread_read_up_to_its_newest_comment_costs_no_request() -> None:
    assert not needs_reading(stored_last=40, newest=40)
    assert not needs_reading(stored_last=41, newest=40)  # a comment deleted since
    assert needs_reading(stored_last=40, newest=41)
    assert needs_reading(stored_last=0, newest=40)  # never read
    assert needs_reading(stored_last=40, newest=None)  # Telegram did not say
