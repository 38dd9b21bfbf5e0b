package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements of a SQLite pool. SQLite spends most of a small
// query's time parsing it, so preparing each query once makes reads several times faster.
// (On PostgreSQL the pgx driver already caches prepared statements per connection.)
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache; the store's static queries are far fewer.
const maxCachedStmts = 256

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db, m: map[string]*sql.Stmt{}} }

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.RLock()
	st, ok := c.m[q]
	c.mu.RUnlock()
	if ok {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		return nil, sql.ErrConnDone // closed: the store is being closed
	}
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(c.m) < maxCachedStmts {
		c.m[q] = st
	}
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// stmt returns the prepared form of q for this reader, or nil to run q unprepared.
func (r Reader) stmt(ctx context.Context, q string) *sql.Stmt {
	if r.cache == nil {
		return nil
	}
	st, err := r.cache.get(ctx, q)
	if err != nil {
		return nil // let the unprepared call report the error
	}
	return st
}

func (r Reader) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := r.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.db.QueryRowContext(ctx, q, args...)
}

func (r Reader) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := r.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.db.QueryContext(ctx, q, args...)
}

func (r Reader) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := r.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return r.db.ExecContext(ctx, q, args...)
}
