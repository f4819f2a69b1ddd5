"""Stored channels as the operator manages them (add, list, pause, remove, settings:
ChannelRepository) and as the parser keeps them (run state: ChannelStateRepository).

`find_channel(ref)` is THE answer to "which stored channel does the operator
mean" for every command that names a channel (/schedule, /parse, /export, /stats).

Identity over time: a channel's title and username are what Telegram said last
(`set_identity`, `store_access`); every username a channel has had is kept in
`channel_alias`, so a former name still finds it; no two rows hold the same current
username (the row that had it loses it and keeps it as an alias).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from core.channels import Channel, Completeness, IdentityChange, media_kinds_of, media_kinds_text
from core.media import MediaPolicy
from core.parsing import ChannelState
from db.media import apply_policy
from db.models import Channel as ChannelModel
from db.models import ChannelAlias
from db.models import Message as MessageModel

PAGE_SIZE = 10
# Rows with these statuses are what the operator added; `linked` rows are discussion
# groups the fetcher created to key comments.
OWN_STATUSES = ("active", "paused", "disabled")

_LINK = re.compile(
    r"^(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me)/(?:s/)?([A-Za-z0-9_]+)(?:/\d+)?/?$", re.I
)
_INT64_MAX = 2**63 - 1  # SQLite's INTEGER and PostgreSQL's BIGINT end here
_PRIVATE_LINK = re.compile(r"^(?:https?://)?(?:www\.)?t\.me/c/(\d+)(?:/\d+)?/?$", re.I)


def snapshot(
    ch: ChannelModel, *, comments_count: int | None = None, comments_of: str | None = None
) -> Channel:
    """The frozen `Channel` of an ORM row (the only place one is built from a row)."""
    return Channel(
        id=ch.id,
        tg_id=ch.tg_id,
        username=ch.username,
        title=ch.title,
        access_hash=ch.access_hash,
        kind=ch.kind,
        account_id=ch.account_id,
        hash_account_id=ch.hash_account_id,
        status=ch.status,
        disabled_reason=ch.disabled_reason,
        messages_count=ch.messages_count,
        cursor=ch.cursor,
        backfill_done=ch.backfill_done,
        last_run_at=ch.last_run_at,
        next_run_at=ch.next_run_at,
        deferred_until=ch.deferred_until,
        last_error=ch.last_error,
        interval_minutes=ch.interval_minutes,
        comments_enabled=ch.comments_enabled,
        linked_chat_id=ch.linked_chat_id,
        linked_access_hash=ch.linked_access_hash,
        history_mode=ch.history_mode,
        history_limit=ch.history_limit,
        history_since=ch.history_since,
        comments_count=comments_count,
        comments_of=comments_of,
        alert_deletions=ch.alert_deletions,
        history_before=ch.history_before,
        migrated_from_chat_id=ch.migrated_from_chat_id,
        migrated_from_max_id=ch.migrated_from_max_id,
        migrated_missing=ch.migrated_missing,
        migrated_error=ch.migrated_error,
        media_mode=ch.media_mode,
        media_kinds=media_kinds_of(ch.media_kinds),
        media_max_mb=ch.media_max_mb,
    )


async def snapshots(rows: list[ChannelModel]) -> list[Channel]:
    """`snapshot` of each row; discussion groups (status `linked`) learn their channel's
    name (`comments_of`), in one query."""
    # The old basic group of an upgraded supergroup (kind `chat`) is no discussion group.
    linked = [c.tg_id for c in rows if c.status == "linked" and c.kind != "chat"]
    parents: dict[int, str] = {}
    if linked:
        found = ChannelModel.filter(linked_chat_id__in=linked, status__in=OWN_STATUSES)
        for p in await found.order_by("id"):
            if p.linked_chat_id is not None:
                parents.setdefault(p.linked_chat_id, p.title or f"@{p.username or p.tg_id}")
    return [
        snapshot(
            c,
            comments_of=(
                parents.get(c.tg_id, "") if c.status == "linked" and c.kind != "chat" else None
            ),
        )
        for c in rows
    ]


async def find_channel(ref: str, *, include_linked: bool = False) -> Channel | None:
    """The stored channel an operator means by `ref`, or None.

    Accepted, case-insensitive, tried in this order:
      * `@username`, a bare username, `t.me/name`, `t.me/s/name`, `https://t.me/name/123`;
      * a numeric id: Telegram's bare channel id, its `-100…` form, or `t.me/c/<id>/…`;
        a small number that matches no Telegram id is taken as the row id;
      * a title: exact match first, then a unique title prefix.
    Ambiguous prefixes give None. Discussion groups the fetcher created on its own
    (status `linked`) are skipped unless `include_linked`; one that is found names its
    channel in `comments_of`. /parse, /export, /stats, /watch and /schedule all ask here,
    so they accept the same references.
    """
    value = ref.strip()
    if not value:
        return None
    qs = ChannelModel.all() if include_linked else ChannelModel.filter(status__in=OWN_STATUSES)
    found = await _find_row(qs, value)
    return (await snapshots([found]))[0] if found is not None else None


async def _find_row(qs: Any, value: str) -> ChannelModel | None:
    m = _LINK.match(value)
    name = m.group(1) if m else value.removeprefix("@")
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{2,31}", name):
        found: ChannelModel | None = await qs.filter(username__iexact=name).first()
        if found is not None:
            return found
        found = await _by_alias(qs, name)
        if found is not None:
            return found
    pm = _PRIVATE_LINK.match(value)
    digits = pm.group(1) if pm else value
    if re.fullmatch(r"-?[0-9]{1,19}", digits) and int(digits.lstrip("-")) <= _INT64_MAX:
        raw = digits.lstrip("-")
        candidates = {int(raw)}
        if digits.startswith("-100") and len(raw) > 3:
            candidates.add(int(raw[3:]))
        found = await qs.filter(tg_id__in=list(candidates)).first()
        if found is None and not pm and not digits.startswith("-"):
            found = await qs.filter(id=int(raw)).first()
        if found is not None:
            return found
    found = await qs.filter(title__iexact=value).first()
    if found is not None:
        return found
    prefixed: list[ChannelModel] = await qs.filter(title__istartswith=value).limit(2)
    return prefixed[0] if len(prefixed) == 1 else None


async def _by_alias(qs: Any, name: str) -> ChannelModel | None:
    """The row among `qs` that had username `name` most recently (a former name; the
    current holder of a name is found before this is asked)."""
    owners = await (
        ChannelAlias.filter(username__iexact=name)
        .order_by("-last_seen", "-id")
        .values_list("channel_id", flat=True)
    )
    for channel_id in dict.fromkeys(owners):
        found: ChannelModel | None = await qs.filter(id=channel_id).first()
        if found is not None:
            return found
    return None


async def aliases(channel_id: int) -> list[str]:
    """Every username the channel has had (its current one included), oldest first."""
    rows = await ChannelAlias.filter(channel_id=channel_id).order_by("first_seen", "id")
    return [r.username for r in rows]


async def _remember_alias(channel_id: int, username: str) -> None:
    """Keep `username` as one the channel has had (one row per name, any case); its
    `last_seen` becomes now."""
    now = datetime.now(UTC)
    n = await ChannelAlias.filter(channel_id=channel_id, username__iexact=username).update(
        last_seen=now
    )
    if not n:
        await ChannelAlias.create(channel_id=channel_id, username=username, last_seen=now)


async def _claim_username(channel_id: int, username: str) -> tuple[int, ...]:
    """Row `channel_id` is the one holding `username` now: any other row that held it
    loses it (keeping it as an alias). The ids of those rows."""
    others = await ChannelModel.filter(username__iexact=username).exclude(id=channel_id)
    for other in others:
        await _remember_alias(other.id, other.username or username)
        await ChannelModel.filter(id=other.id).update(username=None)
    await _remember_alias(channel_id, username)
    return tuple(o.id for o in others)


async def set_identity(channel_id: int, title: str, username: str | None) -> IdentityChange | None:
    """Store the channel's title and username as Telegram gives them now (the `chats`
    of a history answer, or a resolution); None when the row is gone.

    A former username stays an alias (found by `find_channel`); a row that held the
    new username loses it. One transaction.
    """
    async with in_transaction("default"):
        row = await ChannelModel.get_or_none(id=channel_id)
        if row is None:
            return None
        old_title, old_username = row.title, row.username
        if old_username and (username or "").lower() != old_username.lower():
            await _remember_alias(channel_id, old_username)
        took: tuple[int, ...] = ()
        if username:
            took = await _claim_username(channel_id, username)
        await ChannelModel.filter(id=channel_id).update(title=title[:256], username=username)
    return IdentityChange(channel_id, old_title, title[:256], old_username, username, took)


async def _store_access(
    channel_id: int,
    *,
    access_hash: int,
    title: str,
    username: str | None,
    linked_chat_id: int | None,
    linked_access_hash: int | None,
    enable: bool,
) -> Channel | None:
    """A channel resolved anew: its access hash (and its discussion group's, also on the
    group's own row), title and username; `enable`: a disabled row is active again.
    The fresh snapshot, or None when the row is gone."""
    change = await set_identity(channel_id, title, username)
    if change is None:
        return None
    updates: dict[str, Any] = {"access_hash": access_hash}
    if linked_chat_id:
        updates.update(linked_chat_id=linked_chat_id, linked_access_hash=linked_access_hash)
        if linked_access_hash is not None:
            await ChannelModel.filter(tg_id=linked_chat_id).update(access_hash=linked_access_hash)
    if enable:
        await ChannelModel.filter(id=channel_id, status="disabled").update(
            status="active", disabled_reason=None, last_error=None, deferred_until=None
        )
    # An old basic group this account could not read: the next run asks again (the
    # channel may now be read by another account, one of the old group's members).
    await ChannelModel.filter(id=channel_id, migrated_error__isnull=False).update(
        migrated_from_chat_id=None, migrated_missing=None, migrated_error=None
    )
    await ChannelModel.filter(id=channel_id).update(**updates)
    row = await ChannelModel.get_or_none(id=channel_id)
    return snapshot(row) if row is not None else None


async def completeness(channel_id: int) -> Completeness:
    """How complete row `channel_id`'s archive is (core.channels.Completeness): one
    aggregate over its messages (the (channel, msg_id) index; those marked deleted
    counted apart too), the dates of the two ends, and the old basic group's message
    count when it was upgraded from one."""
    conn = connections.get("default")
    p = "?" if conn.capabilities.dialect == "sqlite" else "$1"
    rows = await conn.execute_query_dict(
        "SELECT min(msg_id) AS lo, max(msg_id) AS hi, count(*) AS n,"
        " count(deleted_at) AS gone FROM message"
        f" WHERE channel_id = {p}",
        [channel_id],
    )
    lo, hi, n = rows[0]["lo"], rows[0]["hi"], int(rows[0]["n"] or 0)
    dates: dict[int, datetime] = {}
    if lo is not None:
        ends = MessageModel.filter(channel_id=channel_id, msg_id__in=[lo, hi])
        dates = {int(i): d for i, d in await ends.values_list("msg_id", "date")}
    old = await migrated_row_id(channel_id)
    old_count = await MessageModel.filter(channel_id=old).count() if old is not None else None
    return Completeness(
        int(lo) if lo is not None else None,
        dates.get(int(lo)) if lo is not None else None,
        int(hi) if hi is not None else None,
        dates.get(int(hi)) if hi is not None else None,
        n,
        old_count,
        deleted=int(rows[0]["gone"] or 0),
    )


async def migrated_row_id(channel_id: int) -> int | None:
    """The row id of the basic group channel row `channel_id` was upgraded from (kind
    `chat`, tg_id -chat_id), or None: its messages belong to the channel's archive
    (exports, /stats)."""
    ch = await ChannelModel.get_or_none(id=channel_id)
    if ch is None or not ch.migrated_from_chat_id:
        return None
    old = await ChannelModel.filter(tg_id=-abs(ch.migrated_from_chat_id), kind="chat").first()
    return int(old.id) if old is not None else None


async def get_channel(channel_id: int) -> Channel | None:
    """Any stored row by its id, discussion groups included (with `comments_of`)."""
    found = await ChannelModel.get_or_none(id=channel_id)
    return (await snapshots([found]))[0] if found is not None else None


async def channel_page(page: int, size: int) -> tuple[list[Channel], int]:
    """One page (0-based) of every stored row, discussion groups included (their
    messages are exportable), and the total count."""
    total = await ChannelModel.all().count()
    rows = await ChannelModel.all().order_by("id").offset(page * size).limit(size)
    return await snapshots(list(rows)), total


class ChannelRepository:
    async def by_tg_id(self, tg_id: int) -> Channel | None:
        ch = await ChannelModel.get_or_none(tg_id=tg_id)
        return snapshot(ch) if ch else None

    async def get(self, channel_id: int) -> Channel | None:
        """One of the operator's channels, with its `completeness` (the detail view)."""
        ch = await ChannelModel.filter(id=channel_id, status__in=OWN_STATUSES).first()
        if ch is None:
            return None
        return replace(snapshot(ch), completeness=await completeness(ch.id))

    async def add(
        self,
        *,
        tg_id: int,
        access_hash: int,
        title: str,
        username: str | None,
        kind: str,
        linked_chat_id: int | None,
        history_mode: str,
        linked_access_hash: int | None = None,
        history_limit: int | None,
        history_since: datetime | None,
        media_mode: str | None = None,
        account_id: int | None = None,
    ) -> tuple[Channel, bool]:
        """Store a resolved channel; (row, created). An existing own row is not touched.
        `account_id`: the account that resolved it, which reads it (its access hash).

        A discussion group stored earlier as `linked` becomes an active channel of its own.
        `media_mode`: what a new row keeps (MEDIA_DEFAULT; None: follow MEDIA_DEFAULT).
        """
        fields: dict[str, Any] = {
            "access_hash": access_hash,
            "title": title[:256],
            "username": username,
            "kind": kind,
            "linked_chat_id": linked_chat_id,
            "linked_access_hash": linked_access_hash if linked_chat_id else None,
            "history_mode": history_mode,
            "history_limit": history_limit,
            "history_since": history_since,
            "media_mode": media_mode,
        }
        if account_id is not None:
            fields.update(account_id=account_id, hash_account_id=account_id)
        existing = await ChannelModel.get_or_none(tg_id=tg_id)
        if existing is not None:
            if existing.status in OWN_STATUSES:
                return snapshot(existing), False
            # The fetcher's linked row keeps its comments; backfill its own posts now.
            await ChannelModel.filter(id=existing.id).update(
                status="active", backfill_done=False, **fields
            )
            if username:
                await _claim_username(existing.id, username)
            return snapshot(await ChannelModel.get(id=existing.id)), True
        ch = await ChannelModel.create(tg_id=tg_id, status="active", **fields)
        if username:
            await _claim_username(ch.id, username)
        return snapshot(ch), True

    async def renew(
        self,
        channel_id: int,
        *,
        access_hash: int,
        title: str,
        username: str | None,
        linked_chat_id: int | None,
        linked_access_hash: int | None = None,
        account_id: int | None = None,
    ) -> Channel | None:
        """A channel /add named again: the access hash just resolved (the account's
        own), its discussion group's, the title and username are stored, and a
        disabled channel is active again; `account_id`: the account that resolved it
        reads it from now on. The fresh snapshot (None: row gone)."""
        fresh = await _store_access(
            channel_id, access_hash=access_hash, title=title, username=username,
            linked_chat_id=linked_chat_id, linked_access_hash=linked_access_hash,
            enable=True,
        )  # fmt: skip
        if fresh is None or account_id is None:
            return fresh
        await ChannelModel.filter(id=channel_id).update(
            account_id=account_id, hash_account_id=account_id
        )
        return replace(fresh, account_id=account_id, hash_account_id=account_id)

    async def page(self, page: int, size: int = PAGE_SIZE) -> tuple[list[Channel], int]:
        """One page (0-based) of the operator's channels and the total count."""
        qs = ChannelModel.filter(status__in=OWN_STATUSES)
        total = await qs.count()
        rows = await qs.order_by("id").offset(page * size).limit(size)
        linked = [c.linked_chat_id for c in rows if c.linked_chat_id]
        counts: dict[int, int] = {}
        if linked:
            found = await ChannelModel.filter(tg_id__in=linked).values_list(
                "tg_id", "messages_count"
            )
            counts = {int(tg_id): int(n) for tg_id, n in found}
        snaps = [snapshot(c, comments_count=counts.get(c.linked_chat_id or 0)) for c in rows]
        return snaps, total

    async def set_status(self, channel_id: int, status: str) -> bool:
        updates: dict[str, Any] = {"status": status}
        if status == "active":
            updates.update(disabled_reason=None, deferred_until=None)
        if status != "active":
            updates["next_run_at"] = None
        n = await ChannelModel.filter(id=channel_id, status__in=OWN_STATUSES).update(**updates)
        return bool(n)

    async def remove(self, channel_id: int) -> bool:
        """Delete the channel and, by cascade, its stored messages and watches, and the
        comments read through its discussion group unless another channel shares it."""
        ch = await ChannelModel.filter(id=channel_id, status__in=OWN_STATUSES).first()
        if ch is None:
            return False
        old = await migrated_row_id(channel_id)
        n = await ChannelModel.filter(id=channel_id, status__in=OWN_STATUSES).delete()
        if n and old is not None:  # the basic group it was upgraded from
            await ChannelModel.filter(id=old, status="linked").delete()
        linked = ch.linked_chat_id
        if n and linked and not await ChannelModel.filter(linked_chat_id=linked).exists():
            await ChannelModel.filter(tg_id=linked, status="linked").delete()
        return bool(n)

    async def set_interval(self, channel_id: int, minutes: int | None) -> bool:
        n = await ChannelModel.filter(id=channel_id).update(interval_minutes=minutes)
        return bool(n)

    async def set_comments(self, channel_id: int, enabled: bool) -> bool:
        n = await ChannelModel.filter(id=channel_id).update(comments_enabled=enabled)
        return bool(n)

    async def set_alert_deletions(self, channel_id: int, enabled: bool) -> bool:
        """Whether the operators are told when posts of the channel are found deleted."""
        n = await ChannelModel.filter(id=channel_id).update(alert_deletions=enabled)
        return bool(n)

    async def set_media_policy(
        self,
        channel_id: int,
        mode: str | None,
        kinds: frozenset[str] | tuple[str, ...] | list[str] | None,
        max_mb: int | None,
    ) -> bool:
        """Store what one of the operator's channels keeps: `mode` "off" | "photos" |
        "all" (None: MEDIA_DEFAULT), `kinds` kept in mode "all" (None or every kind:
        all), `max_mb` the cap (0: none; None: MEDIA_MAX_MB). False when there is no
        such channel; ValueError on an unknown mode or kind, or a negative cap."""
        if mode is not None and mode not in ("off", "photos", "all"):
            raise ValueError(f"unknown media mode: {mode!r}")
        if max_mb is not None and max_mb < 0:
            raise ValueError("max_mb must be >= 0")
        n = await ChannelModel.filter(id=channel_id, status__in=OWN_STATUSES).update(
            media_mode=mode, media_kinds=media_kinds_text(kinds), media_max_mb=max_mb
        )
        return bool(n)

    async def apply_media_policy(self, ch: Channel, policy: MediaPolicy) -> tuple[int, int, int]:
        """Channel `ch`'s new media `policy` applied to its files not fetched yet (its
        own rows, its old basic group's, its comments under the discussion group's
        row): db/media.py `apply_policy`; (not kept, skipped too_big, queued again)."""
        own = [ch.id]
        old = await migrated_row_id(ch.id)
        if old is not None:
            own.append(old)
        comments: list[int] = []
        if ch.linked_chat_id:
            group = await ChannelModel.get_or_none(tg_id=ch.linked_chat_id)
            comments = [group.id] if group is not None else []
        return await apply_policy(own, comments, policy)

    async def set_history(
        self, channel_id: int, mode: str, limit: int | None, since: datetime | None
    ) -> bool:
        """Change the history depth while no backfill has completed yet."""
        n = await ChannelModel.filter(id=channel_id, backfill_done=False, cursor=0).update(
            history_mode=mode, history_limit=limit, history_since=since
        )
        return bool(n)

    async def set_history_many(
        self, channel_ids: list[int], mode: str, limit: int | None, since: datetime | None
    ) -> list[int]:
        """`set_history` for many channels; the ids it was not too late for."""
        done: list[int] = []
        for i in range(0, len(channel_ids), 500):  # SQLite's bound-parameter limit
            chunk = channel_ids[i : i + 500]
            qs = ChannelModel.filter(
                id__in=chunk, status__in=OWN_STATUSES, backfill_done=False, cursor=0
            )
            ids = [int(r["id"]) for r in await qs.values("id")]
            if ids:
                await qs.filter(id__in=ids).update(
                    history_mode=mode, history_limit=limit, history_since=since
                )
            done += ids
        return done


class ChannelStateRepository:
    """A channel's run state as the parser keeps it: cursor-side bookkeeping (last and
    next run, deferral, errors, the linked discussion group) and /status's light list.
    The cursor itself moves with the rows (db/messages.py `store_batch`)."""

    async def channel(self, channel_id: int) -> Channel | None:
        """Any stored row by id (discussion groups included)."""
        ch = await ChannelModel.get_or_none(id=channel_id)
        return snapshot(ch) if ch else None

    async def by_tg_id(self, tg_id: int) -> Channel | None:
        """The stored row of Telegram channel `tg_id` (bare id), None when none is."""
        ch = await ChannelModel.get_or_none(tg_id=tg_id)
        return snapshot(ch) if ch else None

    async def channels(self, status: str | None = None) -> list[Channel]:
        """Every row (of `status` when given), by id."""
        qs = ChannelModel.all().order_by("id")
        if status is not None:
            qs = qs.filter(status=status)
        return [snapshot(c) for c in await qs]

    async def finish_run(
        self, channel_id: int, *, top_id: int | None, next_run_at: datetime | None
    ) -> None:
        """Mark a successful run: no deferral or error left, backfill done, the newest
        post id (when something came in) and the next planned run."""
        updates: dict[str, Any] = {
            "last_run_at": datetime.now(UTC),
            "next_run_at": next_run_at,
            "deferred_until": None,
            "last_error": None,
            "backfill_done": True,
        }
        if top_id:
            updates["top_message_id"] = top_id
        await ChannelModel.filter(id=channel_id).update(**updates)

    async def defer(self, channel_id: int, until: datetime, error: str) -> None:
        """No run before `until` (a flood wait); `error` says why."""
        await ChannelModel.filter(id=channel_id).update(deferred_until=until, last_error=error)

    async def disable(self, channel_id: int, reason: str) -> None:
        """The channel cannot be read (`reason`: private, banned, ...): disabled."""
        await ChannelModel.filter(id=channel_id).update(
            status="disabled", disabled_reason=reason, last_error=reason
        )

    async def set_error(self, channel_id: int, error: str) -> None:
        """The last run failed with `error` (cut to 500 characters); no longer deferred."""
        await ChannelModel.filter(id=channel_id).update(
            last_error=error[:500], deferred_until=None
        )

    async def set_next_run(self, channel_id: int, when: datetime | None) -> None:
        await ChannelModel.filter(id=channel_id).update(next_run_at=when)

    async def set_hash_account(self, channel_id: int, account_id: int) -> None:
        """The stored access hash is account `account_id`'s (it just read with it)."""
        await ChannelModel.filter(id=channel_id).update(hash_account_id=account_id)

    async def set_identity(
        self, channel_id: int, title: str, username: str | None
    ) -> IdentityChange | None:
        """The channel's title and username as a run saw them (module `set_identity`)."""
        return await set_identity(channel_id, title, username)

    async def store_access(
        self,
        channel_id: int,
        *,
        access_hash: int,
        title: str,
        username: str | None,
        linked_chat_id: int | None,
        linked_access_hash: int | None = None,
    ) -> Channel | None:
        """A channel whose access hash was refused, resolved anew: the new hash (and its
        discussion group's), title and username. The fresh snapshot (None: row gone);
        the status is left as it is."""
        return await _store_access(
            channel_id, access_hash=access_hash, title=title, username=username,
            linked_chat_id=linked_chat_id, linked_access_hash=linked_access_hash,
            enable=False,
        )  # fmt: skip

    async def set_linked(self, channel_id: int, linked_id: int, access_hash: int) -> None:
        """The channel's discussion group, as Telegram named it."""
        await ChannelModel.filter(id=channel_id).update(
            linked_chat_id=linked_id, linked_access_hash=access_hash
        )

    async def discussion_row(self, tg_id: int, access_hash: int, title: str) -> int:
        """The row id that keys a discussion group's comments (group message ids are
        their own id space). A group the operator did not add gets a row with status
        `linked`, which the scheduler never runs on its own."""
        ch, _ = await ChannelModel.get_or_create(
            tg_id=tg_id,
            defaults={
                "access_hash": access_hash,
                "title": title[:256],
                "kind": "megagroup",
                "status": "linked",
                "backfill_done": True,
            },
        )
        return int(ch.id)

    async def advance_cursor(self, channel_id: int, cursor: int) -> None:
        """Move the cursor up to `cursor`, never down (a run that stored nothing above
        its start: the ids below are behind the archive's history depth)."""
        await ChannelModel.filter(id=channel_id, cursor__lt=cursor).update(cursor=cursor)

    async def set_history_before(self, channel_id: int, exists: bool) -> None:
        """Whether Telegram has messages older than the oldest archived one."""
        await ChannelModel.filter(id=channel_id).update(history_before=exists)

    async def oldest_id(self, channel_id: int) -> int | None:
        """The smallest message id stored under the row; None when none is."""
        found = await MessageModel.filter(channel_id=channel_id).order_by("msg_id").first()
        return int(found.msg_id) if found is not None else None

    async def set_migrated(self, channel_id: int, chat_id: int, max_id: int) -> None:
        """The basic group the supergroup was upgraded from (0: none, asked) and the id of
        its last message (channels.getFullChannel migrated_from_chat_id /
        migrated_from_max_id)."""
        await ChannelModel.filter(id=channel_id).update(
            migrated_from_chat_id=chat_id, migrated_from_max_id=max_id or None
        )

    async def migrated_row(self, tg_id: int, title: str) -> Channel:
        """The row keying the old basic group's messages (`tg_id`: its marked id,
        -chat_id): kind `chat`, status `linked` (never scheduled on its own)."""
        ch, _ = await ChannelModel.get_or_create(
            tg_id=tg_id,
            defaults={
                "title": title[:256],
                "kind": "chat",
                "status": "linked",
                "backfill_done": True,
            },
        )
        return snapshot(ch)

    async def set_title(self, channel_id: int, title: str) -> None:
        """A row's title as Telegram names the chat now (the old basic group's own)."""
        await ChannelModel.filter(id=channel_id).update(title=title[:256])

    async def set_migrated_missing(
        self, channel_id: int, missing: int | None, error: str | None
    ) -> None:
        """How many messages of the old basic group the account cannot read, and
        Telegram's reason; (None, None) when nothing is missing."""
        await ChannelModel.filter(id=channel_id).update(
            migrated_missing=missing, migrated_error=error[:500] if error else None
        )

    async def channel_states(self) -> list[ChannelState]:
        """Every row, light (no ORM objects: /status reads thousands of them)."""
        rows = await ChannelModel.all().order_by("id").values_list(
            "id", "username", "title", "tg_id", "status", "deferred_until", "last_error",
            "disabled_reason", "messages_count",
        )
        return [
            ChannelState(
                row_id, Channel(id=row_id, tg_id=tg_id, username=u, title=title).label,
                status, until, error, reason, count,
            )
            for row_id, u, title, tg_id, status, until, error, reason, count in rows
        ]
