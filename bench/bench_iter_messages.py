"""Plain Telethon `iter_messages` throughput against the MTProto double.

The double runs as a separate process (so client and server do not share a core)
with one public channel of N messages; each client configuration runs in its own
process, logs in once and iterates the whole channel `--runs` times with
`wait_time=0`. Printed: median messages/s, with and without cryptg.

    .venv/bin/python bench/bench_iter_messages.py [--messages 100000] [--runs 3]
        [--text-size 0]

Without cryptg, Telethon falls back to OpenSSL through ctypes (or pure-Python
AES when libssl is missing); the worker blocks the `cryptg` import with a
`sys.modules` shim before Telethon is imported and checks the fallback is live.
"""

from __future__ import annotations

import argparse
import asyncio
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
PHONE = "+15550000001"
CODE = "12345"
CHANNEL = "benchchan"


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process from /proc (Linux), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- worker (one client configuration, own process) ----------------------------------


async def _worker(port: int, runs: int, expected: int) -> dict[str, Any]:
    from telethon.crypto import aes

    from tests.doubles.mtproto import signed_in_client

    if aes.cryptg is not None:
        backend = "cryptg"
    elif aes.libssl.decrypt_ige is not None:
        backend = "libssl (ctypes)"
    else:
        backend = "pure Python"
    async with signed_in_client(port, PHONE, CODE) as (client, _me):
        entity = await client.get_input_entity(CHANNEL)
        rates: list[float] = []
        cpu: list[float] = []
        for _ in range(runs):
            count = 0
            cpu0, t0 = time.process_time(), time.perf_counter()
            async for _message in client.iter_messages(entity, wait_time=0):
                count += 1
            elapsed = time.perf_counter() - t0
            cpu.append(time.process_time() - cpu0)
            if count != expected:
                raise SystemExit(f"got {count} messages, expected {expected}")
            rates.append(count / elapsed)
    return {"backend": backend, "rates": rates, "cpu": cpu}


def worker_main(args: argparse.Namespace) -> None:
    if args.no_cryptg:
        sys.modules["cryptg"] = None  # type: ignore[assignment]
    sys.path.insert(0, str(REPO_ROOT))
    result = asyncio.run(_worker(args.port, args.runs, args.messages))
    if args.no_cryptg:
        from telethon.crypto import aes

        assert aes.cryptg is None, "cryptg was not blocked"
    print(json.dumps(result))


# -- driver ----------------------------------------------------------------------------


def start_server(
    messages: int, text_size: int, workdir: Path
) -> tuple[subprocess.Popen[bytes], int]:
    ready = workdir / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.doubles.mtproto",
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--account",
            f"{PHONE}:{CODE}",
            "--channel",
            f"{CHANNEL}:{messages}:{text_size}" if text_size else f"{CHANNEL}:{messages}",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the MTProto double did not start")
        time.sleep(0.05)
    return proc, int(ready.read_text())


def run_worker(port: int, args: argparse.Namespace, *, no_cryptg: bool) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--port",
        str(port),
        "--runs",
        str(args.runs),
        "--messages",
        str(args.messages),
    ]
    if no_cryptg:
        cmd.append("--no-cryptg")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO_ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--text-size", type=int, default=0, help='characters per post (0: "Message <id>")'
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-cryptg", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return

    command = shlex.join([sys.executable, *sys.argv])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        server, port = start_server(args.messages, args.text_size, Path(tmp))
        try:
            for label, no_cryptg in (("with cryptg", False), ("without cryptg", True)):
                cpu0 = _cpu_seconds(server.pid)
                t0 = time.perf_counter()
                result = run_worker(port, args, no_cryptg=no_cryptg)
                wall = time.perf_counter() - t0
                cpu1 = _cpu_seconds(server.pid)
                share = (cpu1 - cpu0) / wall if cpu0 is not None and cpu1 is not None else None
                rows.append((label, result, share))
        finally:
            server.terminate()
            server.wait(timeout=10)

    print(
        f"plain Telethon iter_messages(wait_time=0), {args.messages:,} messages, "
        f"texts: {f'{args.text_size} chars' if args.text_size else 'Message <id>'}, "
        f"median of {args.runs}; "
        f"MTProto double in a separate process, {os.cpu_count()} CPUs"
    )
    print()
    print(
        "| configuration | AES backend | msgs/s (median) | runs (msgs/s) | client CPU s/run "
        "| server CPU share |"
    )
    print("|---|---|---|---|---|---|")
    for label, result, share in rows:
        rates = result["rates"]
        runs = ", ".join(f"{r:,.0f}" for r in rates)
        cpu = statistics.median(result["cpu"])
        server_share = f"{share:.2f} core" if share is not None else "n/a"
        print(
            f"| {label} | {result['backend']} | {statistics.median(rates):,.0f} | {runs} "
            f"| {cpu:.2f} | {server_share} |"
        )
    print()
    print(f"command: {command}")


if __name__ == "__main__":
    main()
