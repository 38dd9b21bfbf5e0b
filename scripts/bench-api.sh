#!/usr/bin/env bash
# The API benchmark of docs/BENCHMARKS.md: an authenticated GET of a small object over
# loopback, on SQLite and on a throwaway PostgreSQL, against a plain net/http handler driven
# by the same client in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
pgdir=$(mktemp -d /tmp/patchday-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$pgdir/pg" >/dev/null 2>&1 || true; rm -rf "$pgdir"' EXIT
if url=$(scripts/postgres.sh start "$pgdir/pg"); then
	export PATCHDAY_TEST_POSTGRES="$url"
else
	echo "PostgreSQL could not start: only SQLite is measured." >&2
fi
go test -run '^$' -bench AuthenticatedGET -benchtime "${BENCHTIME:-5s}" -count "${COUNT:-3}" ./internal/server
