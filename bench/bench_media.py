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
3. P2 bot latency while media downloads: needs the app's media service (services/media)
   wired into the app; see `--latency` (skipped, and said so, when absent).

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


def status_kb(pid: int | str, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# -- client workers (own process each) -------------------------------------------------


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
            path = tmp / f"app-{msg.id}"
            result = await download_to(client, media_ref(msg), path, parts=parts)
            if result.sha256 != expected[msg.id] or result.size != msg.document.size:
                raise SystemExit(f"app download of {msg.id} differs from plain Telethon's")
            path.unlink()

        async def bounded(msg: Any, sem: asyncio.Semaphore) -> None:
            async with sem:
                await app_one(msg, 1)

        for _ in range(args.rounds):
            sem = asyncio.Semaphore(args.concurrency)
            t0 = time.perf_counter()
            for msg in msgs:
                await client.download_media(msg, file=str(tmp / f"plain-{msg.id}"))
            rates["plain"].append(total / (time.perf_counter() - t0) / MB)
            for msg in msgs:  # not timed: the reference hashes
                path = tmp / f"plain-{msg.id}"
                expected[msg.id] = _sha256(path)
                path.unlink()
            t0 = time.perf_counter()
            for msg in msgs:
                await app_one(msg, 1)
            rates["app parts=1"].append(total / (time.perf_counter() - t0) / MB)
            t0 = time.perf_counter()
            for msg in msgs:
                await app_one(msg, args.parts)
            rates[f"app parts={args.parts}"].append(total / (time.perf_counter() - t0) / MB)
            t0 = time.perf_counter()
            await asyncio.gather(*(bounded(m, sem) for m in msgs))
            rates[modes[3]].append(total / (time.perf_counter() - t0) / MB)
    plain = rates["plain"]
    return {
        "bytes_per_round": total,
        "rates": rates,
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
            result = await download_to(client, media_ref(msg), path, parts=args.parts)
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


def run_worker(kind: str, port: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--port", str(port),
        "--tmp", str(tmp), "--rounds", str(args.rounds), "--parts", str(args.parts),
        "--concurrency", str(args.concurrency),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    if out.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- driver -----------------------------------------------------------------------------


def _med(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rtt", default="0,0.03", help="seconds per getFile answer, a list")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--size-mb", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--big-gb", type=float, default=2.0)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
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
    with tempfile.TemporaryDirectory(dir=REPO_ROOT / "bench") as tmp_name:
        tmp = Path(tmp_name)
        for rtt in (float(r) for r in args.rtt.split(",")):
            server, port = start_double(tmp, rtt, env)
            try:
                results["throughput"][str(rtt)] = run_worker("throughput", port, args, tmp)
            finally:
                server.terminate()
                server.wait(timeout=30)
        if not args.skip_memory:
            server, port = start_double(tmp, 0.0, env)
            try:
                before = (status_kb(server.pid, "VmHWM") or 0) / 1024
                results["memory"] = run_worker("memory", port, args, tmp)
                results["memory"]["double_vmhwm_mb"] = {
                    "before": before,
                    "after": (status_kb(server.pid, "VmHWM") or 0) / 1024,
                }
            finally:
                server.terminate()
                server.wait(timeout=30)

    print(
        f"P6 media download, {args.files} x {args.size_mb} MB documents, {args.rounds} "
        f"rounds, MTProto double and client in separate processes, {os.cpu_count()} CPUs"
    )
    print()
    print("| RTT per getFile | mode | MB/s (median) | rounds (MB/s) | vs plain (median) |")
    print("|---|---|---|---|---|")
    for rtt, r in results["throughput"].items():
        ratios = {
            "plain": None,
            "app parts=1": r["ratio app1/plain"],
            f"app parts={args.parts}": r["ratio parts/plain"],
            f"app {args.concurrency} files at once": r["ratio concurrent/plain"],
        }
        for mode, values in r["rates"].items():
            ratio = ratios.get(mode)
            print(
                f"| {float(rtt) * 1000:.0f} ms | {mode} | {_med(values):.1f} "
                f"| {', '.join(f'{v:.1f}' for v in values)} "
                f"| {'-' if ratio is None else f'{_med(ratio):.2f}'} |"
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
    print()
    print(f"command: {command}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
