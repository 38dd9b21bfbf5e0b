#!/usr/bin/env bash
# The catalog benchmarks of docs/BENCHMARKS.md (internal/server/bench_catalog_test.go), each
# against a baseline measured in the same run:
#   BenchmarkAdvisoryImport   CSAF import over loopback; baseline: csaf.Validate alone
#   BenchmarkPayloadDownload  64 MiB download; baseline: nginx serving the same file
#   BenchmarkAdvisoryList50k  list filters on 50,000 advisories; baseline: GET of one org
# on SQLite and on a throwaway PostgreSQL (scripts/postgres.sh). Installs Debian's nginx when
# it is missing. Runs with -v: each benchmark also logs its ratios of the same run.
#
#   COUNT=3 BENCHTIME=2s scripts/bench-catalog.sh
#   BENCH=AdvisoryList50k PATCHDAY_BENCH_PROPOSED_INDEXES=1 PATCHDAY_BENCH_EXPLAIN=1 scripts/bench-catalog.sh
#
# PATCHDAY_BENCH_NGINX_WORKERS sets nginx's worker_processes (default auto).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
	if ((EUID == 0)); then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "bench-catalog.sh: nginx is missing and we are neither root nor have sudo: install it with apt-get install nginx" >&2
		return 1
	fi
}

if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
	echo "bench-catalog.sh: installing nginx (the baseline of the payload download benchmark)" >&2
	as_root apt-get update -qq >&2 &&
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >&2 ||
		echo "bench-catalog.sh: nginx could not be installed: the download benchmark will skip" >&2
fi

pgdir=$(mktemp -d /tmp/patchday-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$pgdir/pg" >/dev/null 2>&1 || true; rm -rf "$pgdir"' EXIT
if url=$(scripts/postgres.sh start "$pgdir/pg"); then
	export PATCHDAY_TEST_POSTGRES="$url"
else
	echo "bench-catalog.sh: PostgreSQL could not start: only SQLite is measured." >&2
fi

go test -v -run '^$' -bench "${BENCH:-AdvisoryImport|PayloadDownload|AdvisoryList50k}" \
	-benchtime "${BENCHTIME:-2s}" -count "${COUNT:-3}" -timeout 60m ./internal/server
