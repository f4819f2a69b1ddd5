"""P6 media download: the app's downloader against plain Telethon `download_media`.

The MTProto double runs as its own process serving media posts (generated content, so
2 GB cost it nothing); `--rtt` seconds are added to every upload.getFile answer
(`server.file_delay`: a round trip, answers to parallel requests are delayed in
parallel, no bandwidth cap). Each phase's client runs in its own process, signed in
once, with cryptg.

1. Throughput, per RTT (one double process each): `--files` documents of `--size-mb`,
   downloaded to disk in `--rounds` rounds; in each round, one after another:
   plain Telethon `client.download_media(msg, file=path)` one file at a time; the app's
   `parser.media.download_to(client, media_ref(msg), path, parts=1)` one file at a
   time; the same with `parts=--parts` (the parallel-parts mode, MEDIA_PARTS); and
   `--concurrency` files at once with parts=1 (MEDIA_CONCURRENCY). MB/s = bytes /
   wall time of the mode; ratios are per round (median). Every app download's SHA-256
   is checked against plain Telethon's file.
2. Memory: a fresh client process downloads a 64 MB file, then a 2 GB one
   (`--big-gb`), both with parts=--parts to disk; VmHWM (peak RSS) after each. Flat:
   the 2 GB peak within 20 MB of the 64 MB peak. The double's own VmHWM is given too.
3. The app as a process (the e2e harness plumbing, Bot API double in this process)
   with MEDIA_DEFAULT=all, MEDIA_MAX_MB=0: `--samples` /status + /channels round trips
   idle, then `/add @mediabig` (64 MB + the big video) and, every ~0.25 s from the
   first download to the last byte, /status or /channels while its media service
   downloads (P2 <= 250 ms p99), RTT `--app-rtt`; the app's RSS (polled and VmHWM)
   from before /add to the end of the downloads. Skipped, and said so, when the
   tree has no media service (services/media wired in app/service.py).

    .venv/bin/python bench/bench_media.py [--rtt 0,0.03] [--files 4] [--size-mb 8]
        [--rounds 3] [--parts 4] [--concurrency 3] [--big-gb 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = str(REPO_ROOT / "bench")
PHONE, CODE = "+15550000001", "12345"
CHANNEL = "mediabench"
BIG_CHANNEL = "mediabig"
MB = 1024 * 1024


# -- the double's scenario (runs in the double's process) -----------------------------


def fill(world: Any) -> None:
    """Scenario: @mediabench with BENCH_FILES documents of BENCH_SIZE bytes, @mediabig
    with one 64 MB and one BENCH_BIG-byte video."""
    files = int(os.environ.get("BENCH_FILES", "4"))
    size = int(os.environ.get("BENCH_SIZE", str(8 * MB)))
    big = int(os.environ.get("BENCH_BIG", str(2 * 1024 * MB)))
    channel = world.add_channel(username=CHANNEL, title="Media bench")
    for i in range(files):
        channel.add_media_post("document", size=size, file_name=f"file{i}.bin",
                               mime_type="application/octet-stream")
    large = world.add_channel(username=BIG_CHANNEL, title="Big media")
    large.add_media_post("video", size=64 * MB, file_name="small.mp4")
    large.add_media_post("video", size=big, file_name="big.mp4")


def start_double(workdir: Path, rtt: float, env_extra: dict[str, str]) -> tuple[Any, int]:
    ready = workdir / f"port-{rtt}"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "tests.doubles.mtproto", "--port", "0",
            "--ready-file", str(ready), "--account", f"{PHONE}:{CODE}",
            "--scenario", f"{Path(__file__).resolve()}:fill", "--file-delay", str(rtt),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env_extra},
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the MTProto double did not start")
        time.sleep(0.05)
    return proc, int(ready.read_text())


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), 0.0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kb(pid: int | str, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# -- client workers (own process each) -------------------------------------------------


def _remove_downloads(tmp: Path) -> None:
    for pattern in ("app-*", "plain-*"):
        for path in tmp.glob(pattern):
            path.unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(MB):
            digest.update(block)
    return digest.hexdigest()


async def _throughput(port: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from parser.media import download_to, media_ref
    from tests.doubles.mtproto import signed_in_client

    modes = ["plain", "app parts=1", f"app parts={args.parts}",
             f"app {args.concurrency} files at once"]
    rates: dict[str, list[float]] = {m: [] for m in modes}
    async with signed_in_client(port, PHONE, CODE) as (client, _me):
        msgs = [m async for m in client.iter_messages(CHANNEL) if m.document is not None]
        total = sum(m.document.size for m in msgs)
        expected: dict[int, str] = {}

        async def app_one(msg: Any, parts: int) -> None:
            ref = media_ref(msg)
            assert ref is not None
            result = await download_to(client, ref, tmp / f"app-{msg.id}", parts=parts)
            if result.sha256 != expected[msg.id] or result.size != msg.document.size:
                raise SystemExit(f"app download of {msg.id} differs from plain Telethon's")

        async def bounded(msg: Any, sem: asyncio.Semaphore) -> None:
            async with sem:
                await app_one(msg, 1)

        async def plain_all() -> None:
            for msg in msgs:
                await client.download_media(msg, file=str(tmp / f"plain-{msg.id}"))

        async def app_seq(parts: int) -> None:
            for msg in msgs:
                await app_one(msg, parts)

        async def app_concurrent() -> None:
            sem = asyncio.Semaphore(args.concurrency)
            await asyncio.gather(*(bounded(m, sem) for m in msgs))

        # The reference hashes, from plain Telethon's files (a warm-up, not timed).
        await plain_all()
        for msg in msgs:
            path = tmp / f"plain-{msg.id}"
            expected[msg.id] = _sha256(path)
            path.unlink()
        jobs = {
            "plain": plain_all,
            "app parts=1": lambda: app_seq(1),
            f"app parts={args.parts}": lambda: app_seq(args.parts),
            modes[3]: app_concurrent,
        }
        cpu: dict[str, list[float]] = {m: [] for m in modes}
        server_cpu: dict[str, list[float]] = {m: [] for m in modes}
        for round_no in range(args.rounds):
            # Each round starts with another mode, so no mode always runs first.
            order = modes[round_no % len(modes):] + modes[: round_no % len(modes)]
            for mode in order:
                s0 = cpu_seconds(args.server_pid)
                c0, t0 = time.process_time(), time.perf_counter()
                await jobs[mode]()
                rates[mode].append(total / (time.perf_counter() - t0) / MB)
                cpu[mode].append(time.process_time() - c0)
                server_cpu[mode].append(cpu_seconds(args.server_pid) - s0)
                _remove_downloads(tmp)
    plain = rates["plain"]
    return {
        "bytes_per_round": total,
        "rates": rates,
        "client_cpu_s": cpu,
        "server_cpu_s": server_cpu,
        "ratio app1/plain": [a / p for a, p in zip(rates["app parts=1"], plain, strict=True)],
        "ratio parts/plain": [
            a / p for a, p in zip(rates[f"app parts={args.parts}"], plain, strict=True)
        ],
        "ratio concurrent/plain": [a / p for a, p in zip(rates[modes[3]], plain, strict=True)],
    }


async def _memory(port: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from parser.media import download_to, media_ref
    from tests.doubles.mtproto import signed_in_client

    out: dict[str, Any] = {"start_rss_mb": (status_kb("self", "VmRSS") or 0) / 1024}
    async with signed_in_client(port, PHONE, CODE) as (client, _me):
        msgs = sorted(
            [m async for m in client.iter_messages(BIG_CHANNEL) if m.document is not None],
            key=lambda m: m.document.size,
        )
        out["signed_in_rss_mb"] = (status_kb("self", "VmRSS") or 0) / 1024
        for label, msg in zip(("small", "big"), msgs, strict=True):
            path = tmp / f"mem-{label}"
            t0 = time.perf_counter()
            ref = media_ref(msg)
            assert ref is not None
            result = await download_to(client, ref, path, parts=args.parts)
            elapsed = time.perf_counter() - t0
            if result.size != msg.document.size:
                raise SystemExit(f"{label}: got {result.size} bytes of {msg.document.size}")
            out[label] = {
                "bytes": result.size,
                "seconds": elapsed,
                "mb_s": result.size / elapsed / MB,
                "vmhwm_mb": (status_kb("self", "VmHWM") or 0) / 1024,
                "rss_after_mb": (status_kb("self", "VmRSS") or 0) / 1024,
            }
            path.unlink()
    return out


def worker_main(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    from telethon.crypto import rsa

    from tests.doubles.mtproto import PUBLIC_KEY_PATH

    rsa.add_key(PUBLIC_KEY_PATH.read_text(), old=False)
    tmp = Path(args.tmp)
    job = _throughput if args.worker == "throughput" else _memory
    print(json.dumps(asyncio.run(job(args.port, args, tmp))))


def run_worker(
    kind: str, port: int, args: argparse.Namespace, tmp: Path, server_pid: int
) -> dict[str, Any]:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--port", str(port),
        "--server-pid", str(server_pid),
        "--tmp", str(tmp), "--rounds", str(args.rounds), "--parts", str(args.parts),
        "--concurrency", str(args.concurrency),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    if out.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- phase 3: the app process (bot latency and RSS while its media service downloads) ----


def app_has_media_service() -> str | None:
    """None when the app runs a media service; else why this phase cannot run."""
    service = REPO_ROOT / "app" / "service.py"
    if not (REPO_ROOT / "services" / "media").is_dir():
        return "services/media (the media service) is not on this tree"
    if "media" not in service.read_text().lower():
        return "app/service.py does not start a media service"
    return None


def _dir_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _queue(db_path: Path) -> dict[str, int]:
    """media_download rows by status; read only once the app has stopped (an outside
    reader while the app runs can delete its WAL: /work/notes/h1-found.md)."""
    import sqlite3

    try:
        conn = sqlite3.connect(db_path, timeout=10)
        try:
            rows = conn.execute(
                "SELECT status, COUNT(*) FROM media_download GROUP BY status"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    return {str(k): int(v) for k, v in rows}


def _media_files(media_dir: Path) -> tuple[int, int]:
    """(bytes of complete files, bytes of partial files) under the app's MEDIA_DIR."""
    partial = _dir_bytes(media_dir / "partial")
    return _dir_bytes(media_dir) - partial, partial


async def _app_phase(port: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    if BENCH_DIR not in sys.path:
        sys.path.insert(0, BENCH_DIR)
    from _stack import ADMIN2_ID, bot_and_app, login, percentile, seed_db, start_app

    media_dir = tmp / "app-media"
    session, user_id, _ = await login(port)
    async with bot_and_app(
        tmp / "app", port, MEDIA_DEFAULT="all", MEDIA_MAX_MB="0", MEDIA_DIR=str(media_dir),
        MEDIA_PARTS=str(args.parts), MEDIA_CONCURRENCY=str(args.concurrency),
    ) as stack:
        await seed_db(stack.env, session, user_id, [])
        pid = await start_app(stack)
        api = stack.botapi
        await asyncio.sleep(2)  # the userbot connects

        async def round_trip(command: str) -> float:
            mark = api.mark()
            incoming = await api.send_text(api.users[ADMIN2_ID], command)
            reply = await api.wait_for_message(ADMIN2_ID, None, after=mark, timeout=30)
            return incoming.latency_to(reply)

        commands = ("/status", "/channels")
        idle: list[float] = []
        for i in range(2 * args.samples):
            idle.append(await round_trip(commands[i % 2]))
            await asyncio.sleep(0.25)
        rss_before = (status_kb(pid, "VmRSS") or 0) / 1024
        hwm_before = (status_kb(pid, "VmHWM") or 0) / 1024
        t0 = time.monotonic()
        await api.send_text(api.users[ADMIN2_ID], f"/add @{BIG_CHANNEL} all")

        expected = 64 * MB + int(args.big_gb * 1024) * MB

        def busy() -> bool:  # from the disk: the app's database is left alone
            done, partial = _media_files(media_dir)
            return done < expected and (done > 0 or partial > 0)

        while not busy():
            if time.monotonic() - t0 > 120 or not stack.app.alive():
                raise SystemExit(f"no media download started:\n{stack.app.log()[-3000:]}")
            await asyncio.sleep(0.2)
        disk0 = _dir_bytes(media_dir)
        loaded: list[float] = []
        trace: list[tuple[float, str, float, float]] = []  # (s since /add, cmd, ms, MB)
        peak_rss = rss_before
        # Samples all along the downloads (every ~0.25 s until the queue is empty), so the
        # start of each file, its end (hash, fsync, rename) and the steady state all count.
        while busy() and len(loaded) < args.max_samples:
            command = commands[len(loaded) % 2]
            latency = await round_trip(command)
            if not busy():
                break
            loaded.append(latency)
            trace.append((round(time.monotonic() - t0, 2), command,
                          round(latency * 1000, 1), round(_dir_bytes(media_dir) / MB)))
            peak_rss = max(peak_rss, (status_kb(pid, "VmRSS") or 0) / 1024)
            await asyncio.sleep(0.25)
        disk1 = _dir_bytes(media_dir)
        while busy() and time.monotonic() - t0 < args.app_timeout:
            peak_rss = max(peak_rss, (status_kb(pid, "VmRSS") or 0) / 1024)
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - t0
        hwm_after = (status_kb(pid, "VmHWM") or 0) / 1024
        await asyncio.sleep(2)  # the last row marked done
        await stack.app.terminate()
        queue = _queue(stack.app.db_path)

    def stats(values: list[float]) -> dict[str, Any]:
        return {
            "n": len(values),
            "p50_ms": percentile(values, 50) * 1000 if values else None,
            "p99_ms": percentile(values, 99) * 1000 if values else None,
            "max_ms": max(values) * 1000 if values else None,
        }

    return {
        "idle": stats(idle),
        "downloading": stats(loaded),
        "trace": trace,
        "media_mb_written_during_samples": (disk1 - disk0) / MB,
        "queue_at_end": queue,
        "seconds_from_add_to_done": elapsed,
        "media_mb_on_disk": _dir_bytes(media_dir) / MB,
        "rss_before_mb": rss_before,
        "polled_peak_rss_mb": peak_rss,
        "vmhwm_before_mb": hwm_before,
        "vmhwm_after_mb": hwm_after,
    }


# -- driver -----------------------------------------------------------------------------


def _med(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--rtt", default="0,0.03", help='phase 1 RTTs (s per getFile answer); "" skips it'
    )
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--size-mb", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--big-gb", type=float, default=2.0)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-app", action="store_true", help="no phase 3 (app process)")
    parser.add_argument("--samples", type=int, default=30, help="phase 3 idle command pairs")
    parser.add_argument(
        "--max-samples", type=int, default=1000, help="phase 3 cap on samples while downloading"
    )
    parser.add_argument("--app-rtt", type=float, default=0.03, help="phase 3 RTT (s)")
    parser.add_argument("--app-timeout", type=float, default=600.0)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return

    command = shlex.join([sys.executable, *sys.argv])
    env = {
        "BENCH_FILES": str(args.files),
        "BENCH_SIZE": str(args.size_mb * MB),
        "BENCH_BIG": str(int(args.big_gb * 1024) * MB),
    }
    results: dict[str, Any] = {"command": command, "throughput": {}}
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp_name:
        tmp = Path(tmp_name)
        for rtt in (float(r) for r in args.rtt.split(",") if r.strip()):
            server, port = start_double(tmp, rtt, env)
            try:
                results["throughput"][str(rtt)] = run_worker(
                    "throughput", port, args, tmp, server.pid
                )
            finally:
                server.terminate()
                server.wait(timeout=30)
        if not args.skip_memory:
            server, port = start_double(tmp, 0.0, env)
            try:
                before = (status_kb(server.pid, "VmHWM") or 0) / 1024
                results["memory"] = run_worker("memory", port, args, tmp, server.pid)
                results["memory"]["double_vmhwm_mb"] = {
                    "before": before,
                    "after": (status_kb(server.pid, "VmHWM") or 0) / 1024,
                }
            finally:
                server.terminate()
                server.wait(timeout=30)
        missing = None if args.skip_app else app_has_media_service()
        if args.skip_app:
            results["app"] = {"skipped": "--skip-app"}
        elif missing is not None:
            results["app"] = {"skipped": missing}
        else:
            server, port = start_double(tmp, args.app_rtt, env)
            try:
                results["app"] = asyncio.run(_app_phase(port, args, tmp))
            finally:
                server.terminate()
                server.wait(timeout=30)

    print(
        f"P6 media download, {args.files} x {args.size_mb} MB documents, {args.rounds} "
        f"rounds, MTProto double and client in separate processes, {os.cpu_count()} CPUs"
    )
    print()
    print(
        "| RTT per getFile | mode | MB/s (median) | rounds (MB/s) | vs plain (median) "
        "| client CPU s/GB | double CPU s/GB |"
    )
    print("|---|---|---|---|---|---|---|")
    for rtt, r in results["throughput"].items():
        ratios = {
            "plain": None,
            "app parts=1": r["ratio app1/plain"],
            f"app parts={args.parts}": r["ratio parts/plain"],
            f"app {args.concurrency} files at once": r["ratio concurrent/plain"],
        }
        per_gb = 1024 * MB / r["bytes_per_round"]
        for mode, values in r["rates"].items():
            ratio = ratios.get(mode)
            print(
                f"| {float(rtt) * 1000:.0f} ms | {mode} | {_med(values):.1f} "
                f"| {', '.join(f'{v:.1f}' for v in values)} "
                f"| {'-' if ratio is None else f'{_med(ratio):.2f}'} "
                f"| {_med(r['client_cpu_s'][mode]) * per_gb:.1f} "
                f"| {_med(r['server_cpu_s'][mode]) * per_gb:.1f} |"
            )
    if "memory" in results:
        m = results["memory"]
        print()
        print(f"peak RSS of the downloading client (parts={args.parts}, to disk)")
        print("| file | MB/s | VmHWM after MB |")
        print("|---|---|---|")
        for label in ("small", "big"):
            row = m[label]
            print(f"| {row['bytes'] / MB:,.0f} MB | {row['mb_s']:.1f} | {row['vmhwm_mb']:.1f} |")
        print(
            f"growth small -> big: {m['big']['vmhwm_mb'] - m['small']['vmhwm_mb']:+.1f} MB "
            f"(signed in: {m['signed_in_rss_mb']:.1f} MB); the double's VmHWM "
            f"{m['double_vmhwm_mb']['before']:.1f} -> {m['double_vmhwm_mb']['after']:.1f} MB"
        )
    app = results["app"]
    print()
    if "skipped" in app:
        print(f"phase 3 (app process) not measured: {app['skipped']}")
    else:
        print(
            f"the app process downloading @{BIG_CHANNEL} (64 MB + {args.big_gb:g} GB, "
            f"RTT {args.app_rtt * 1000:.0f} ms, MEDIA_PARTS={args.parts}, "
            f"MEDIA_CONCURRENCY={args.concurrency}): bot reply latency, /status and /channels"
        )
        print("| state | samples | p50 ms | p99 ms | max ms |")
        print("|---|---|---|---|---|")
        for state in ("idle", "downloading"):
            row = app[state]
            figures = " | ".join(
                f"{row[k]:.1f}" if row[k] is not None else "n/a"
                for k in ("p50_ms", "p99_ms", "max_ms")
            )
            print(f"| {state} | {row['n']} | {figures} |")
        print(
            f"media written while sampling: {app['media_mb_written_during_samples']:.0f} MB;"
            f" queue at the end {app['queue_at_end']}, {app['media_mb_on_disk']:.0f} MB on "
            f"disk after {app['seconds_from_add_to_done']:.0f} s; app RSS before /add "
            f"{app['rss_before_mb']:.0f} MB, polled peak {app['polled_peak_rss_mb']:.0f} MB, "
            f"VmHWM {app['vmhwm_before_mb']:.0f} -> {app['vmhwm_after_mb']:.0f} MB"
        )
    print()
    print(f"command: {command}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
