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

step "Debian packages the tests use"
# The agent tests build .deb files with dpkg-deb and a local apt repository with
# dpkg-scanpackages (dpkg-dev), and install into sandbox roots with dpkg and apt-get. The
# scanner's tests start real sshd, nginx and SMTP (aiosmtpd) servers in network namespaces
# (ip, from iproute2) or on loopback, never as services, and compare with nmap. The
# notification tests deliver to the same SMTP server. The console's end-to-end tests drive
# headless Chromium through chromedp (chromium; and chromium-driver, for WebDriver tools).
need=()
command -v dpkg-scanpackages >/dev/null 2>&1 || need+=(dpkg-dev)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /usr/sbin/nginx ] || need+=(nginx)
[ -x /usr/bin/nmap ] || need+=(nmap)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	echo "installing ${need[*]}" >&2
	# The packages' own services stay off: a policy-rc.d refuses their start during the
	# install (Debian's documented mechanism), and goes away afterwards.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy"
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
		echo "WARNING: could not install ${need[*]}" >&2
	[ -z "$policy" ] || $sudo rm -f "$policy"
fi
for tool in dpkg dpkg-deb dpkg-scanpackages apt-get /usr/sbin/sshd /usr/sbin/nginx /usr/bin/nmap ip; do
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

# The CSAF provider test runs the CSAF project's own checker and downloader against a real
# server: install them (the version go.mod names) into a git-ignored local bin directory.
step "CSAF checker and downloader"
csaf_bin="$PWD/.cache/bin"
if GOBIN="$csaf_bin" go install github.com/gocsaf/csaf/v3/cmd/csaf_checker@v3.7.0 github.com/gocsaf/csaf/v3/cmd/csaf_downloader@v3.7.0; then
	export PATCHDAY_CSAF_TOOLS="$csaf_bin"
elif [ "${CI:-}" = "true" ]; then
	echo "csaf_checker and csaf_downloader could not be installed; under CI=true that fails the run." >&2
	exit 1
else
	echo "WARNING: csaf_checker/csaf_downloader could not be installed: the CSAF provider test will be SKIPPED." >&2
fi

step "go test"
go test -count=1 -timeout 20m "$@" ./...

step "cross-compile the agent"
for target in linux/amd64 linux/arm64 windows/amd64 darwin/arm64; do
	CGO_ENABLED=0 GOOS=${target%/*} GOARCH=${target#*/} go build -o /dev/null ./cmd/patchday-agent
	echo "patchday-agent builds for $target" >&2
done
