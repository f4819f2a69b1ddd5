"""/parse <channel|all> with a live progress message, and the parsing part of /status."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.live import LiveMessage
from bot.services import BotServices
from bot.texts import t

log = logging.getLogger(__name__)

router = Router(name="parse")


class Progress(Protocol):
    channel: str
    fetched: int
    total: int | None
    status: str
    error: str | None
    deferred_seconds: int | None

    @property
    def rate(self) -> float: ...

    @property
    def eta(self) -> float | None: ...


class Target(Protocol):
    id: int

    @property
    def label(self) -> str: ...


class ParseAPI(Protocol):
    def ready(self) -> bool: ...

    async def targets(self, target: str) -> list[Any]: ...

    async def run(
        self, channel_id: int, on_progress: Callable[[Any], Awaitable[None]] | None
    ) -> Any: ...

    async def status(self) -> dict[str, Any]: ...


def duration(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    if s < 120:
        return t("unit_seconds", lang, n=s)
    if s < 3600:
        return t("unit_minutes", lang, n=s // 60)
    return t("unit_hours", lang, h=s // 3600, m=(s % 3600) // 60)


def render_progress(p: Progress, lang: str) -> str:
    return t(
        "parse_progress",
        lang,
        channel=p.channel,
        fetched=p.fetched,
        total=p.total if p.total is not None else "?",
        rate=int(p.rate),
        eta=duration(p.eta, lang),
    )


def render_result(p: Progress, seconds: float, lang: str) -> str:
    channel = p.channel
    reason = p.error or ""
    if p.status == "ok":
        secs = f"{seconds:.1f}"
        return t("parse_result_ok", lang, channel=channel, fetched=p.fetched, seconds=secs)
    if p.status == "deferred":
        left = duration(p.deferred_seconds, lang)
        return t("parse_result_deferred", lang, channel=channel, left=left)
    if p.status == "disabled":
        return t("parse_result_disabled", lang, channel=channel, reason=reason)
    if p.status == "interrupted":
        return t("parse_result_interrupted", lang, channel=channel, fetched=p.fetched)
    return t("parse_result_failed", lang, channel=channel, reason=reason, fetched=p.fetched)


@router.message(Command("parse"))
async def cmd_parse(
    message: Message, command: CommandObject, services: BotServices, lang: str
) -> None:
    api: ParseAPI | None = services.extras.get("parse")
    if api is None or not command.args:
        await message.answer(t("parse_usage", lang))
        return
    if not api.ready():
        await message.answer(t("parse_not_ready", lang))
        return
    targets: list[Target] = await api.targets(command.args)
    if not targets:
        key = "parse_no_channels" if command.args.strip().lower() == "all" else "parse_not_found"
        await message.answer(t(key, lang, target=command.args.strip()))
        return
    done: list[str] = []
    total = 0
    first = await message.answer(t("parse_queued", lang, channel=targets[0].label))
    live = LiveMessage(first)
    for target in targets:
        started = time.monotonic()

        async def on_progress(p: Progress) -> None:
            await live.show("\n".join([*done, render_progress(p, lang)]))

        result: Progress = await api.run(target.id, on_progress)
        total += result.fetched
        done.append(render_result(result, time.monotonic() - started, lang))
        await live.show("\n".join(done))
    summary = t("parse_summary", lang, channels=len(targets), fetched=total)
    await live.finish("\n".join([*done, summary]))


async def status_section(api: ParseAPI, lang: str) -> str:
    """The parsing part of /status (account, breaker, channels, storage, next runs)."""
    data = await api.status()
    lines = []
    if data.get("account"):
        lines.append(t("status_parsing_account", lang, value=str(data["account"])))
    breaker = data["breaker"]
    state = breaker["state"]
    if state == "open":
        state_text = t("status_breaker_open", lang, left=duration(breaker["retry_in"], lang))
    elif data.get("session") == "connecting":  # "ok" would hide it; the cause is above
        state_text = t("status_breaker_waiting", lang)
    else:
        state_text = t(f"status_breaker_{state}", lang)
    lines.append(t("status_parsing_breaker", lang, state=state_text))
    lines.append(
        t(
            "status_parsing_channels",
            lang,
            ok=data["ok"],
            deferred=len(data["deferred"]),
            disabled=len(data["disabled"]),
            paused=data["paused"],
        )
    )
    for label, left in data["deferred"]:
        left_s = duration(left, lang)
        lines.append(t("status_parsing_deferred", lang, channel=label, left=left_s))
    for label, reason in data["disabled"]:
        why = reason
        lines.append(t("status_parsing_disabled", lang, channel=label, reason=why))
    current = data.get("current")
    if current is not None:
        lines.append(
            t(
                "status_parsing_current",
                lang,
                channel=current.channel,
                fetched=current.fetched,
            )
        )
    lines.append(t("status_parsing_messages", lang, count=data["messages"]))
    if data.get("db_size") is not None:
        lines.append(t("status_parsing_db", lang, size=f"{data['db_size'] / 1e6:.1f} MB"))
    if data["next_runs"]:
        lines.append(t("status_parsing_next", lang))
        for label, when in data["next_runs"]:
            stamp = when.strftime("%Y-%m-%d %H:%M UTC") if isinstance(when, datetime) else when
            lines.append(
                t("status_parsing_next_item", lang, channel=label, when=stamp)
            )
    return "\n".join(lines)
