"""/status: the features' sections, then the archive's maintenance and the components.

Feature sections (the account, parsing) are rendered by their routers' modules and
handed to ControlBot as `StatusSection`s; the rest comes from the typed `StatusAPI`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.api.status import StatusAPI
from bot.labels import duration, shorten
from bot.texts import Html, html_join, keys, t
from bot.times import UTC_ZONE, show
from core.status import BackupStatus, StatusReport, WorkerStatus

# /status names this many processes at most (the rest are counted), and this many
# account ids of each: a bounded section at any number of workers and leases.
WORKERS_SHOWN = 10
ACCOUNTS_SHOWN = 5
WHERE_MAX = 60  # characters of a host/pid

# One feature's part of /status in the operator's language ("" shows nothing).
StatusSection = Callable[[str], Awaitable[str]]


@dataclass(frozen=True)
class StatusPage:
    """What /status shows, in order: the account section, the bot's own transport
    line, the other feature sections, the archive's maintenance, the components."""

    api: StatusAPI
    account: StatusSection | None
    features: tuple[StatusSection, ...]
    transport: StatusSection
    tz: ZoneInfo = field(default=UTC_ZONE)  # the operators' zone (TIMEZONE)

    async def render(self, lang: str) -> Html:
        sections: Sequence[StatusSection] = (
            *((self.account,) if self.account is not None else ()),
            self.transport,
            *self.features,
        )
        lines: list[str] = [f"<b>{t('status_title', lang)}</b>"]
        for section in sections:
            text = await section(lang)
            if text:
                lines.append(text)
        report = await self.api.report()
        if report.backup is not None:
            lines.append(backup_lines(report.backup, lang, self.tz))
        lines.extend(component_lines(report, lang))
        lines.extend(worker_lines(report, lang))
        return Html("\n".join(lines))


def backup_lines(backup: BackupStatus, lang: str, tz: ZoneInfo = UTC_ZONE) -> Html:
    """The backup lines of /status (the time in `tz`)."""
    lines = []
    if backup.last_at is not None:
        when = show(backup.last_at, tz)
        lines.append(t("status_backup", lang, when=when, size=round(backup.size_bytes / 1e6, 1)))
    else:
        lines.append(t("status_backup_none", lang))
    if backup.error:
        lines.append(t("status_backup_failed", lang, error=backup.error))
    if backup.check_result not in (None, "ok"):
        lines.append(t("status_database_damaged", lang, error=backup.check_result[:200]))
    return html_join("\n", lines)


def component_lines(report: StatusReport, lang: str) -> list[str]:
    lines: list[str] = [t("status_components", lang)]
    for comp in report.components:
        extra = t("status_restarts", lang, n=comp.restarts) if comp.restarts else ""
        if comp.last_error and comp.state != "running":
            error = t("status_component_error", lang, error=comp.last_error[:120])
            extra = Html(extra + error)
        name = _word("status_component_", comp.name, lang)
        state = _word("status_state_", comp.state, lang)
        lines.append(t("status_component", lang, name=name, state=state, extra=extra))
    return lines


def worker_lines(report: StatusReport, lang: str) -> list[str]:
    """The processes sharing a PostgreSQL database (#18): host/pid, role, the accounts
    and channel runs each holds, its last heartbeat; none on SQLite. At most
    WORKERS_SHOWN lines and ACCOUNTS_SHOWN account ids each (then counted)."""
    if report.workers_error:
        return [t("status_workers_error", lang, error=report.workers_error)]
    workers = report.workers
    if not workers:
        return []
    lines: list[str] = [t("status_workers", lang, n=len(workers))]
    for worker in workers[:WORKERS_SHOWN]:
        lines.append(_worker_line(worker, lang))
    if len(workers) > WORKERS_SHOWN:
        lines.append(t("status_workers_more", lang, n=len(workers) - WORKERS_SHOWN))
    return lines


def _worker_line(worker: WorkerStatus, lang: str) -> Html:
    where = shorten(worker.where, WHERE_MAX)
    role = _word("status_role_", worker.role, lang)
    age = duration(worker.heartbeat_age, lang)
    if not worker.alive:
        return t("status_worker_dead", lang, where=where, role=role, age=age)
    shown = [f"#{a}" for a in worker.accounts[:ACCOUNTS_SHOWN]]
    if len(worker.accounts) > ACCOUNTS_SHOWN:
        shown.append(f"+{len(worker.accounts) - ACCOUNTS_SHOWN}")
    accounts = ", ".join(shown) if shown else t("status_worker_none", lang)
    this = t("status_worker_this", lang) if worker.this else ""
    return t(
        "status_worker", lang, where=where, role=role, this=this, accounts=accounts,
        runs=len(worker.channels), age=age,
    )


def _word(prefix: str, value: str, lang: str) -> str:
    """A component's name or state in the operator's language (as is when unknown)."""
    key = prefix + value
    return t(key, lang) if key in keys() else value
