// Package store persists patchday's data. One API serves two engines: SQLite (the embedded
// default, one file in the data directory) and PostgreSQL (for several server nodes).
// Both engines run the same SQL wherever they agree; each has its own migration set.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine names a database engine.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

var (
	// ErrNotFound is returned when the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a write breaks a uniqueness rule.
	ErrConflict = errors.New("already exists")
)

//go:embed migrations
var migrations embed.FS

// SQLiteFile is the database file's name inside the data directory.
const SQLiteFile = "patchday.db"

// Store is the database. Reads go to a pool of connections; writes go through Update, which
// on SQLite uses a single connection (SQLite has one writer) with immediate transactions.
type Store struct {
	Reader
	engine Engine
	w      *sql.DB
	r      *sql.DB
}

// Open opens the database named by dbURL, or the SQLite file in dataDir when dbURL is empty,
// and applies pending migrations. dbURL is postgres://... (or postgresql://...) or
// sqlite:PATH.
func Open(ctx context.Context, dbURL, dataDir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var s *Store
	var err error
	switch {
	case dbURL == "":
		if dataDir == "" {
			return nil, errors.New("store: neither a database URL nor a data directory given")
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create data directory: %w", err)
		}
		s, err = openSQLite(filepath.Join(dataDir, SQLiteFile))
	case strings.HasPrefix(dbURL, "sqlite:"):
		s, err = openSQLite(strings.TrimPrefix(strings.TrimPrefix(dbURL, "sqlite:"), "//"))
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		s, err = openPostgres(dbURL)
	default:
		return nil, fmt.Errorf("store: database URL %q: scheme must be postgres:// or sqlite:", redact(dbURL))
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx, log); err != nil {
		s.Close()
		return nil, err
	}
	if s.engine == SQLite {
		// Let SQLite gather the statistics its planner needs (it analyses only tables whose
		// statistics are missing or stale, so this is cheap on most starts).
		if _, err := s.w.ExecContext(ctx, `PRAGMA optimize=0x10002`); err != nil {
			log.Warn("sqlite: optimize", "err", err)
		}
	}
	return s, nil
}

func openSQLite(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty SQLite path")
	}
	// synchronous(FULL): a write acknowledged to a client survives power loss, not only a crash.
	pragmas := "_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)" +
		"&_pragma=synchronous(FULL)&_time_format=sqlite"
	w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: restrict %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &Store{Reader: Reader{db: r, cache: newStmtCache(r)}, engine: SQLite, w: w, r: r}, nil
}

func openPostgres(dbURL string) (*Store, error) {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", redact(dbURL), err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to %s: %s", redact(dbURL), strings.ReplaceAll(err.Error(), dbURL, redact(dbURL)))
	}
	return &Store{Reader: Reader{db: db}, engine: Postgres, w: db, r: db}, nil
}

// redact hides a password in a database URL, in the user part or as a parameter, before it
// is logged or shown.
func redact(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

func (s *Store) migrate(ctx context.Context, log *slog.Logger) error {
	dir, err := fs.Sub(migrations, "migrations/"+string(s.engine))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	dialect := goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if s.engine == Postgres {
		dialect = goose.DialectPostgres
		// Several nodes may start at once: a session lock lets one of them migrate.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, s.w, dir, opts...)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: apply migrations: %w", err)
	}
	for _, r := range results {
		log.Info("applied migration", "engine", s.engine, "version", r.Source.Version, "file", filepath.Base(r.Source.Path))
	}
	return nil
}

// SchemaVersion reports the newest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

// Engine reports which engine the store runs on.
func (s *Store) Engine() Engine { return s.engine }

// Ping checks that the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return err
	}
	return s.r.PingContext(ctx)
}

// Close closes the database.
func (s *Store) Close() error {
	if s.cache != nil {
		s.cache.close()
	}
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// Update runs fn in a write transaction, committed when fn returns nil.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", mapErr(err))
	}
	// Transactions run unprepared statements: preparing on the writer pool would wait for
	// the one connection the transaction itself holds.
	tx := &Tx{Reader: Reader{db: sqlTx}, tx: sqlTx, engine: s.engine}
	if err := fn(tx); err != nil {
		if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("store: rollback: %w", rbErr))
		}
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", mapErr(err))
	}
	return nil
}

type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Reader holds the queries that only read. Store's reads use the reader pool; a Tx's reads see
// the transaction's own writes.
type Reader struct {
	db    dbtx
	cache *stmtCache // prepared statements (SQLite reads only)
}

// Tx is a write transaction.
type Tx struct {
	Reader
	tx     *sql.Tx
	engine Engine
}

// LockOrg serialises the transactions that lock the same organisation until they end, for
// checks that read before they write (such as "an organisation keeps an admin"). SQLite
// transactions here are already serial; PostgreSQL's READ COMMITTED ones are not. The lock
// (FOR NO KEY UPDATE) leaves alone the transactions that only insert rows referring to the
// organisation (their foreign key check takes KEY SHARE), such as an enrollment, which
// would otherwise wait for it while holding what the locker waits for next.
func (tx *Tx) LockOrg(ctx context.Context, orgID int64) error {
	if tx.engine != Postgres {
		return nil
	}
	if _, err := tx.tx.ExecContext(ctx, `SELECT id FROM orgs WHERE id = $1 FOR NO KEY UPDATE`, orgID); err != nil {
		return fmt.Errorf("lock organisation %d: %w", orgID, err)
	}
	return nil
}

// mapErr turns engine-specific constraint errors into ErrConflict.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s", ErrConflict, pgErr.ConstraintName)
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s", ErrConflict, sqErr.Error())
		}
	}
	return err
}

// Now is the store's notion of the current time: UTC with microsecond precision, which both
// engines keep exactly.
func Now() time.Time { return clock.Load().(func() time.Time)().UTC().Truncate(time.Microsecond) }

var clock atomic.Value

func init() { clock.Store(time.Now) }

// SetClock makes Now follow another clock, for tests that simulate months passing; it
// returns a function that restores the real one. Not for concurrent tests.
func SetClock(now func() time.Time) (restore func()) {
	clock.Store(now)
	return func() { clock.Store(time.Now) }
}
