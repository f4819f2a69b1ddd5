"""The bus's round trip (#18): a /parse from a bot-only process to a worker and back.

One throwaway PostgreSQL cluster; in this process a bot end (services/parsing/remote.py
RemoteParseService over a `bot` Bus) and a worker end (app/bus_roles.py worker_side: a
`worker` Bus serving a ParseService over a ParseWorker whose fetcher reports one
progress and returns at once, so only the bus and the run queue are measured). Each
sample is one /parse of one channel, addressed to its account's worker
(`account:<id>`, as a bot-only process sends it), timed on one monotonic clock:

- claimed: the request stored -> the worker's handler starts (its claim);
- first progress: -> the bot hears the run's first progress (the live message);
- answer: -> the bot has the run's outcome (the summary).

Two ways the other side wakes: NOTIFY (LISTEN connected, the production poll of 3 s
behind it) and the poll fallback (no LISTEN connection: every statement waits for the
next poll of `--poll` s; each request sent at a random moment of a poll period). Then
/add's lookup: one `resolve` request to the account's
worker and back (a resolver answering at once). Printed: p50 / p99 / max in ms.

    .venv/bin/python bench/bench_bus.py [--samples 200] [--poll-samples 10] [--poll 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from _stack import percentile  # noqa: E402
from bench_counters import _Postgres  # noqa: E402


class _Pool:
    """A worker's one account (row 1), ready: as parser/pool.py AccountPool answers."""

    def __init__(self) -> None:
        self.client: Any = object()
        self.state, self.reason, self.account_id = "ready", None, 1

    async def session_dead(self, reason: str) -> None:
        pass

    def ready(self) -> list[Any]:
        return [self]

    def on_state(self, listener: Any) -> None:
        pass

    def client_of(self, account_id: int | None) -> Any:
        return self.client if account_id == 1 else None


class _Fetcher:
    """Reports one progress (as after the first committed batch), then returns."""

    def __init__(self) -> None:
        self.claimed: list[float] = []

    def request_stop(self) -> None:
        pass

    async def run(self, client: Any, ch: Any, on_progress: Any = None) -> Any:
        from core.parsing import RunProgress, RunStatus

        p = RunProgress(ch.label, fetched=100, total=100, new=100, started=time.monotonic())
        if on_progress is not None:
            await on_progress(p)
        p.status = RunStatus.OK
        return p


class _Resolver:
    def __init__(self, client: Any) -> None:
        self.client = client

    async def resolve(self, ref: Any) -> Any:
        from parser.resolver import Resolved

        return Resolved(tg_id=1, access_hash=2, title="News", username=ref.value, kind="channel")


async def _measure(url: str, samples: int, poll: float, listen: bool) -> dict[str, list[float]]:
    from app.bus_roles import BusTimes, worker_side
    from core.alerts import Alerter
    from core.health import HealthRegistry
    from db.bus import account_recipient
    from db.channels import ChannelStateRepository
    from db.models import Channel
    from db.runs import RunRepository
    from parser.resolver import ChannelRef
    from services.bus import Bus, Request
    from services.parsing.breaker import CircuitBreaker
    from services.parsing.remote import RemoteParseService
    from services.parsing.service import ParseService
    from services.parsing.worker import ParseWorker
    from services.remote_channels import RemoteResolver, register_resolve_handler

    times = BusTimes(poll_seconds=poll, claim_seconds=max(15.0, 4 * poll))
    pool, fetcher = _Pool(), _Fetcher()
    sched = ParseWorker(ChannelStateRepository(), RunRepository(), fetcher, pool,
                        CircuitBreaker(), Alerter(600), HealthRegistry())
    local = ParseService(sched, ChannelStateRepository(), CircuitBreaker(), pool)
    parts: list[Any] = [sched, *worker_side(url, local, Alerter(600), HealthRegistry(), times)]
    wbus = parts[1]
    assert isinstance(wbus, Bus)
    register_resolve_handler(wbus, pool, _Resolver)
    wbus.serve_addresses(lambda: [account_recipient(1)])
    bot = Bus(url, "bot", poll_seconds=poll, claim_seconds=times.claim_seconds)
    parts.append(bot)
    claimed: list[float] = []
    serve = wbus._handlers["parse"]

    async def timed(req: Request) -> Any:
        claimed.append(time.monotonic())
        return await serve(req)

    wbus._handlers["parse"] = timed
    for bus in (wbus, bot):
        if not listen:
            async def refuse() -> None:
                raise OSError("no LISTEN in this measurement")

            bus.listener.connect = refuse  # type: ignore[method-assign]
    tasks = [asyncio.create_task(p.run()) for p in parts]
    await sched.started.wait()
    if listen:
        for bus in (wbus, bot):
            await asyncio.wait_for(bus.ready.wait(), 10)
    else:
        await asyncio.sleep(poll)  # both polled once: the worker's presence is stored
    ch = await Channel.create(tg_id=10, access_hash=1, title="News", username="news",
                              account_id=1)

    class _Route:
        async def for_parse(self, c: Any) -> str:
            return account_recipient(1)

    api = RemoteParseService(bot, ChannelStateRepository(), _Route())
    target = await ChannelStateRepository().channel(ch.id)
    assert target is not None
    rng = random.Random(18)
    out: dict[str, list[float]] = {"claimed": [], "first progress": [], "answer": [],
                                   "resolve": []}
    try:
        for _ in range(samples):
            progress_at: list[float] = []

            async def heard(_p: Any, progress_at: list[float] = progress_at) -> None:
                if not progress_at:
                    progress_at.append(time.monotonic())

            if not listen:
                # Out of step with both polls (they would otherwise run in lockstep
                # with the samples): a request comes at any moment of a poll period.
                await asyncio.sleep(rng.uniform(0, poll))
            start = time.monotonic()
            result = await api._parse(target, heard)
            end = time.monotonic()
            assert getattr(result, "status", None) == "ok", result
            out["claimed"].append(claimed[-1] - start)
            if progress_at:
                out["first progress"].append(progress_at[0] - start)
            out["answer"].append(end - start)
        resolver = RemoteResolver(bot, 1)
        for _ in range(samples):
            if not listen:
                await asyncio.sleep(rng.uniform(0, poll))
            start = time.monotonic()
            await resolver.resolve(ChannelRef("username", "news"))
            out["resolve"].append(time.monotonic() - start)
    finally:
        for p in reversed(parts):
            await p.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
    return out


def _line(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name} | - | - | - | 0 |"
    ms = [v * 1000 for v in values]
    return (f"| {name} | {percentile(ms, 50):,.1f} | {percentile(ms, 99):,.1f} "
            f"| {max(ms):,.1f} | {len(ms)} |")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=200, help="round trips over NOTIFY")
    ap.add_argument("--poll-samples", type=int, default=10, help="round trips polled")
    ap.add_argument("--poll", type=float, default=3.0, help="the buses' poll_seconds")
    args = ap.parse_args()

    from db.database import close_db, init_db
    from tests.integration.pg import truncate

    pg = _Postgres()
    url = pg.start()
    try:
        await init_db(url)
        try:
            results = {}
            for label, listen, n in (("NOTIFY", True, args.samples),
                                     ("poll fallback", False, args.poll_samples)):
                await truncate("bus_message", "bus_consumer", "channel", "parse_run")
                results[label] = await _measure(url, n, args.poll, listen)
        finally:
            await close_db()
    finally:
        pg.stop()
    print(f"bus round trip, poll_seconds={args.poll:g}, one process (bot and worker ends,"
          " each its own connections)")
    print("| path / step | p50 ms | p99 ms | max ms | samples |")
    print("|---|---|---|---|---|")
    for label, out in results.items():
        for step, values in out.items():
            print(_line(f"{label}: {step}", values))


if __name__ == "__main__":
    asyncio.run(main())
