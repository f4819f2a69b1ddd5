"""Composition root: builds every part, wires them, runs them under the supervisor."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from app.bus_roles import BusTimes, bot_side, worker_side
from app.health import HealthRegistry, HealthServer
from app.instance_lock import InstanceLock
from app.logging_setup import setup_logging
from app.maintenance import ArchiveMaintenance
from app.media_storage import build_media_store
from app.metrics import PrometheusMetrics
from app.settings import Settings
from app.supervisor import Supervisor
from bot.api import BotDeps
from bot.component import ControlBot, build_bot
from core.alerts import Alerter, AlertText
from core.channels import default_media_policy
from core.ports import Component
from db.accounts import AccountRepository
from db.channels import ChannelRepository, ChannelStateRepository
from db.counters import CounterRepository, split_ages
from db.database import (
    DatabaseUnreachable,
    close_db,
    init_db,
    password_of,
    ping,
    shown_where,
)
from db.leases import LeaseStore
from db.media_queue import MediaQueue
from db.media_store import LocalMediaStore
from db.messages import MessageRepository
from db.runs import RunRepository
from db.sqlite_engine import interrupt_running
from db.sqlite_files import (
    DatabaseDamaged,
    check_file,
    default_backup_dir,
    list_backups,
    lost_archive_hint,
)
from db.vault import SessionVault
from parser.client import UserbotConfig
from parser.pool import AccountPool
from services.accounts import AccountDeaths
from services.analytics import AnalyticsService
from services.archive import ArchiveService
from services.channels import ChannelService
from services.counters import CountersService
from services.deletion_alerts import DeletionNotifier
from services.events import EventBus, PostsDeleted
from services.export.series import SeriesExportService
from services.graph import GraphService, LinksBackfill
from services.leases import LeaseKeeper, worker_id
from services.login import LoginService
from services.media import MediaService
from services.media.service import MEDIA_LEASE
from services.media_files import MediaFilesService
from services.parsing.breaker import CircuitBreaker
from services.parsing.identity import ChannelIdentity
from services.parsing.ingest import ChannelFetcher
from services.parsing.service import ParseService
from services.parsing.worker import ParseWorker
from services.remote_channels import AccountRoutes
from services.search_index import SearchIndexRebuild
from services.stats_rollup import RollupBuild
from services.status import StatusService
from services.watches import WatchesService, WatchNotifier

if TYPE_CHECKING:  # aiobotocore and botocore (~20 MB): imported only with MEDIA_URL
    from db.s3_media_store import S3MediaStore

log = logging.getLogger(__name__)


# What a process runs (#18): `all` the bot and the parser (`tg-parser run`), `bot` only
# the bot (`run --no-parser`), `worker` only the parser side (`tg-parser worker`).
ALL, BOT, WORKER = "all", "bot", "worker"


_ROLE_NAMES = {ALL: "bot and parser", BOT: "bot only", WORKER: "parser worker"}


@dataclass
class App:
    settings: Settings
    health: HealthRegistry
    alerter: Alerter
    accounts: AccountRepository
    userbot: AccountPool
    control: ControlBot
    supervisor: Supervisor
    media: MediaService | None = None
    media_store: LocalMediaStore | S3MediaStore | None = None
    components: list[Component] = field(default_factory=list)
    leases: LeaseKeeper | None = None


def userbot_config(settings: Settings) -> UserbotConfig:
    """The part of the settings the userbot reads."""
    return UserbotConfig(
        telegram_api_id=settings.telegram_api_id,
        telegram_api_hash=settings.telegram_api_hash,
        telegram_proxy=settings.telegram_proxy,
        telegram_server_key=settings.telegram_server_key,
        dc=settings.dc,
        flood_sleep_threshold=settings.flood_sleep_threshold,
        connection_alert_seconds=settings.connection_alert_seconds,
    )


def build_leases(settings: Settings, role: str, health: HealthRegistry) -> LeaseKeeper | None:
    """The lease keeper of this process on PostgreSQL (LEASE_SECONDS); None on SQLite,
    where one process owns everything (app/instance_lock.py)."""
    if settings.database_url.startswith("sqlite://"):
        return None
    store = LeaseStore(settings.database_url, worker_id(), settings.lease_seconds)
    return LeaseKeeper(store, role, health)


def build_app(settings: Settings, role: str = ALL) -> App:
    """Every part of a process of `role` (ALL, BOT, WORKER), wired; nothing started."""
    health = HealthRegistry()
    alerter = Alerter(settings.alert_window_seconds)
    vault = SessionVault([k.get_secret_value() for k in settings.session_keys])
    accounts = AccountRepository(vault)
    keeper = build_leases(settings, role, health)
    userbot = AccountPool(
        userbot_config(settings), accounts, health, alerter,
        leases=keeper, elsewhere=role == BOT,
    )
    login = LoginService(userbot, accounts)
    # A dead account's channels go to the others, with one alert (#18).
    deaths = AccountDeaths(userbot, accounts, alerter)
    userbot.on_account_dead = deaths
    userbot.on_account_added = deaths.adopt_orphans
    bot = build_bot(
        settings.bot_token.get_secret_value(), settings.bot_api_url, settings.telegram_proxy
    )
    # Data out (export, search, stats, keyword alerts); the fetcher publishes
    # RunCompleted on `events` after each committed run.
    events = EventBus()
    # SQLite's search index reads stems computed in Python: an archive stored before
    # migration 0006 gets them in the background; PostgreSQL's index (over the text
    # itself) is built in the background once, after the start.
    search_index = SearchIndexRebuild()
    store = build_media_store(settings)
    archive = ArchiveService(
        settings.upload_limit_mb, work_dir=settings.work_dir, index=search_index,
        media_store=store,
        min_free_bytes=settings.min_free_disk_mb * 1024 * 1024,
    )
    watches = WatchesService()
    scheduler, parse = _build_parsing(settings, userbot, health, alerter, events, keeper)
    media = build_media(settings, userbot, alerter, store, keeper)
    events.subscribe(media.on_run_completed)
    userbot.on_state(media.session_state)
    # PostgreSQL with workers (#18): a bot-only process sends /parse and schedule
    # changes to them over the bus; a worker serves them and sends its alerts back.
    times = BusTimes(lease_seconds=float(settings.lease_seconds))
    side = None
    if role == BOT:
        # Which worker has which account open: /parse goes to it, /add asks it.
        routes = AccountRoutes(userbot, keeper.held_accounts, accounts.held_counts) if (
            keeper is not None
        ) else None
        side = bot_side(settings.database_url, alerter, health, times, routes)
    channels = ChannelService(
        userbot,
        ChannelRepository(),
        side.hooks if side is not None else scheduler,
        default_history=settings.history_default,
        default_interval_minutes=settings.parse_interval_minutes,
        tz=settings.zone,
        media_default=settings.media_default,
        media_max_mb=settings.media_max_mb,
        resolvers=side.resolvers if side is not None else None,
    )
    counters = build_counters(settings, userbot)
    userbot.on_state(counters.session_state)
    parse.watch_counters(counters.state)
    events.subscribe(counters.on_run_completed)
    status = StatusService(health, workers=keeper.workers if keeper is not None else None)
    deps = BotDeps(
        channels=channels,
        parsing=side.parsing if side is not None else parse,
        login=login,
        archive=archive,
        watches=watches,
        status=status,
        admin_ids=frozenset(settings.admin_ids),
        default_lang=settings.default_language,
        tz=settings.zone,
        media=MediaFilesService(store, settings.upload_limit_mb, settings.media_path),
        media_status=media,
        graph=GraphService(settings.work_dir),
        # Both read the counter series through a CounterRepository (stateless).
        analytics=AnalyticsService(curves=CounterRepository()),
        series_export=SeriesExportService(
            settings.upload_limit_mb, work_dir=settings.work_dir, source=CounterRepository()
        ),
    )
    # Alerts leave through their own queue and task (control.delivery): a caller
    # never waits for Telegram.
    control = ControlBot(
        bot,
        deps,
        health=health,
        alerter=alerter,
    )
    notifier = WatchNotifier(control.notify_admins)
    events.subscribe(notifier.on_run_completed)
    events.subscribe(DeletionNotifier(control.notify_admins).on_posts_deleted, PostsDeleted)
    supervisor = Supervisor(
        health,
        alerter,
        database=shown_where(settings.database_url),
        db_probe=ping,
        secret=password_of(settings.database_url),
    )
    app = App(settings, health, alerter, accounts, userbot, control, supervisor, media, store)
    app.leases = keeper
    # Stopped in reverse order: media downloads and the scheduler finish before the
    # userbot stops; alert delivery goes last. The lease keeper is no component: it
    # outlasts them all (_run_until_stopped).
    if role == WORKER:
        # No Bot API here: alerts go to the bot process, which delivers them.
        app.components = worker_side(
            settings.database_url, parse, alerter, health, times, pool=userbot
        )
    else:
        app.components = [control.delivery]
    if side is not None:
        app.components.append(side.bus)
    if role != WORKER:
        app.components.append(control)  # the one getUpdates poller of the database
    # The accounts are listed in every role; a bot-only one opens no client (#18).
    app.components.append(userbot)
    if role != BOT:
        app.components.extend([scheduler, media, counters])
    if role != WORKER:
        # Jobs over the whole archive, once per database: where the bot runs.
        if search_index is not None:
            app.components.append(search_index)
        # The graph's links of the messages stored before #17, in the background (#17).
        app.components.append(LinksBackfill())
        # The /stats rollup's dirty hours (after an upgrade: the whole archive's).
        app.components.append(RollupBuild())
    if settings.sqlite_path is not None and settings.backups_path is not None:
        maintenance = ArchiveMaintenance(
            settings.sqlite_path,
            settings.backups_path,
            alerter,
            interval_hours=settings.backup_interval_hours,
            keep=settings.backup_keep,
        )
        app.components.append(maintenance)
        status.watch_maintenance(maintenance.state)
    return app


def build_media(
    settings: Settings,
    userbot: AccountPool,
    alerter: Alerter,
    store: LocalMediaStore | S3MediaStore | None = None,
    leases: LeaseKeeper | None = None,
) -> MediaService:
    """The media downloader (#16): files in `store` (build_media_store's by default;
    partial ones under settings.media_path), the userbot's one client, MEDIA_CONCURRENCY
    files at once in MEDIA_PARTS streams each, paused below MIN_FREE_DISK_MB free."""
    root = settings.media_path
    if store is None:
        store = build_media_store(settings)
    return MediaService(
        MediaQueue(),
        store,
        userbot,
        alerter,
        root=root,
        partials=store.partial_keys,
        concurrency=settings.media_concurrency,
        parts=settings.media_parts,
        min_free_bytes=settings.min_free_disk_mb * 1024 * 1024,
        keep_failed_partials=timedelta(hours=settings.refresh_window_hours),
        # PostgreSQL, several processes (#18): each download under its row's lease.
        leases=leases,
        leased=(lambda: leases.live(MEDIA_LEASE)) if leases is not None else None,
    )


def snapshot_horizon(settings: Settings) -> timedelta | None:
    """How young a post must be for its history reads to go into its counter series
    (#17): the largest SNAPSHOT_AGES plus the refresh window; None when both are 0."""
    ages = settings.snapshot_age_list
    horizon = (ages[-1] if ages else timedelta(0)) + timedelta(
        hours=settings.refresh_window_hours
    )
    return horizon if horizon > timedelta(0) else None


def message_repository(settings: Settings) -> MessageRepository:
    """The runs' message store, keeping the counter series (#17): posts younger than
    the snapshot horizon, the SNAPSHOT_AGES shorter than the refresh window marked on
    the runs' reads (no request of their own)."""
    window = timedelta(hours=settings.refresh_window_hours)
    history, _ = split_ages(settings.snapshot_age_list, window)
    return MessageRepository(
        snapshot_horizon=snapshot_horizon(settings), history_ages=history, refresh_window=window
    )


def build_counters(settings: Settings, userbot: AccountPool) -> CountersService:
    """The counters job (#17): age snapshots at the SNAPSHOT_AGES of at least the
    refresh window (the shorter ones come with the runs' reads: `message_repository`)
    and subscriber counts (SUBSCRIBERS_INTERVAL_MINUTES, 0 = never) with the userbot's
    one client."""
    minutes = settings.subscribers_interval_minutes
    window = timedelta(hours=settings.refresh_window_hours)
    _, ages = split_ages(settings.snapshot_age_list, window)
    return CountersService(
        CounterRepository(),
        userbot,
        ages=ages,
        subscribers_interval=timedelta(minutes=minutes) if minutes else None,
    )


def _build_parsing(
    settings: Settings,
    userbot: AccountPool,
    health: HealthRegistry,
    alerter: Alerter,
    events: EventBus,
    leases: LeaseKeeper | None = None,
) -> tuple[ParseWorker, ParseService]:
    """Fetcher, breaker and the run worker; /parse and the /status section for the bot."""
    channels, metrics = ChannelStateRepository(), PrometheusMetrics()
    fetcher = ChannelFetcher(
        message_repository(settings),
        channels,
        refresh_window_hours=settings.refresh_window_hours,
        wait_time=settings.fetch_wait_seconds,
        metrics=metrics,
        identity=ChannelIdentity(channels),
        media_defaults=default_media_policy(settings.media_default, settings.media_max_mb),
    )
    breaker = CircuitBreaker()

    worker = ParseWorker(
        channels,
        RunRepository(),
        fetcher,
        userbot,
        breaker,
        alerter,
        health,
        metrics=metrics,
        default_interval_minutes=settings.parse_interval_minutes,
        events=events,
        storage_dir=str(settings.sqlite_path.parent) if settings.sqlite_path else None,
        retry_seconds=settings.parse_retry_seconds,
        retry_max_seconds=settings.parse_retry_max_seconds,
        local_probe_seconds=settings.local_probe_seconds,
        leases=leases,
    )
    # After a new login the channels a dead session stopped go on at once.
    userbot.on_state(worker.session_state)
    # An account of another process flood-waited: its public channels are read here now.
    userbot.on_flood_elsewhere(worker.flood_elsewhere)
    db_path = str(settings.sqlite_path) if settings.sqlite_path else None
    parse = ParseService(worker, channels, breaker, userbot, db_path=db_path)
    return worker, parse


async def _bounded_close(
    name: str, close: Callable[[], Awaitable[None]], seconds: float = 1.0
) -> None:
    try:
        await asyncio.wait_for(close(), seconds)
    except TimeoutError:
        log.warning("closing %s took longer than %.0f s; left behind", name, seconds)
    except Exception:
        log.exception("error while closing %s", name)


async def run_service(settings: Settings, role: str = ALL) -> int:
    """Run a process of `role` (ALL, BOT, WORKER) until SIGTERM/SIGINT; the exit code."""
    setup_logging(settings.log_level, settings.secret_values())
    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    signals_seen = 0
    starting = True

    def on_signal() -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            log.warning("second signal: exiting now")
            os._exit(130)
        log.info("signal received: shutting down")
        stop_event.set()
        if starting and main_task is not None:
            # Start-up (the instance lock, migrations, connecting) is cut short. A
            # statement running on aiosqlite's thread is not stopped by cancelling the
            # task that awaits it, and the rollback would queue behind it: interrupt it.
            if interrupted := interrupt_running():
                log.info("interrupted the statements of %d database connection(s)", interrupted)
            main_task.cancel()

    def started() -> None:
        nonlocal starting
        starting = False

    # Installed first: a signal while the lock or the database is slow ends start-up.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        return await _start_and_run(settings, stop_event, started, role)
    except asyncio.CancelledError:
        if not stop_event.is_set():
            raise
        log.info("stopped during start-up")
        log.info("tg-parser stopped")
        return 0


async def _start_and_run(
    settings: Settings, stop_event: asyncio.Event, started: Callable[[], None], role: str
) -> int:
    # One bot (one getUpdates poller) per database; workers take no instance lock.
    lock = InstanceLock(settings.database_url, settings.sqlite_path, take=role != WORKER)
    from app.instance_lock import AlreadyRunning

    try:
        await lock.acquire()
    except AlreadyRunning as exc:
        log.error("%s", exc)
        print(f"tg-parser: {exc}; refusing to start a second instance", flush=True)
        return 3
    except DatabaseUnreachable as exc:
        return _unreachable(exc)
    try:
        if role != WORKER:  # the bot's exports: a worker on its machine leaves them be
            _clear_work_dir(settings.work_dir)
        lost = _check_database_file(settings)
    except DatabaseDamaged as exc:
        log.error("%s", exc)
        print(f"tg-parser: {exc}", file=sys.stderr, flush=True)
        await lock.release()
        return 4
    try:
        await _run_until_stopped(settings, lock, stop_event, started, lost, role)
    except DatabaseUnreachable as exc:
        return _unreachable(exc)
    log.info("tg-parser stopped")
    return 0


def _unreachable(exc: DatabaseUnreachable) -> int:
    """One line instead of a traceback; exit 2 when DATABASE_URL (or the server's
    setup) must change, 1 when the server may come up (systemd starts it again)."""
    log.error("%s", exc)
    print(f"tg-parser: {exc}", file=sys.stderr, flush=True)
    return 2 if exc.config else 1


def _clear_work_dir(work_dir: Path) -> None:
    """Whatever a crash left in the temporary folder goes; the folder stays."""
    if work_dir.exists():
        shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True, exist_ok=True)


def _check_database_file(settings: Settings) -> AlertText | None:
    """Refuse a SQLite file that cannot be used; warn about an archive that vanished
    (logged now, and the alert returned for the admins once the bot is up)."""
    path = settings.sqlite_path
    if path is None:
        return None
    check_file(path, settings.backups_path)
    hint = lost_archive_hint(path, settings.backups_path)
    if not hint:
        return None
    log.warning("%s", hint)
    backups = list_backups(settings.backups_path or default_backup_dir(path))
    return AlertText(
        "alert_archive_lost", path=str(path), count=len(backups), latest=str(backups[0])
    )


async def _run_until_stopped(
    settings: Settings,
    lock: InstanceLock,
    stop_event: asyncio.Event,
    started: Callable[[], None],
    lost_archive: AlertText | None = None,
    role: str = ALL,
) -> None:
    async with AsyncExitStack() as stack:
        stack.push_async_callback(lock.release)
        stack.push_async_callback(close_db)  # before init_db: it may be cut short
        await init_db(settings.database_url)
        app = build_app(settings, role)
        if lost_archive is not None:
            # Queued now, delivered once the bot is up (alerts leave through the bot).
            app.alerter.alert("archive-lost", lost_archive)
        if app.leases is not None:
            # Closed after the userbot's client (LIFO): its account lease goes back
            # only once the session is closed here.
            stack.push_async_callback(app.leases.close)
            app.leases.start()
        # Network closes are bounded so SIGTERM still ends within seconds; close_db is
        # not (a write cut short poisons the connection).
        stack.push_async_callback(_bounded_close, "bot", app.control.close)
        stack.push_async_callback(_bounded_close, "userbot", app.userbot.close)
        if app.media_store is not None and not isinstance(app.media_store, LocalMediaStore):
            stack.push_async_callback(_bounded_close, "media storage", app.media_store.close)
        for comp in app.components:
            app.supervisor.add(comp)
        if settings.health_port:
            server = HealthServer(app.health, settings.health_host, settings.health_port)
            await server.start()
            stack.push_async_callback(server.stop)
        # Everything imported and built so far lives as long as the process: keep it out
        # of the collector's sight. A full collection walked it all (~130 ms with the
        # event loop stopped: the slowest bot replies when idle).
        gc.collect()
        gc.freeze()
        app.supervisor.start()
        started()
        log.info("tg-parser started (pid %d, %s)", os.getpid(), _ROLE_NAMES[role])
        await stop_event.wait()
        await app.supervisor.stop(settings.shutdown_timeout)
