"""Run every benchmark (P1 to P8) and regenerate the table at the top of bench/RESULTS.md.

Each bench runs as its own process, one after another (the machine's cores are shared
by the app, the doubles, the database and the bench). Raw outputs go to
bench/out/<key>.txt (and .json); `--reuse` keeps an existing output instead of running
that bench again. Every row of the table names the run that produced it (its output
file and when it finished) and the database it ran on.

PostgreSQL: P1 and P8 start a throwaway cluster of their own (the server binaries of
the machine's PostgreSQL; `--postgres URL` uses that server instead for P1, whose
public schema is dropped). P7 reads an archive of 10 million messages that
bench/archive_gen.py makes (25 to 50 minutes an engine): `--archive-sqlite PATH`
and `--archive-postgres URL` (a missing file, or an empty database, is generated first
when `--generate` is given).
Only the block between the run_all markers of RESULTS.md is rewritten; the sections
below it (the history of each measure) are kept.

    .venv/bin/python bench/run_all.py [--only p1-sqlite,p2] [--reuse] [--report-only]
        [--postgres URL] [--archive-sqlite PATH] [--archive-postgres URL] [--generate]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
RESULTS = BENCH / "RESULTS.md"
PY = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else "python"
BEGIN, END = "<!-- run_all: begin -->", "<!-- run_all: end -->"
ARCHIVE_MESSAGES = 10_000_000
ARCHIVE_CHANNELS = 1_000

Row = tuple[str, str, str, str, str]  # measure, database, figure, target, met?


@dataclass
class Bench:
    key: str
    title: str
    database: str
    args: list[str]
    json_out: bool = False
    needs: str = ""  # "postgres", "archive-sqlite", "archive-postgres"
    extra: list[str] = field(default_factory=list)  # filled in at run time


BENCHES = [
    Bench(
        "p1-sqlite",
        "P1 ingest against raw getHistory paging",
        "SQLite",
        ["bench/bench_ingest.py", "--messages", "200000", "--runs", "5"],
    ),
    Bench(
        "p1-postgres",
        "P1 ingest against raw getHistory paging",
        "PostgreSQL",
        ["bench/bench_ingest.py", "--messages", "200000", "--runs", "5"],
        needs="postgres",
    ),
    Bench(
        "p2",
        "P2 responsiveness under everything",
        "SQLite",
        ["bench/bench_latency.py", "--messages", "200000", "--samples", "100"],
        json_out=True,
    ),
    Bench(
        "p3",
        "P3 memory, three accounts",
        "SQLite",
        ["bench/bench_memory.py", "--sizes", "100000,1000000"],
        json_out=True,
    ),
    Bench(
        "p4",
        "P4 scheduling",
        "SQLite",
        ["bench/bench_schedule.py", "--channels", "1000", "--interval", "1", "--window", "150"],
        json_out=True,
    ),
    Bench(
        "p5",
        "P5 export",
        "SQLite",
        ["bench/bench_export.py", "--messages", "1000000", "--queries", "300"],
    ),
    Bench("p6", "P6 media download", "SQLite", ["bench/bench_media.py"], json_out=True),
    Bench(
        "p7-sqlite",
        "P7 an archive of 10M messages",
        "SQLite",
        ["bench/bench_archive.py"],
        json_out=True,
        needs="archive-sqlite",
    ),
    Bench(
        "p7-postgres",
        "P7 an archive of 10M messages",
        "PostgreSQL",
        ["bench/bench_archive.py", "--queries", "100", "--search-timeout", "30"],
        json_out=True,
        needs="archive-postgres",
    ),
    Bench("p8", "P8 scale-out", "PostgreSQL", ["bench/bench_scale_out.py"]),
]


PLACEHOLDERS = {
    "postgres": ["--database", "postgres://<a throwaway cluster or --postgres>"],
    "archive-sqlite": ["--url", "sqlite://<--archive-sqlite>"],
    "archive-postgres": ["--url", "<--archive-postgres>"],
}


def command_of(b: Bench) -> str:
    extra = b.extra or PLACEHOLDERS.get(b.needs, [])
    args = [PY, *b.args, *extra]
    if b.json_out:
        args += ["--json", f"bench/out/{b.key}.json"]
    return shlex.join(args)


def _redact(cmd: str) -> str:
    return re.sub(r"(postgres(?:ql)?://[^:@/\s]+):[^@\s]+@", r"\1:***@", cmd)


def run(b: Bench) -> None:
    OUT.mkdir(exist_ok=True)
    cmd = command_of(b)
    shown = _redact(cmd)
    print(f"== {b.key}: {shown}", flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(shlex.split(cmd), cwd=ROOT, capture_output=True, text=True)
    text = f"$ {shown}\n{proc.stdout}"
    if proc.returncode:
        text += f"\n[exit {proc.returncode}]\n{proc.stderr[-3000:]}"
    done = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    text += f"\n[wall {time.monotonic() - t0:.0f} s, finished {done} UTC]\n"
    (OUT / f"{b.key}.txt").write_text(text)
    print(text, flush=True)


def _read(key: str) -> str:
    path = OUT / f"{key}.txt"
    return path.read_text() if path.exists() else ""


def _json(key: str) -> dict[str, Any] | None:
    path = OUT / f"{key}.json"
    try:
        return json.loads(path.read_text()) if path.exists() else None  # type: ignore[no-any-return]
    except ValueError:
        return None


def _num(pattern: str, text: str) -> float | None:
    m = re.search(pattern, text)
    return float(m.group(1).replace(",", "")) if m else None


def _yes(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f} ms"


# -- the rows of each bench ----------------------------------------------------------


def p1_rows(key: str, db: str) -> list[Row]:
    text = _read(key)
    ratio = _num(r"ratio ingest / raw: ([\d.]+)", text)
    if ratio is None:
        return []
    raw = _num(r"raw getHistory paging: ([\d,]+)", text)
    ingest = _num(r"ingest into \w+:\s+([\d,]+)", text)
    m = re.search(r"ratio ingest / raw: [\d.]+ \(median of the rounds; ([\d.]+-[\d.]+)\)", text)
    spread = f", rounds {m.group(1)}" if m else ""
    cpu = re.search(r"event-loop thread CPU per message: (.*)", text)
    return [
        (
            "P1 ingest 200k msgs / raw getHistory paging (one request ahead, Telethon's decoding)",
            db,
            f"{ingest:,.0f} vs {raw:,.0f} msgs/s, ratio **{ratio:.2f}** (median{spread})"
            + (f"; loop CPU a message: {cpu.group(1)}" if cpu else "").replace(
                "; database thread 0.0 us", ""
            ),
            ">= 0.9",
            _yes(ratio >= 0.9),
        )
    ]


STATES = {
    "idle": "idle",
    "everything": "while a 200k backfill, media downloads and a views refresh run",
}


def p2_rows(key: str, db: str) -> list[Row]:
    p2 = _json(key)
    if not p2:
        return []
    out: list[Row] = []
    for state, target in (("idle", None), ("everything", 100.0)):
        for cmd in ("/status", "/channels"):
            v = p2.get(f"{state} {cmd}")
            if not v:
                continue
            p99 = v.get("p99_ms")
            fig = (
                f"p50 {v['p50_ms']:.0f} ms, p99 {p99:.0f} ms (n={v['n']})"
                if p99 is not None
                else "no samples"
            )
            during = p2.get("during_sampling")
            if state == "everything" and during:
                fig += (
                    f"; meanwhile {during.get('messages_committed', 0):,} messages stored, "
                    f"{during.get('media_bytes_written', 0) / 2**20:,.0f} MB of media written, "
                    f"{during.get('refresh_history_requests', 0)} refresh reads and "
                    f"{during.get('get_messages_views', 0)} views requests"
                )
            out.append(
                (
                    f"P2 {cmd} latency, {STATES[state]}",
                    db,
                    fig,
                    "—" if target is None else f"p99 <= {target:.0f} ms",
                    _yes(None if target is None or p99 is None else p99 <= target),
                )
            )
    return out


def p3_rows(key: str, db: str) -> list[Row]:
    p3 = _json(key)
    if not p3:
        return []
    out: list[Row] = []
    results = p3.get("results", [])
    for r in results:
        done = "" if r.get("done", True) else f" (stopped at {r.get('committed', 0):,})"
        accounts = r.get("accounts", p3.get("accounts", 1))
        media = r.get("media_mb_written")
        what = f"one process, {accounts} account(s)" + (
            f", {media:,.0f} MB of media downloaded meanwhile" if media else ""
        )
        out.append(
            (
                f"P3 peak RSS, {what}, backfill {r['messages']:,}{done}",
                db,
                f"{r['vmhwm_mb']:.0f} MB (after start {r['start_rss_mb']:.0f} MB; "
                f"{r['seconds']:.0f} s, {r['rate']:,.0f} msgs/s)",
                "<= 200 MB",
                _yes(r["vmhwm_mb"] <= 200),
            )
        )
    if len(results) >= 2:
        a, b = results[0]["vmhwm_mb"], results[-1]["vmhwm_mb"]
        out.append(
            (
                f"P3 flat from {results[0]['messages']:,} to {results[-1]['messages']:,}",
                db,
                f"{b - a:+.0f} MB",
                "flat (<= +15 % / 20 MB)",
                _yes(b - a <= max(20.0, 0.15 * a)),
            )
        )
    return out


def p4_rows(key: str, db: str) -> list[Row]:
    p4 = _json(key)
    if not p4:
        return []
    hpr = p4["history_per_run"]
    return [
        (
            f"P4 history requests per channel run ({p4['runs']:,} runs)",
            db,
            f"{hpr:.2f}" if hpr is not None else "no runs",
            "1",
            _yes(hpr is not None and hpr <= 1.0),
        ),
        (
            "P4 app CPU, 1,000 channels every 5 min (normalised)",
            db,
            f"{p4['cpu_share_at_5min'] * 100:.1f} % of a core "
            f"({p4['cpu_seconds_per_run'] * 1000:.1f} ms CPU per run)",
            "<= 5 %",
            _yes(p4["cpu_share_at_5min"] <= 0.05),
        ),
    ]


def p5_rows(key: str, db: str) -> list[Row]:
    text = _read(key)
    out: list[Row] = []
    for fmt in ("csv", "xlsx"):
        m = re.search(
            rf"export {fmt}: ([\d,]+) rows in ([\d.]+) s \(([\d,]+) rows/s\).*?"
            r"peak RSS (\d+) MB",
            text,
        )
        if m:
            out.append(
                (
                    f"P5 export 1M messages to {fmt.upper()}",
                    db,
                    f"{m.group(2)} s ({m.group(3)} rows/s), peak RSS {m.group(4)} MB",
                    "reported; RSS flat",
                    "n/a",
                )
            )
    return out


def p6_rows(key: str, db: str) -> list[Row]:
    p6 = _json(key)
    if not p6:
        return []
    import statistics

    out: list[Row] = []
    for rtt, r in p6.get("throughput", {}).items():
        rates = {mode: statistics.median(v) for mode, v in r["rates"].items()}
        one = statistics.median(r["ratio app1/plain"])
        parts_mode = next(m for m in rates if m.startswith("app parts=") and m != "app parts=1")
        par = statistics.median(r["ratio parts/plain"])
        label = f"RTT {float(rtt) * 1000:.0f} ms"
        out.append(
            (
                f"P6 media, one file at a time, app / plain download_media ({label})",
                "—",
                f"{rates['app parts=1']:.1f} vs {rates['plain']:.1f} MB/s, ratio {one:.2f}",
                ">= 0.9",
                _yes(one >= 0.9),
            )
        )
        out.append(
            (
                f"P6 media, {parts_mode} / plain sequential ({label})",
                "—",
                f"{rates[parts_mode]:.1f} vs {rates['plain']:.1f} MB/s, x{par:.2f}",
                ">= 2x",
                _yes(par >= 2),
            )
        )
    mem = p6.get("memory")
    if mem:
        growth = mem["big"]["vmhwm_mb"] - mem["small"]["vmhwm_mb"]
        out.append(
            (
                "P6 downloader peak RSS, 64 MB file then 2 GB file",
                "—",
                f"{mem['small']['vmhwm_mb']:.0f} -> {mem['big']['vmhwm_mb']:.0f} MB "
                f"({growth:+.1f} MB)",
                "flat (within 20 MB)",
                _yes(growth <= 20),
            )
        )
    app = p6.get("app", {})
    if "downloading" in app:
        growth = app["polled_peak_rss_mb"] - app["rss_before_mb"]
        out.append(
            (
                "P6 app peak RSS while downloading 2.1 GB",
                db,
                f"{app['rss_before_mb']:.0f} -> {app['polled_peak_rss_mb']:.0f} MB "
                f"({growth:+.0f} MB)",
                "flat (within 20 MB)",
                _yes(growth <= 20),
            )
        )
    return out


def p7_rows(key: str, db: str) -> list[Row]:
    p7 = _json(key)
    if not p7:
        return []
    size = f"{p7.get('messages', ARCHIVE_MESSAGES):,} msgs, {ARCHIVE_CHANNELS:,} channels"
    out: list[Row] = []
    s = p7.get("search")
    if s:
        out.append(
            (
                f"P7 /search first page ({size}; {s.get('queries', '?')} queries)",
                db,
                f"p50 {_ms(s.get('p50_ms'))}, p99 {_ms(s.get('p99_ms'))}, "
                f"max {_ms(s.get('max_ms'))}",
                "p99 <= 150 ms",
                _yes(None if s.get("p99_ms") is None else s["p99_ms"] <= 150),
            )
        )
    reply = (p7.get("stats") or {}).get("reply")
    if reply:
        out.append(
            (
                f"P7 /stats whole reply with charts ({size}; {reply['n']} replies)",
                db,
                f"p50 {_ms(reply.get('p50_ms'))}, p99 {_ms(reply.get('p99_ms'))}",
                "p99 <= 1 s",
                _yes(None if reply.get("p99_ms") is None else reply["p99_ms"] <= 1000),
            )
        )
    b = p7.get("size")
    if b:
        out.append(
            (
                f"P7 database bytes a message ({size})",
                db,
                f"{b['db_bytes_per_message']:,.0f} B a message against "
                f"{b['raw_bytes_per_message']:,.0f} B of raw text (x{b['ratio']:.2f}; "
                f"{b['db_bytes'] / 2**30:.1f} GiB in all)",
                "reported",
                "n/a",
            )
        )
    e = p7.get("export")
    if e:
        at100, end = e.get("rss_at_100k_mb"), e.get("rss_at_end_mb")
        flat = None if at100 is None or end is None else end - at100 <= 20
        out.append(
            (
                f"P7 CSV export of {e.get('rows', 0):,} messages from the archive",
                db,
                f"{e['seconds']:.0f} s ({e.get('rows_per_s', 0):,.0f} rows/s, "
                f"{e.get('files', '?')} files); RSS {at100} MB at 100k rows, {end} MB at "
                f"the end, peak {e.get('peak_rss_mb')} MB",
                "reported; RSS flat",
                _yes(flat),
            )
        )
    up = p7.get("startup")
    if up and up.get("first_status_reply_s") is not None:
        out.append(
            (
                f"P7 start-up until /status answers ({size})",
                db,
                f"{up['first_status_reply_s']:.1f} s (first getUpdates poll "
                f"{up.get('first_poll_s', 0):.1f} s; RSS then {up.get('rss_mb', 0):.0f} MB)",
                "reported",
                "n/a",
            )
        )
    ic = p7.get("check")
    if ic and ic.get("throttled_seconds") is not None:
        out.append(
            (
                f"P7 background integrity check ({size})",
                db,
                f"{ic['throttled_seconds']:.0f} s as the app runs it (PRAGMA quick_check, "
                f"throttled): {ic.get('result')}",
                "reported",
                "n/a",
            )
        )
    elif db == "PostgreSQL":
        out.append(
            (
                "P7 background integrity check",
                db,
                "none: the server keeps its own (the app checks SQLite files only)",
                "reported",
                "n/a",
            )
        )
    return out


def p8_rows(key: str, db: str) -> list[Row]:
    text = _read(key)
    out: list[Row] = []
    for m in re.finditer(
        r"^\| (\d+) \| (\d+) \| ([\d,]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|",
        text,
        re.MULTILINE,
    ):
        a, w, rate, _x1, _in_min, lin = m.groups()
        out.append(
            (
                f"P8 {a} account(s) on {w} worker process(es)",
                db,
                f"{rate} msgs/s, {float(lin):.2f} x linear in accounts",
                ">= 0.8 x linear",
                _yes(float(lin) >= 0.8),
            )
        )
    lease = re.search(r"lease of one channel run \(take \+ release\): ([\d.]+) ms", text)
    if lease:
        out.append(
            ("P8 lease take + release", db, f"{lease.group(1)} ms median", "reported", "n/a")
        )
    return out


ROWS: dict[str, Callable[[str, str], list[Row]]] = {
    "p1-sqlite": p1_rows,
    "p1-postgres": p1_rows,
    "p2": p2_rows,
    "p3": p3_rows,
    "p4": p4_rows,
    "p5": p5_rows,
    "p6": p6_rows,
    "p7-sqlite": p7_rows,
    "p7-postgres": p7_rows,
    "p8": p8_rows,
}


def _run_of(key: str) -> str:
    m = re.search(r"\[wall (\d+) s, finished ([\d-]+ [\d:]+) UTC\]", _read(key))
    if not m:
        return f"`{key}`"
    return f"`{key}` {m.group(2)}"


def table() -> list[str]:
    lines = [
        "| measure | database | figure | target | met? | run |",
        "|---|---|---|---|---|---|",
    ]
    for b in BENCHES:
        rows = ROWS[b.key](b.key, b.database)
        if not rows:
            lines.append(f"| {b.title} | {b.database} | not run | | n/a | `{b.key}` |")
        for measure, db, fig, target, ok in rows:
            lines.append(f"| {measure} | {db} | {fig} | {target} | {ok} | {_run_of(b.key)} |")
    return lines


def write_results() -> None:
    block = [
        BEGIN,
        "",
        f"Generated by `{PY} bench/run_all.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{os.cpu_count()} CPUs. The run column names the output (bench/out/<run>.txt) "
        "and when it finished; the whole output of each run is under 'Raw outputs'.",
        "",
        *table(),
        "",
        "Commands (each row's run):",
        "",
    ]
    for b in BENCHES:
        first = _read(b.key).splitlines()[:1]
        cmd = first[0][2:] if first and first[0].startswith("$ ") else _redact(command_of(b))
        block.append(f"- `{b.key}`: `{cmd}`")
    block += ["", "<details><summary>Raw outputs</summary>", ""]
    for b in BENCHES:
        text = _read(b.key).strip()
        if text:
            block += [f"#### {b.key}", "", "```", text, "```", ""]
    block += ["</details>", "", END]
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        new = head + "\n".join(block) + tail
    else:
        title, _, body = old.partition("\n")
        new = f"{title}\n\n" + "\n".join(block) + "\n" + body
    RESULTS.write_text(new)


# -- what some benches need ----------------------------------------------------------


def _generate(url: str) -> None:
    cmd = [
        PY, "bench/archive_gen.py", "--url", url, "--messages", str(ARCHIVE_MESSAGES),
        "--channels", str(ARCHIVE_CHANNELS),
    ]  # fmt: skip
    print(f"== generating the archive: {_redact(shlex.join(cmd))}", flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def _has_archive(url: str) -> bool:
    """Whether the PostgreSQL database at `url` holds messages already."""
    import asyncio

    import asyncpg  # type: ignore[import-untyped]

    async def count() -> bool:
        conn = await asyncpg.connect(url)
        try:
            if await conn.fetchval("SELECT to_regclass('public.message')") is None:
                return False
            return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM message)"))
        finally:
            await conn.close()

    return asyncio.run(count())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reuse", action="store_true", help="keep existing bench/out outputs")
    parser.add_argument("--only", help="comma-separated run keys (p1-sqlite, p2, ...) to run")
    parser.add_argument("--report-only", action="store_true", help="only rewrite RESULTS.md")
    parser.add_argument("--postgres", help="a server for P1 (its public schema is dropped)")
    parser.add_argument("--archive-sqlite", help="P7's SQLite archive (a file path)")
    parser.add_argument("--archive-postgres", help="P7's PostgreSQL archive (a URL)")
    parser.add_argument(
        "--generate", action="store_true", help="make a missing archive first (archive_gen)"
    )
    args = parser.parse_args()
    keys = {b.key for b in BENCHES}
    only = set(args.only.split(",")) if args.only else keys
    if only - keys:
        parser.error(f"unknown run keys: {', '.join(sorted(only - keys))}")
    sys.path.insert(0, str(BENCH))
    cluster: Any = None
    pg_url: str | None = args.postgres
    try:
        for b in BENCHES:
            if args.report_only or b.key not in only:
                continue
            if args.reuse and (OUT / f"{b.key}.txt").exists():
                continue
            if b.needs == "postgres":
                if pg_url is None:
                    from bench_counters import _Postgres

                    cluster = _Postgres()
                    pg_url = cluster.start()
                b.extra = ["--database", pg_url]
            elif b.needs == "archive-sqlite":
                if not args.archive_sqlite:
                    print(f"== {b.key}: skipped (no --archive-sqlite)", flush=True)
                    continue
                path = Path(args.archive_sqlite)
                if not path.exists():
                    if not args.generate:
                        parser.error(f"{path} does not exist (add --generate to make it)")
                    _generate(f"sqlite://{path}")
                b.extra = ["--url", f"sqlite://{path}"]
            elif b.needs == "archive-postgres":
                if not args.archive_postgres:
                    print(f"== {b.key}: skipped (no --archive-postgres)", flush=True)
                    continue
                if args.generate and not _has_archive(args.archive_postgres):
                    _generate(args.archive_postgres)
                b.extra = ["--url", args.archive_postgres]
            run(b)
    finally:
        if cluster is not None:
            cluster.stop()
    write_results()
    print(RESULTS.read_text().split(END, 1)[0][-6000:])


if __name__ == "__main__":
    main()
