#!/usr/bin/env bash
# Runs every test of patchday: formatting and vet checks, the Go tests on SQLite and on a
# throwaway PostgreSQL started here (installed from Debian's packages when missing), and the
# agent's cross-compilation for Windows and macOS.
#
# Under CI=true a PostgreSQL that cannot start fails the run; elsewhere the PostgreSQL tests
# are skipped with a message. Extra arguments go to `go test` (for example -run TestX).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

step "go vet"
go vet ./...

step "Debian tools for the agent's install tests"
# The agent tests build .deb files with dpkg-deb and a local apt repository with
# dpkg-scanpackages (dpkg-dev), and install into sandbox roots with dpkg and apt-get.
if ! command -v dpkg-scanpackages >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		apt-get install -y -q dpkg-dev >/dev/null || echo "WARNING: could not install dpkg-dev" >&2
	elif command -v sudo >/dev/null 2>&1; then
		sudo apt-get install -y -q dpkg-dev >/dev/null || echo "WARNING: could not install dpkg-dev" >&2
	fi
fi
for tool in dpkg dpkg-deb dpkg-scanpackages apt-get; do
	command -v "$tool" >/dev/null 2>&1 || echo "WARNING: $tool is missing: the tests that need it are skipped (and fail under CI=true)" >&2
done

step "PostgreSQL"
pgdir=$(mktemp -d /tmp/patchday-pg.XXXXXX)
cleanup() { scripts/postgres.sh stop "$pgdir/pg" >/dev/null 2>&1 || true; rm -rf "$pgdir"; }
trap cleanup EXIT
if url=$(scripts/postgres.sh start "$pgdir/pg"); then
	export PATCHDAY_TEST_POSTGRES="$url"
	echo "PostgreSQL for the tests: $url" >&2
elif [ "${CI:-}" = "true" ]; then
	echo "PostgreSQL could not start; under CI=true that fails the run." >&2
	exit 1
else
	echo "WARNING: PostgreSQL could not start: its tests will be SKIPPED." >&2
fi

step "go test"
go test -count=1 -timeout 20m "$@" ./...

step "cross-compile the agent"
for target in linux/amd64 linux/arm64 windows/amd64 darwin/arm64; do
	CGO_ENABLED=0 GOOS=${target%/*} GOARCH=${target#*/} go build -o /dev/null ./cmd/patchday-agent
	echo "patchday-agent builds for $target" >&2
done
