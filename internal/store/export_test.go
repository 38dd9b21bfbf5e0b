package store

import (
	"context"
	"database/sql"
	"io/fs"
)

// Migrations exposes the embedded migration files to tests.
func Migrations() fs.FS { return migrations }

// ExecForTest runs raw SQL in a transaction, for tests that try to break the schema's rules.
func (tx *Tx) ExecForTest(ctx context.Context, stmt string) error {
	_, err := tx.tx.ExecContext(ctx, stmt)
	return err
}

// QueryRowForTest runs a read through the store's readers, as the store's own reads do.
func (r Reader) QueryRowForTest(ctx context.Context, q string) *sql.Row { return r.queryRow(ctx, q) }
