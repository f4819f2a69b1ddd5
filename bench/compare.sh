#!/usr/bin/env bash
# Two checkouts side by side, bench by bench (base, then new, for each), so both meet
# the same machine load: bench/compare.sh BASE_TREE NEW_TREE [OUT_DIR]
# Each tree needs its own .venv (make .venv/.installed-test there). Smaller sizes than
# run_all.py: a comparison, not the targets. Prints the lines to compare.
set -u
base=${1:?base tree}; new=${2:?new tree}; out=${3:-bench/out/compare}
mkdir -p "$out"
run() { # name tree args...
  local name=$1 tree=$2; shift 2
  (cd "$tree" && .venv/bin/python "$@") > "$out/$name.txt" 2>&1 || echo "$name failed"
}
for b in p1 p2 p3 p4 p5; do
  for side in "base:$base" "new:$new"; do
    tag=${side%%:*}; tree=${side#*:}
    case $b in
      p1) run p1-$tag "$tree" bench/bench_ingest.py --messages 100000 --runs 3 ;;
      p2) run p2-$tag "$tree" bench/bench_latency.py --messages 100000 --samples 50 ;;
      p3) run p3-$tag "$tree" bench/bench_memory.py --sizes 100000,300000 ;;
      p4) run p4-$tag "$tree" bench/bench_schedule.py --channels 1000 --interval 1 --window 60 ;;
      p5) run p5-$tag "$tree" bench/bench_export.py --messages 200000 --queries 50 ;;
    esac
  done
  for tag in base new; do
    echo "== $b $tag"
    grep -E "^ratio:|CPU per message|^\| (idle|backfill)|^\| [0-9,]+ \||getHistory:|normalised|^export|^search" \
      "$out/$b-$tag.txt"
  done
done
