#!/usr/bin/env bash
# Applicability at fleet scale: the in-memory engine on 100,000 computers (internal/
# applicability) and the whole path through SQLite (internal/compliance): full evaluation at
# start, one new update, "which machines are vulnerable". Figures in docs/BENCHMARKS.md.
#   scripts/bench-fleet.sh            # 100,000 computers, 10,000 updates
#   COMPUTERS=10000 scripts/bench-fleet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
computers=${COMPUTERS:-100000}
updates=${UPDATES:-10000}
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version)"
echo "== engine (in memory), 100,000 computers"
go test -count=1 -run '^$' -bench 'BenchmarkFleet100k|BenchmarkCompareDebian' -benchtime 1x ./internal/applicability/
echo "== baseline: dpkg --compare-versions, one process per comparison (1,000 comparisons)"
start=$(date +%s%N)
for i in $(seq 1000); do dpkg --compare-versions "3.0.11-1~deb12u$((i % 9))" lt "3.0.11-1~deb12u2" || true; done
end=$(date +%s%N)
echo "dpkg --compare-versions: $(( (end - start) / 1000 )) ns per comparison"
echo "== end to end on SQLite: $computers computers, $updates updates"
PATCHDAY_BENCH_COMPUTERS=$computers PATCHDAY_BENCH_UPDATES=$updates \
	go test -count=1 -run '^$' -bench BenchmarkFleet -benchtime 1x -timeout 60m ./internal/compliance/
