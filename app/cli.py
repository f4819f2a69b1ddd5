"""`tg-parser` command line: run, worker, check, keygen, rotate-key, migrate, backup."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from app.settings import (
    ConfigError,
    DatabaseSettings,
    Settings,
    VaultSettings,
    describe_all,
    load,
)


def _fail(message: str) -> int:
    print(f"tg-parser: configuration error: {message}", file=sys.stderr)
    return 2


def cmd_run(args: argparse.Namespace) -> int:
    no_parser = bool(getattr(args, "no_parser", False))
    return _run_role("bot" if no_parser else "all", "run --no-parser" if no_parser else None)


def cmd_worker(args: argparse.Namespace) -> int:
    return _run_role("worker", "worker")


def _run_role(role: str, needs_postgres: str | None) -> int:
    """Run a process of `role` (app/service.py ALL, BOT, WORKER); `needs_postgres`:
    the command as typed when it shares the work with other processes, which only
    PostgreSQL allows (exit 2 on SQLite, naming DATABASE_URL)."""
    try:
        settings = load(Settings)
    except ConfigError as exc:
        return _fail(str(exc))
    if needs_postgres is not None and settings.database_url.startswith("sqlite://"):
        print(
            f"tg-parser: `{needs_postgres}` shares the work with other processes through "
            f"PostgreSQL, and DATABASE_URL is SQLite ({settings.database_url}): set "
            "DATABASE_URL=postgres://user:pass@host:5432/db (the same for the bot and "
            "every worker), or use `tg-parser run` alone",
            file=sys.stderr,
        )
        return 2
    from app.service import run_service

    return asyncio.run(run_service(settings, role))


def command_name() -> str:
    """How the operator can run `tg-parser` from here: its name when it is on PATH,
    else the path of the script that is running (e.g. `.venv/bin/tg-parser`)."""
    script = Path(sys.argv[0])
    found = shutil.which("tg-parser")
    if found and script.name == "tg-parser" and Path(found).resolve() == script.resolve():
        return "tg-parser"
    if script.name == "tg-parser":
        try:
            return str(script.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(script.resolve())
    return f"{sys.executable} -m app.cli"


def cmd_check(args: argparse.Namespace) -> int:
    problems = describe_all(Settings)
    if problems:
        name = command_name()
        for line in problems:
            line = line.replace("`tg-parser ", f"`{name} ")
            print(f"✗ {line}", file=sys.stderr)
        return 2
    settings = load(Settings)
    print("✓ configuration is complete")
    _print_summary(settings)
    problem = media_dir_problem(settings.media_path)
    if problem is not None:
        print(f"✗ {problem}", file=sys.stderr)
        return 2
    if settings.media_url:
        ok, line = asyncio.run(_check_media_storage(settings))
        mark = {True: "✓", False: "✗", None: "?"}[ok]
        print(f"{mark} {line}", file=sys.stdout if ok is not False else sys.stderr)
        if ok is False:
            return 2
    if getattr(args, "online", False):
        return asyncio.run(_check_online(settings))
    return 0


def _print_summary(settings: Settings) -> None:
    print(f"  database: {settings.database_url.split('@')[-1]}")
    print(f"  bot API: {settings.bot_api_url}")
    print(f"  operators: {', '.join(map(str, settings.admin_ids))}")
    print(f"  encryption keys: {len(settings.session_keys)}")
    if settings.telegram_dc:
        print(f"  custom DC: {settings.telegram_dc}")
    if settings.telegram_proxy:
        print("  proxy: configured")


def media_dir_problem(path: Path) -> str | None:
    """Why the media folder `path` (absolute) cannot be used, with the fix, or None;
    prints where it is and its free space when it can. Makes nothing: a missing
    folder is checked by its nearest existing parent (it is made at the first run)."""
    import errno
    import os

    from services.media.service import describe_os_error

    fix = (
        "make it a folder the user running tg-parser can write to (check the mount, "
        "the owner and the permissions), or set MEDIA_DIR to one"
    )
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        if not probe.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(probe))
        if probe == path:
            test = path / ".write-test"
            try:
                test.write_bytes(b"tg-parser")
            finally:
                test.unlink(missing_ok=True)
        elif not os.access(probe, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(probe))
        free = shutil.disk_usage(probe).free // 2**20
    except OSError as exc:
        return f"media folder {path} cannot be used ({describe_os_error(exc)}): {fix}"
    made = "" if probe == path else f", made at the first run under {probe}"
    print(f"  media folder: {path} ({free} MB free{made})")
    return None


ONLINE_TIMEOUT = 20.0

# What `check` says of each MediaStorageError cause.
_STORAGE_SAYS = {
    "unreachable": "cannot be reached",
    "no_bucket": "has no such bucket",
    "denied": "refused the credentials",
    "region": "says the bucket is in another region",
}


async def _check_media_storage(settings: Settings) -> tuple[bool | None, str]:
    """MEDIA_URL's bucket answers and takes, gives back and deletes a test object:
    (True, ...); a missing bucket, refused credentials, another region: (False, the
    cause and the fix); not reachable: (None, ...), since the network may come back
    (media waits on the local disk meanwhile)."""
    from app.media_storage import build_media_store
    from core.errors import MediaStorageError
    from db.s3_media_store import S3MediaStore, fix_for

    store = build_media_store(settings, attempts=1, timeout=ONLINE_TIMEOUT / 2)
    assert isinstance(store, S3MediaStore)
    try:
        await asyncio.wait_for(store.check(), ONLINE_TIMEOUT)
    except MediaStorageError as exc:
        says = _STORAGE_SAYS.get(exc.cause, "refused a test object")
        ok = None if exc.cause == "unreachable" else False
        return ok, f"media storage {exc.where} {says} ({exc}): {fix_for(exc)}"
    except TimeoutError:
        fix = fix_for(MediaStorageError("unreachable", store.where))
        return None, f"media storage {store.where} did not answer in time: {fix}"
    finally:
        await store.close()
    return True, f"media storage: {store.where} (bucket reachable, a test object written)"


async def _check_bot_token(settings: Settings) -> tuple[bool | None, str]:
    """(True, ...) accepted, (False, ...) refused, (None, ...) Telegram not reachable."""
    from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError

    from bot.component import build_bot

    bot = build_bot(
        settings.bot_token.get_secret_value(), settings.bot_api_url, settings.telegram_proxy
    )
    try:
        me = await asyncio.wait_for(bot.get_me(), ONLINE_TIMEOUT)
    except TelegramUnauthorizedError:
        return False, "BOT_TOKEN was refused by Telegram: get a new one from @BotFather"
    except (TelegramAPIError, OSError, TimeoutError) as exc:
        return None, f"the Bot API could not be reached ({type(exc).__name__}): token not checked"
    finally:
        await bot.session.close()
    return True, f"bot token accepted: open https://t.me/{me.username} and send /start"


async def _check_api_id(settings: Settings) -> tuple[bool | None, str]:
    from telethon import errors, functions

    from app.service import userbot_config
    from parser.client import new_client

    client = new_client(userbot_config(settings))
    try:
        await asyncio.wait_for(client.connect(), ONLINE_TIMEOUT)
        await asyncio.wait_for(client(functions.help.GetConfigRequest()), ONLINE_TIMEOUT)
    except errors.ApiIdInvalidError:
        return False, (
            "TELEGRAM_API_ID was refused by Telegram (API_ID_INVALID): copy api_id and "
            "api_hash again from https://my.telegram.org"
        )
    except (OSError, TimeoutError, ConnectionError, errors.RPCError) as exc:
        return None, f"Telegram could not be reached ({type(exc).__name__}): api_id not checked"
    finally:
        await client.disconnect()
    return True, "api_id accepted by Telegram (the api_hash is checked at /login)"


async def _check_online(settings: Settings) -> int:
    """`check --online`: the token and the api_id asked of Telegram itself."""
    results = [await _check_bot_token(settings), await _check_api_id(settings)]
    for ok, line in results:
        mark = {True: "✓", False: "✗", None: "?"}[ok]
        print(f"{mark} {line}", file=sys.stdout if ok is not False else sys.stderr)
    return 2 if any(ok is False for ok, _ in results) else 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from db.vault import SessionVault

    print(SessionVault.generate_key())
    return 0


async def _rotate(settings: VaultSettings) -> int:
    from db.accounts import AccountRepository
    from db.database import close_db, init_db
    from db.vault import SessionVault, VaultError

    await init_db(settings.database_url)
    try:
        keys = [k.get_secret_value() for k in settings.session_keys]
        repo = AccountRepository(SessionVault(keys))
        try:
            count = await repo.rotate_keys()
        except VaultError as exc:
            print(f"tg-parser: {exc}", file=sys.stderr)
            return 1
    finally:
        await close_db()
    print(f"re-encrypted {count} session(s) with the first key; older keys can now be removed")
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    try:
        settings = load(VaultSettings)
    except ConfigError as exc:
        return _fail(str(exc))
    return asyncio.run(_rotate(settings))


async def _migrate(settings: DatabaseSettings) -> int:
    from db.database import apply_migrations, close_db

    try:
        await apply_migrations(settings.database_url)
    finally:
        await close_db()
    print("database is up to date")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    try:
        settings = load(DatabaseSettings)
    except ConfigError as exc:
        return _fail(str(exc))
    return asyncio.run(_migrate(settings))


async def _backup(src: Path, dest: Path | None, backup_dir: Path | None) -> int:
    from db.sqlite_files import DatabaseDamaged, backup

    try:
        result = await backup(src, dest, backup_dir=backup_dir)
    except DatabaseDamaged as exc:
        print(f"tg-parser: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"tg-parser: the backup could not be written: {exc}", file=sys.stderr)
        return 1
    print(f"backup written: {result.path} ({result.size / 1e6:.1f} MB, {result.seconds:.1f} s)")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    try:
        settings = load(DatabaseSettings)
    except ConfigError as exc:
        return _fail(str(exc))
    src = settings.sqlite_path
    if src is None:
        print(
            "tg-parser: backup copies a SQLite archive; for PostgreSQL use pg_dump "
            "(see README, Backups)",
            file=sys.stderr,
        )
        return 2
    if not src.exists():
        print(f"tg-parser: there is no database at {src}", file=sys.stderr)
        return 1
    dest = Path(args.path) if args.path else None
    if dest is not None and dest.is_dir():
        dest = dest / f"tg_parser-{datetime.now(UTC):%Y%m%d-%H%M%S}.sqlite3"
    return asyncio.run(_backup(src, dest, settings.backups_path))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tg-parser", description="Telegram channel parser controlled by a Telegram bot"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn, help_text in (
        ("run", cmd_run, "run the bot, the parser and the scheduler"),
        ("worker", cmd_worker, "run only the parser side (PostgreSQL; beside a bot)"),
        ("check", cmd_check, "validate the configuration"),
        ("keygen", cmd_keygen, "print a new encryption key for SESSION_KEYS"),
        ("rotate-key", cmd_rotate_key, "re-encrypt stored sessions with the first key"),
        ("migrate", cmd_migrate, "apply database migrations"),
        ("backup", cmd_backup, "copy the live SQLite archive (the bot may keep running)"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(fn=fn)
        if name == "backup":
            p.add_argument("path", nargs="?", help="a file or folder (default: BACKUP_DIR)")
        if name == "run":
            p.add_argument(
                "--no-parser",
                action="store_true",
                help="run only the bot: `tg-parser worker` processes parse (PostgreSQL)",
            )
        if name == "check":
            p.add_argument(
                "--online",
                action="store_true",
                help="also ask Telegram whether it accepts the bot token and the api_id",
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
