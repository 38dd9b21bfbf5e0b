#!/usr/bin/env bash
# Throwaway PostgreSQL for the test run, built from Debian's `postgresql`
# server binaries (installed with apt-get if missing).
#
#   scripts/postgres.sh start DIR   # prints the connection URL on stdout
#   scripts/postgres.sh stop DIR    # stops the server and removes DIR
#
# `start` creates DIR if needed, runs initdb into DIR/data, and starts a
# server listening only on 127.0.0.1 at a free port (20000-39999), with its
# unix socket in DIR and its log in DIR/postgres.log. It prints exactly one
# line on stdout:
#   postgres://postgres@127.0.0.1:PORT/patchday_test?sslmode=disable
# Progress and errors go to stderr. Any system-wide cluster (port 5432) is
# left alone and never used. On failure the server is stopped again, but
# DIR is kept for inspection; `stop` removes it.
#
# `stop` is safe to call after a failed or partial `start`, or when DIR does
# not exist. It only deletes DIR if `start` marked it (or if it is empty).
set -euo pipefail

DB_NAME=patchday_test
MARKER=.patchday-postgres # written into DIR by `start`

log() { printf 'postgres.sh: %s\n' "$*" >&2; }

usage() {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}

# die MSG: print MSG and the tail of the server log (if any), then exit 1.
die() {
	log "error: $*"
	if [[ -n ${DIR:-} && -s $DIR/postgres.log ]]; then
		log "last lines of $DIR/postgres.log:"
		tail -n 30 "$DIR/postgres.log" >&2 || true
	fi
	exit 1
}

# Highest installed server version's bin directory (empty if none).
find_bindir() {
	local d best="" bestv=0 v
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x $d/initdb ]] || continue
		v=${d#/usr/lib/postgresql/}
		v=${v%/bin}
		[[ $v =~ ^[0-9]+$ ]] || continue
		if ((v > bestv)); then
			bestv=$v
			best=$d
		fi
	done
	printf '%s' "$best"
}

# Run a command as root: directly, via sudo, or fail.
as_root() {
	if ((EUID == 0)); then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "PostgreSQL is not installed and we are not root and sudo is unavailable; install it with: apt-get install postgresql"
	fi
}

install_postgres() {
	log "PostgreSQL server binaries not found; installing Debian's postgresql package"
	as_root apt-get update >&2 || die "apt-get update failed"
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends postgresql >&2 ||
		die "apt-get install postgresql failed"
}

# Run a command as the cluster owner: `postgres` when we are root,
# otherwise the current user.
as_owner() {
	if ((EUID == 0)); then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# As root, make every ancestor of DIR traversable by the postgres user
# (e.g. a 0700 directory from mktemp -d).
fix_parent_access() {
	((EUID == 0)) || return 0
	local path="" part
	local -a parts
	IFS=/ read -r -a parts <<<"${DIR%/*}"
	for part in "${parts[@]}"; do
		[[ -n $part ]] || continue
		path+=/$part
		if ! runuser -u postgres -- test -x "$path"; then
			log "chmod o+x $path so the postgres user can reach $DIR"
			chmod o+x "$path"
		fi
	done
}

# A TCP port on 127.0.0.1 that nobody is listening on right now.
pick_port() {
	local port i
	for ((i = 0; i < 200; i++)); do
		port=$((20000 + RANDOM % 20000))
		# A successful connect means the port is taken.
		if ! (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# Globals (not locals) because the EXIT trap in cmd_start reads them.
bindir=""
started=""

cmd_start() {
	local port attempt sockdir

	bindir=$(find_bindir)
	if [[ -z $bindir ]]; then
		install_postgres
		bindir=$(find_bindir)
		[[ -n $bindir ]] || die "no /usr/lib/postgresql/*/bin/initdb after installing postgresql"
	fi
	log "using $bindir"

	mkdir -p "$DIR" || die "cannot create $DIR"
	DIR=$(cd "$DIR" && pwd -P)
	cd / # the postgres user may not be able to read our working directory
	[[ ! -e $DIR/data ]] || die "$DIR/data already exists; run '$0 stop $DIR' first"
	touch "$DIR/$MARKER"
	if ((EUID == 0)); then
		id postgres >/dev/null 2>&1 || die "OS user 'postgres' does not exist"
		chown postgres: "$DIR" "$DIR/$MARKER"
		fix_parent_access
	fi

	# If anything below fails after the server came up, shut it down again.
	trap '[[ -n $started ]] && as_owner "$bindir/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true' EXIT

	log "initdb into $DIR/data"
	as_owner "$bindir/initdb" -D "$DIR/data" -A trust -U postgres --no-sync \
		-E UTF8 --locale=C >"$DIR/initdb.log" 2>&1 ||
		{ cat "$DIR/initdb.log" >&2; die "initdb failed"; }

	sockdir=${DIR//\'/\'\'} # escape single quotes for postgresql.conf
	# Settings go into the config file (not pg_ctl -o) so that paths with
	# spaces work; the port is passed per attempt below.
	cat >>"$DIR/data/postgresql.conf" <<EOF

# patchday throwaway test server
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockdir'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

	# Retry with another port if we lose a race for the one we picked.
	for attempt in 1 2 3; do
		port=$(pick_port) || die "no free TCP port found in 20000-39999"
		log "starting server on 127.0.0.1:$port (attempt $attempt)"
		if as_owner "$bindir/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" \
			-w -t 60 -o "-p $port" start >&2; then
			started=1
			break
		fi
		grep -q 'could not bind\|already in use' "$DIR/postgres.log" 2>/dev/null ||
			die "pg_ctl start failed"
	done
	[[ -n $started ]] || die "pg_ctl start failed (port conflicts)"

	log "creating database $DB_NAME"
	"$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DB_NAME" >&2 ||
		die "createdb $DB_NAME failed"

	started="" # success: keep the server running
	echo "postgres://postgres@127.0.0.1:$port/$DB_NAME?sslmode=disable"
}

cmd_stop() {
	local ver pid owner

	if [[ ! -e $DIR ]]; then
		log "$DIR does not exist; nothing to do"
		return 0
	fi
	DIR=$(cd "$DIR" && pwd -P)
	cd /

	if [[ -f $DIR/data/postmaster.pid ]]; then
		# Use the binaries matching the cluster's version.
		ver=$(cat "$DIR/data/PG_VERSION" 2>/dev/null || true)
		bindir=/usr/lib/postgresql/$ver/bin
		[[ -n $ver && -x $bindir/pg_ctl ]] || bindir=$(find_bindir)
		owner=$(stat -c %U "$DIR/data")
		pid=$(head -n 1 "$DIR/data/postmaster.pid")
		log "stopping server (pid $pid) in $DIR/data"
		if [[ -n $bindir ]]; then
			if ((EUID == 0)) && [[ $owner != root ]]; then
				runuser -u "$owner" -- "$bindir/pg_ctl" -D "$DIR/data" -m immediate -w stop >&2 || true
			else
				"$bindir/pg_ctl" -D "$DIR/data" -m immediate -w stop >&2 || true
			fi
		fi
		# Fallback: kill the postmaster if it is still alive (ignoring an
		# exited but unreaped "zombie" process).
		if [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/stat ]] &&
			[[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] &&
			! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
			log "server still running; sending SIGKILL to $pid"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 1
		fi
	fi

	if [[ -e $DIR/$MARKER ]]; then
		rm -rf -- "$DIR"
	elif ! rmdir -- "$DIR" 2>/dev/null; then
		die "$DIR was not created by '$0 start' and is not empty; not removing it"
	fi
	log "removed $DIR"
}

[[ $# -eq 2 && -n $2 ]] || usage
DIR=$2
[[ $DIR != / ]] || die "refusing to use / as DIR"
case $1 in
start) cmd_start ;;
stop) cmd_stop ;;
*) usage ;;
esac
