"""/parse <channel|all> with a live progress message, and the parsing part of /status.

Every reply stays within Telegram's 4,096 characters whatever the number of channels:
a run over many channels shows counters and the channel being read (never a line per
channel), summaries and /status name only the first few channels of each kind
("…and N more"), and channel labels and error reasons are cut to a fixed length.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.api.parsing import ParsingAPI
from bot.labels import duration, echo, shorten
from bot.live import LiveMessage
from bot.texts import Html, html_join, keys, reason_text, t, tn
from bot.times import UTC_ZONE, show
from core.parsing import (
    BatchProgress,
    BreakerState,
    ChannelKind,
    CountersState,
    LocalState,
    NamedChannel,
    ParseStatus,
    RunProgress,
    RunStatus,
)

LABEL_MAX = 64  # characters of a channel label in any reply
REASON_MAX = 100  # characters of an error reason
SUMMARY_NAMED = 5  # channels a /parse summary names
STATUS_NAMED = 3  # channels of each kind /status names
STATUS_RUNNING = 5  # runs in progress /status names (one per account)
ALL = ("all", "*", "все")
# The outcomes of a run, in the order the counters show them.
OUTCOMES = (
    RunStatus.OK,
    RunStatus.FAILED,
    RunStatus.DEFERRED,
    RunStatus.DISABLED,
    RunStatus.INTERRUPTED,
    RunStatus.ELSEWHERE,
    RunStatus.NOT_RUN,
)
# The kinds /status names channels of, in order.
NAMED_KINDS = (ChannelKind.FAILING, ChannelKind.DEFERRED, ChannelKind.DISABLED, ChannelKind.PAUSED)


def render_progress(p: RunProgress, lang: str) -> Html:
    return t(
        "parse_progress",
        lang,
        channel=shorten(p.channel, LABEL_MAX),
        fetched=p.fetched,
        total=p.total if p.total is not None else "?",
        new=p.new,
        rate=int(p.rate),
        eta=duration(p.eta, lang),
    )


def render_result(p: RunProgress, seconds: float, lang: str) -> Html:
    """One channel's outcome; for a supergroup upgraded from a basic group, what came
    from the old group or how much of it cannot be read, on lines of their own."""
    line = _result_line(p, seconds, lang)
    extra: list[Html] = []
    if p.migrated:
        extra.append(tn("parse_old_group", p.migrated, lang))
    if p.migrated_error:
        reason = reason_text(shorten(p.migrated_error, REASON_MAX), lang)
        extra.append(tn("parse_old_group_missing", p.migrated_missing or 0, lang, reason=reason))
    return html_join("\n", [line, *extra]) if extra else line


def _result_line(p: RunProgress, seconds: float, lang: str) -> Html:
    channel = shorten(p.channel, LABEL_MAX)
    reason = reason_text(shorten(p.error or "", REASON_MAX), lang)
    if p.status == "ok":
        new = tn("parse_new_messages", p.new, lang)
        secs = round(seconds, 1)
        if p.reread:
            return t(
                "parse_result_ok_reread", lang, channel=channel, new=new, reread=p.reread,
                seconds=secs,
            )
        return t("parse_result_ok", lang, channel=channel, new=new, seconds=secs)
    if p.status == "deferred":
        left = duration(p.deferred_seconds, lang)
        return t("parse_result_deferred", lang, channel=channel, left=left)
    if p.status == "disabled":
        return t("parse_result_disabled", lang, channel=channel, reason=reason)
    if p.status == "interrupted":
        return t("parse_result_interrupted", lang, channel=channel, fetched=p.fetched)
    if p.status == "not_run":  # no account that can read it is usable now
        return t("parse_result_not_run", lang, channel=channel, reason=reason)
    if p.status == "elsewhere":
        # services/parsing/worker.py: the run's lease held by "<host/pid>"; its account
        # open in another process ("account:<host/pid>") or flood-waited here ("flood").
        if p.error == "flood":
            return t("parse_result_elsewhere_flood", lang, channel=channel)
        if p.error and p.error.startswith("account:"):
            holder = p.error.removeprefix("account:")
            return t("parse_result_elsewhere_account", lang, channel=channel, holder=holder)
        return t("parse_result_elsewhere", lang, channel=channel, holder=p.error or "?")
    return t("parse_result_failed", lang, channel=channel, reason=reason, fetched=p.fetched)


def render_counts(batch: BatchProgress, lang: str) -> Html:
    """`12 new · 250 re-read · ⚠️ 2 failed`: what came in and what went wrong so far."""
    parts = [t("parse_count_new", lang, n=batch.new)]
    if batch.reread:
        parts.append(t("parse_count_reread", lang, n=batch.reread))
    for outcome in OUTCOMES[1:]:
        if batch.outcomes.get(outcome):
            parts.append(t(f"parse_count_{outcome}", lang, n=batch.outcomes[outcome]))
    return html_join(" · ", parts)


def render_live(batch: BatchProgress, lang: str) -> Html:
    """The live message: counters over the channels, then the channel being read."""
    lines = []
    if batch.total > 1:
        counts = render_counts(batch, lang)
        lines.append(
            t("parse_batch_progress", lang, done=batch.done, total=batch.total, counts=counts)
        )
    if batch.current is not None:
        lines.append(render_progress(batch.current, lang))
    return html_join("\n", lines)


def render_stop(batch: BatchProgress, lang: str) -> Html:
    """Why the channels left were not run."""
    not_run = tn("parse_not_run", batch.outcomes[RunStatus.NOT_RUN], lang)
    state = batch.stopped or ""
    key = f"parse_stopped_{state}"
    if key in keys():
        detail = reason_text(shorten(batch.stopped_detail or "?", REASON_MAX), lang)
        return t(key, lang, reason=detail, not_run=not_run)
    session = f"session_{state}"
    shown: str = state
    if session in keys():
        shown = t(session, lang, reason=reason_text(batch.stopped_detail, lang))
    return t("parse_stopped_other", lang, state=shown, not_run=not_run)


def render_summary(batch: BatchProgress, lang: str) -> Html:
    """The final message: totals, what went wrong, and at most a few channels by name."""
    if batch.stopped:
        done = tn("parse_done_of", batch.total, lang, done=batch.done)
    else:
        done = tn("parse_done", batch.done, lang)
    new = tn("parse_new_messages", batch.new, lang)
    elapsed = duration(time.monotonic() - batch.started, lang)
    key = "parse_summary_reread" if batch.reread else "parse_summary"
    lines = [t(key, lang, done=done, elapsed=elapsed, new=new, reread=batch.reread)]
    if batch.total > 1:
        parts = [
            t(f"parse_count_{o}", lang, n=batch.outcomes[o])
            for o in OUTCOMES
            if batch.outcomes.get(o)
        ]
        if parts:
            lines.append(html_join(" · ", parts))
    if batch.stopped:
        lines.append(render_stop(batch, lang))
    if batch.total <= SUMMARY_NAMED:
        named, count = batch.results, len(batch.results)
    else:
        named, count = batch.problems, batch.done - batch.outcomes[RunStatus.OK]
    for result, seconds in named[:SUMMARY_NAMED]:
        lines.append(render_result(result, seconds, lang))
    more = count - min(len(named), SUMMARY_NAMED)
    if more > 0:
        lines.append(t("parse_more", lang, n=more))
    return html_join("\n", lines)


def _busy(batch: BatchProgress | None, lang: str) -> Html:
    done, total = (batch.done, batch.total) if batch is not None else (0, 0)
    return t("parse_busy", lang, done=done, total=total)


def build_router() -> Router:
    """/parse; `parsing` (ParsingAPI) reaches the handler as a workflow-data key."""
    router = Router(name="parse")
    router.message.register(cmd_parse, Command("parse"))
    return router


async def cmd_parse(
    message: Message, command: CommandObject, parsing: ParsingAPI, lang: str
) -> None:
    """/parse <channel|all>: queue the run(s), show live progress, then a summary."""
    if not command.args:
        await message.answer(t("parse_usage", lang))
        return
    target = command.args.strip()
    whole = target.lower() in ALL
    if whole and parsing.batch is not None:  # one /parse all at a time
        await message.answer(_busy(parsing.batch, lang))
        return
    # What to run is looked up first (the archive alone): a channel that is not there
    # is answered so whatever the session's state, never "not connected".
    targets = await parsing.targets(target)
    if not targets:
        key = "parse_no_channels" if whole else "parse_not_found"
        await message.answer(t(key, lang, target=echo(target)))
        return
    if not parsing.ready():
        await message.answer(t("parse_not_ready", lang))
        return
    if len(targets) > 1:
        first = await message.answer(tn("parse_batch_queued", len(targets), lang))
    else:
        label = shorten(targets[0].label, LABEL_MAX)
        first = await message.answer(t("parse_queued", lang, channel=label))
    live = LiveMessage(first)

    async def on_progress(batch: BatchProgress) -> None:
        text = render_live(batch, lang)
        if text:
            await live.show(text)

    batch = await parsing.run_batch(targets, on_progress, exclusive=whole)
    if batch is None:  # another /parse all started while this one was being set up
        await live.finish(_busy(parsing.batch, lang))
        return
    await live.finish(render_summary(batch, lang))


def _named_lines(
    kind: ChannelKind, named: tuple[NamedChannel, ...], count: int, lang: str
) -> list[Html]:
    lines = []
    for ch in named[:STATUS_NAMED]:
        channel = shorten(ch.label, LABEL_MAX)
        if kind == ChannelKind.DEFERRED:
            left = duration(ch.seconds, lang)
            lines.append(t("status_parsing_deferred", lang, channel=channel, left=left))
        else:
            reason = reason_text(shorten(ch.reason, REASON_MAX), lang)
            lines.append(t(f"status_parsing_{kind}", lang, channel=channel, reason=reason))
    more = count - len(lines)
    if more > 0:
        lines.append(t("parse_more", lang, n=more))
    return lines


def _activity_lines(data: ParseStatus, lang: str) -> list[Html]:
    """The runs under way (the first STATUS_RUNNING), a /parse all under way, and the
    queue."""
    lines = []
    runs = data.running or ((data.current,) if data.current is not None else ())
    if len(runs) == 1:
        channel = shorten(runs[0].channel, LABEL_MAX)
        lines.append(t("status_parsing_current", lang, channel=channel, fetched=runs[0].fetched))
    elif runs:
        lines.append(t("status_parsing_running", lang, n=len(runs)))
        for run in runs[:STATUS_RUNNING]:
            channel = shorten(run.channel, LABEL_MAX)
            lines.append(
                t("status_parsing_running_item", lang, channel=channel, fetched=run.fetched)
            )
        if len(runs) > STATUS_RUNNING:
            lines.append(t("parse_more", lang, n=len(runs) - STATUS_RUNNING))
    batch = data.batch
    if batch is not None:
        lines.append(t("status_parsing_batch", lang, done=batch.done, total=batch.total))
    if data.queued:
        lines.append(t("status_parsing_queued", lang, n=data.queued))
    return lines


def _next_run_lines(data: ParseStatus, lang: str, tz: ZoneInfo) -> list[Html]:
    if not data.next_runs:
        return []
    lines = [t("status_parsing_next", lang)]
    for run in data.next_runs:
        stamp = show(run.when, tz)
        label = shorten(run.label, LABEL_MAX)
        lines.append(t("status_parsing_next_item", lang, channel=label, when=stamp))
    return lines


def _breaker_line(breaker: BreakerState, session: str, lang: str) -> Html:
    state = breaker.state
    if state == "open":
        state_text = t("status_breaker_open", lang, left=duration(breaker.retry_in, lang))
    elif session == "connecting":  # "ok" would hide it; the cause is above
        state_text = t("status_breaker_waiting", lang)
    elif state == "closed" and breaker.failures:  # runs fail on the network: not "ok"
        error = shorten(breaker.last_error or "?", REASON_MAX)
        state_text = tn("status_breaker_failing", breaker.failures, lang, error=error)
    else:
        state_text = t(f"status_breaker_{state}", lang)
    return t("status_parsing_breaker", lang, state=state_text)


def _local_line(local: LocalState, lang: str) -> Html:
    """Runs held back by this machine's trouble (disk full, database locked)."""
    cause = t(f"local_cause_{local.cause}", lang, where=local.where or "?")
    return t(
        "status_parsing_local", lang, cause=cause, left=duration(local.seconds, lang),
        every=duration(local.probe_seconds, lang),
    )


def counters_lines(c: CountersState, lang: str, tz: ZoneInfo) -> list[Html]:
    """The counters job (#17): its last round and what it read since it started (zero
    parts left out), then the subscriber counts: the last one taken, how many wait for
    the pace and when the next is taken; or a flood wait holding the job."""
    if c.last_round is None:
        lines = [t("status_counters_none", lang)]
    else:
        when = show(c.last_round, tz)
        since = show(c.since or c.last_round, tz)
        parts = []
        if c.posts:
            parts.append(tn("status_counters_posts", c.posts, lang))
        if c.subscribers:
            parts.append(tn("status_counters_subscribers", c.subscribers, lang))
        if parts:
            read = html_join(", ", parts)
            lines = [t("status_counters", lang, when=when, since=since, read=read)]
        else:
            lines = [t("status_counters_nothing", lang, when=when, since=since)]
    if c.held_until is not None:
        left = max(0, int((c.held_until - datetime.now(UTC)).total_seconds()))
        lines.append(t("status_counters_held", lang, left=duration(left, lang)))
        return lines
    subs: list[Html] = []
    if c.last_count is not None:
        subs.append(t("status_counters_last_count", lang, when=show(c.last_count, tz)))
    if c.waiting:
        subs.append(tn("status_counters_waiting", c.waiting, lang))
    if c.next_subscribers is not None:
        subs.append(t("status_counters_next", lang, when=show(c.next_subscribers, tz)))
    if subs:
        lines.append(t("status_counters_subscribers_line", lang, parts=html_join("; ", subs)))
    return lines


async def status_section(api: ParsingAPI, lang: str, tz: ZoneInfo = UTC_ZONE) -> Html:
    """The parsing part of /status: connection, channels by kind, runs, storage; the
    next runs' times in `tz`.

    The account is the login section's. Without a usable session there is no
    connection to report and no run to announce.
    """
    data = await api.status()
    lines = []
    if data.ready or data.session == "connecting":
        lines.append(_breaker_line(data.breaker, data.session, lang))
    if data.local is not None:
        lines.append(_local_line(data.local, lang))
    counts = data.counts
    lines.append(
        t(
            "status_parsing_channels",
            lang,
            total=sum(counts.values()),
            **{str(k): counts.get(k, 0) for k in ChannelKind},
        )
    )
    for kind in NAMED_KINDS:
        lines.extend(_named_lines(kind, data.named.get(kind, ()), counts.get(kind, 0), lang))
    lines.extend(_activity_lines(data, lang))
    lines.append(t("status_parsing_messages", lang, count=data.messages))
    if data.db_size is not None:
        lines.append(t("status_parsing_db", lang, size=round(data.db_size / 1e6, 1)))
    lines.extend(_next_run_lines(data, lang, tz))
    if data.counters is not None:
        lines.extend(counters_lines(data.counters, lang, tz))
    return html_join("\n", lines)
