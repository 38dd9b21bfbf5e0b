#!/usr/bin/env bash
# The catalog benchmarks of docs/BENCHMARKS.md: advisory import (baseline: validation alone),
# payload download (baseline: nginx serving the same file to the same client) and the
# advisory list on 50,000 advisories (baseline: an authenticated GET of a small object), on
# SQLite and on a throwaway PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
	echo "installing nginx (the baseline of the payload download benchmark)" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >&2
fi
pgdir=$(mktemp -d /tmp/patchday-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$pgdir/pg" >/dev/null 2>&1 || true; rm -rf "$pgdir"' EXIT
if url=$(scripts/postgres.sh start "$pgdir/pg"); then
	export PATCHDAY_TEST_POSTGRES="$url"
else
	echo "PostgreSQL could not start: only SQLite is measured." >&2
fi
go test -run '^$' -bench 'AdvisoryImport|PayloadDownload|AdvisoryList50k' \
	-benchtime "${BENCHTIME:-2s}" -count "${COUNT:-1}" ./internal/server
