#!/usr/bin/env bash
# The agent benchmarks of docs/BENCHMARKS.md, measured by internal/tools/agentload:
#   checkins  steady-state check-ins per second of an in-process server with 5,000 enrolled
#             simulated agents, against a plain net/http handler driven by the same client in
#             the same run; on SQLite and on a throwaway PostgreSQL (scripts/postgres.sh)
#   agent     memory and CPU time of the real patchday-agent against a real `patchday serve`,
#             installing a 100 MiB .deb into a sandboxed dpkg root (never into this machine's)
#
#   scripts/bench-agents.sh                 # both
#   COUNT=3 DURATION=10s scripts/bench-agents.sh checkins
#   AGENTS=20000 POSTGRES=0 PROFILE_DIR=/tmp/prof scripts/bench-agents.sh checkins
#   PAYLOAD_MIB=100 RUNS=20 IDLE=60s scripts/bench-agents.sh agent
#
# COUNT is the number of rounds per engine, each measuring both servers in alternating
# slices. POSTGRES=0 measures SQLite only; PATCHDAY_BENCH_POSTGRES=URL uses that PostgreSQL
# server instead of starting one. RUNS is the number of measured `run --once` cycles, IDLE how
# long the running agent is watched idle.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-all}
case $mode in
all | checkins | agent) ;;
*)
	echo "usage: $0 [all|checkins|agent]" >&2
	exit 2
	;;
esac

tmp=$(mktemp -d /tmp/patchday-bench-agents.XXXXXX)
trap 'scripts/postgres.sh stop "$tmp/pg" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(go version | cut -d' ' -f3-)"
# The programs as `make build` makes them (no cgo); the tool as a test binary would be.
CGO_ENABLED=0 go build -o "$tmp/" ./cmd/patchday ./cmd/patchday-agent
go build -o "$tmp/" ./internal/tools/agentload

if [[ $mode == all || $mode == checkins ]]; then
	args=(-rounds "${COUNT:-3}" -agents "${AGENTS:-5000}" -concurrency "${CONCURRENCY:-64}" -duration "${DURATION:-10s}")
	if [[ -n ${PROFILE_DIR:-} ]]; then
		args+=(-cpuprofile-dir "$PROFILE_DIR")
	fi
	if [[ ${POSTGRES:-1} == 0 ]]; then
		args+=(-postgres "")
	elif [[ -z ${PATCHDAY_BENCH_POSTGRES:-} ]]; then
		if url=$(scripts/postgres.sh start "$tmp/pg"); then
			args+=(-postgres "$url")
		else
			echo "bench-agents.sh: PostgreSQL could not start: only SQLite is measured." >&2
		fi
	fi
	echo
	"$tmp/agentload" checkins "${args[@]}"
fi

if [[ $mode == all || $mode == agent ]]; then
	echo
	"$tmp/agentload" agent -agent "$tmp/patchday-agent" -patchday "$tmp/patchday" \
		-payload-mib "${PAYLOAD_MIB:-100}" -runs "${RUNS:-20}" -idle "${IDLE:-60s}"
fi
