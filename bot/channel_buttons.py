"""The typed callback data of the /add and /channels buttons.

They share the `ch` prefix and keep the strings the buttons always carried
(`ch:p:<page>`, `ch:v:<id>:<page>`, `ch:j:<batch>:<token>`, ...); each class matches
only its own shape (field count and literal tags), so one never catches another's.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from aiogram.filters.callback_data import CallbackData


class ChannelPage(CallbackData, prefix="ch"):
    """A page (0-based) of /channels."""

    tag: Literal["p"] = "p"
    page: int


class ItemAction(StrEnum):
    VIEW = "v"
    PAUSE = "pa"
    RESUME = "re"
    REMOVE = "rm"  # asks first
    REMOVE_YES = "rmy"
    COMMENTS = "cm"  # toggles reading comments
    DELETIONS = "dl"  # toggles the deletion alert


class ChannelItem(CallbackData, prefix="ch"):
    """One channel's view or action; `page` is the list page to go back to."""

    action: ItemAction
    channel_id: int
    page: int


class MediaOp(StrEnum):
    VIEW = "v"
    MODE = "m"  # arg: off | photos | all
    KIND = "k"  # arg: a MEDIA_KINDS value, toggled (mode all)
    SIZE = "s"  # arg: the cap in MB (0: no cap)


class ChannelMedia(CallbackData, prefix="ch"):
    """A channel's media settings (`ch:md:<id>:<page>:<op>:<arg>`, 40 bytes at most
    for a 19-digit id): `page` is the list page to go back to."""

    tag: Literal["md"] = "md"
    channel_id: int
    page: int
    op: MediaOp
    arg: str = ""


class JoinInvite(CallbackData, prefix="ch"):
    """Join one invite of an /add batch."""

    tag: Literal["j"] = "j"
    batch: str
    token: str


class InviteBatch(CallbackData, prefix="ch"):
    """Join (`ja`) or skip (`jn`) every invite of an /add batch still unanswered."""

    action: Literal["ja", "jn"]
    batch: str


class HistoryPick(CallbackData, prefix="ch"):
    """The history depth picked for an /add batch: `mode` all | last | since | default,
    `arg` the post count or the day (YYYY-MM-DD)."""

    tag: Literal["h"] = "h"
    batch: str
    mode: str
    arg: str = ""

    @property
    def spec(self) -> str:
        """The depth as services/channels.py `choose_history` takes it."""
        return f"{self.mode}:{self.arg}" if self.arg else self.mode
