"""The CPU cost of stemming one message (core.words.terms), the ingest's new work.

CPU time of this thread (not wall time: the figure holds on a shared machine), per
message, over the synthetic Russian/English corpus of bench_search.py (Zipf-distributed
words in several inflected forms, stop words, numbers) and over the ingest bench's
English filler texts; with the bounded stem cache as shipped, and without it (every
word through Snowball: what the cache saves).

    .venv/bin/python bench/bench_terms.py [--messages 100000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))


def _cpu_us_per_message(fn, texts: list[str]) -> float:  # type: ignore[no-untyped-def]
    t0 = time.thread_time()
    for text in texts:
        fn(text)
    return (time.thread_time() - t0) / len(texts) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()

    from bench_search import _texts

    import core.words as words
    from tests.doubles.mtproto.__main__ import filler_text

    corpora = {
        "russian/english Zipf corpus (bench_search)": [
            t for _, t in _texts(args.messages, 30_000)
        ],
        "ingest bench filler, 300 chars": [
            filler_text(300)(i) for i in range(1, args.messages + 1)
        ],
    }
    for name, texts in corpora.items():
        chars = sum(map(len, texts)) / len(texts)
        n_words = sum(len(words.words(t)) for t in texts[:10_000]) / min(10_000, len(texts))
        words._CACHE.clear()
        cold = _cpu_us_per_message(words.terms, texts)
        size = len(words._CACHE)
        warm = _cpu_us_per_message(words.terms, texts)

        def uncached(text: str) -> str:
            words._CACHE.clear()
            return words.terms(text)

        none = _cpu_us_per_message(uncached, texts[: args.messages // 10])
        print(
            f"{name}: {len(texts):,} messages, {chars:.0f} chars and {n_words:.0f} words"
            f" each; terms() CPU per message: {cold:.1f} us with the cache filling"
            f" ({size:,} stems cached), {warm:.1f} us warm, {none:.1f} us without a cache",
            flush=True,
        )


if __name__ == "__main__":
    main()
