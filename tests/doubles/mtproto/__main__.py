"""Run the MTProto double as a separate process.

    python -m tests.doubles.mtproto --port 0 --ready-file /tmp/port \\
        --account +15550000001:12345[:password] --channel big:100000 \\
        [--scenario scenario.json | --scenario pkg.module:build | --scenario file.py:build] \\
        [--file-delay 0.05] [--stats-file stats.json]

The ready file receives the listening port once the server accepts connections.
`--channel NAME:N[:SIZE]` creates public channel @NAME with N messages (texts of SIZE
characters; default "Message <id>"). A JSON scenario:

    {"accounts": [{"phone": "+15550000001", "code": "12345", "password": null}],
     "channels": [{"username": "news", "title": "News", "messages": 1000,
                   "private": false, "invite_hash": null, "megagroup": false}]}

A Python scenario is a callable taking the World and filling it (media posts:
`channel.add_media_post(...)`). `--file-delay S` delays every upload.getFile answer by
S seconds (`server.file_delay`); `--stats-file` gets, when the server stops, JSON
`{"counters": {method: n}, "bytes_served": {media_id: bytes}, "getfile_requests": ...,
"history_requests": {channel_id: messages.getHistory answered}, "peak_live_per_key": the
most connections one auth key had live at once}`; SIGUSR1 writes it at once too (the
figures so far: benches read what ran during a window).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import json
import logging
import os
import random
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .server import MTProtoServer
from .world import World

log = logging.getLogger("tests.doubles.mtproto")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.doubles.mtproto")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dc", type=int, default=2, help="DC id this server claims (2)")
    parser.add_argument("--ready-file", type=Path, help="write the port here when listening")
    parser.add_argument("--scenario", action="append", default=[], help="JSON file or callable")
    parser.add_argument(
        "--channel", action="append", default=[], help="USERNAME:N_MESSAGES[:TEXT_SIZE]"
    )
    parser.add_argument("--account", action="append", default=[], help="PHONE:CODE[:PASSWORD]")
    parser.add_argument("--key-store", type=Path, help="persist auth keys in this JSON file")
    parser.add_argument("--gzip", action="store_true", help="gzip large answers like Telegram")
    parser.add_argument(
        "--clock-offset", type=float, default=0.0, help="seconds the server's clock is ahead"
    )
    parser.add_argument(
        "--file-delay", type=float, default=0.0, help="seconds added to each upload.getFile"
    )
    parser.add_argument("--stats-file", type=Path, help="write counters here on stop (JSON)")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def _load_callable(spec: str) -> Any:
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        module_spec = importlib.util.spec_from_file_location("_mtproto_scenario", target)
        if module_spec is None or module_spec.loader is None:
            raise SystemExit(f"cannot load {target}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, attr)


def apply_json_scenario(world: World, data: dict[str, Any]) -> None:
    for account in data.get("accounts", []):
        world.add_account(**account)
    for spec in data.get("channels", []):
        spec = dict(spec)
        count = int(spec.pop("messages", 0))
        discussion = spec.pop("discussion", None)
        channel = world.add_channel(**spec)
        channel.add_messages(count)
        if discussion:
            spec_group = discussion if isinstance(discussion, dict) else {"title": discussion}
            group = world.add_channel(megagroup=True, **spec_group)
            world.link_discussion(channel, group)


def build_world(args: argparse.Namespace) -> World:
    world = World()
    for scenario in args.scenario:
        if scenario.endswith(".json") and ":" not in scenario.removesuffix(".json"):
            apply_json_scenario(world, json.loads(Path(scenario).read_text()))
        else:
            _load_callable(scenario)(world)
    for account in args.account:
        phone, code, *rest = account.split(":")
        world.add_account(phone=phone, code=code, password=rest[0] if rest else None)
    for channel in args.channel:
        parts: list[str] = [*str(channel).split(":"), "", ""]
        name, count, size = parts[0], parts[1], parts[2]
        text_fn = filler_text(int(size)) if size else None
        world.add_channel(username=name, title=name).add_messages(int(count or 0), text_fn=text_fn)
    return world


_WORDS = (
    "channel post news update market report photo video link today people city "
    "price market weather sport football team match goal result season story "
).split()


def filler_text(size: int) -> Callable[[int], str]:
    """Texts of `size` characters: "Post <id>: " plus words (cheap for 100k posts)."""
    rng = random.Random(size)
    filler = " ".join(rng.choice(_WORDS) for _ in range(size // 3 + 8))

    def text(msg_id: int) -> str:
        head = f"Post {msg_id}: "
        start = msg_id % 97
        return (head + filler[start : start + size])[:size]

    return text


def write_stats(server: MTProtoServer, world: World, path: Path) -> None:
    """The counters so far as JSON in `path` (written whole: a reader never sees half)."""
    stats = {
        "counters": dict(server.counters),
        "bytes_served": {str(k): v for k, v in world.bytes_served.items()},
        "getfile_requests": {str(k): v for k, v in world.getfile_requests.items()},
        "history_requests": {str(k): v for k, v in world.history_requests.items()},
        "peak_live_per_key": server.peak_live_per_key,
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(stats))
    os.replace(tmp, path)


async def serve(args: argparse.Namespace) -> None:
    world = build_world(args)
    server = MTProtoServer(
        world,
        host=args.host,
        port=args.port,
        dc_id=args.dc,
        key_store_path=args.key_store,
        gzip_responses=args.gzip,
        clock_offset=args.clock_offset,
    )
    server.file_delay = args.file_delay
    await server.start()
    print(f"MTProto double listening on {server.host}:{server.port}", flush=True)
    if args.ready_file is not None:
        tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
        tmp.write_text(str(server.port))
        os.replace(tmp, args.ready_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if args.stats_file is not None:
        with contextlib.suppress(NotImplementedError, AttributeError):
            loop.add_signal_handler(
                signal.SIGUSR1, write_stats, server, world, args.stats_file
            )
    try:
        await stop.wait()
    finally:
        await server.stop()
        if args.stats_file is not None:
            write_stats(server, world, args.stats_file)
        if server.unknown_methods:
            print(f"unimplemented methods: {dict(server.unknown_methods)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
