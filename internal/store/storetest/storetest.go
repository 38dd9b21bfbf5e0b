// Package storetest gives tests a fresh, migrated store on each engine: SQLite in a temporary
// directory, and PostgreSQL in a new database on the server named by PATCHDAY_TEST_POSTGRES
// (the test command starts a throwaway one; see scripts/postgres.sh).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/patchday/patchday/internal/store"
)

// EnvPostgres names the environment variable holding the test PostgreSQL server's URL.
const EnvPostgres = "PATCHDAY_TEST_POSTGRES"

// Engines lists the engines to test. Without a PostgreSQL server the PostgreSQL runs are
// skipped, loudly; under CI=true they fail instead.
func Engines() []store.Engine { return []store.Engine{store.SQLite, store.Postgres} }

// Open returns a fresh, empty, migrated store on the engine, closed and removed when the test
// ends.
func Open(t testing.TB, engine store.Engine) *store.Store {
	t.Helper()
	s, _ := OpenURL(t, engine)
	return s
}

// OpenURL is Open, and also returns the database URL (empty for SQLite) and so lets a test
// start a server process on the same database.
func OpenURL(t testing.TB, engine store.Engine) (*store.Store, string) {
	t.Helper()
	ctx := context.Background()
	switch engine {
	case store.SQLite:
		s, err := store.Open(ctx, "", t.TempDir(), nil)
		if err != nil {
			t.Fatalf("open sqlite store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s, ""
	case store.Postgres:
		dbURL := NewPostgresDB(t)
		s, err := store.Open(ctx, dbURL, "", nil)
		if err != nil {
			t.Fatalf("open postgres store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s, dbURL
	}
	t.Fatalf("unknown engine %q", engine)
	return nil, ""
}

// NewPostgresDB creates an empty database on the test PostgreSQL server and returns its URL.
// It is dropped when the test ends.
func NewPostgresDB(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: PostgreSQL tests must run in CI (use the test command in README.md)", EnvPostgres)
		}
		t.Skipf("PostgreSQL tests skipped: %s is not set (the test command in README.md starts a server)", EnvPostgres)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer admin.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "pd_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}
