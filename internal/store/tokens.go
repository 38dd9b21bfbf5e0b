package store

import (
	"context"
	"fmt"
	"time"
)

// Token is an API token's record. The secret itself is never stored, only its SHA-256.
type Token struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Hash       string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

const (
	tokenReturning = `id, user_id, name, prefix, hash, created_at, expires_at, last_used_at, revoked_at`
	tokenCols      = `t.id, t.user_id, t.name, t.prefix, t.hash, t.created_at, t.expires_at, t.last_used_at, t.revoked_at`
)

func scanToken(row interface{ Scan(...any) error }, extra ...any) (Token, error) {
	var t Token
	dest := append([]any{&t.ID, &t.UserID, &t.Name, &t.Prefix, &t.Hash, &t.CreatedAt, &t.ExpiresAt,
		&t.LastUsedAt, &t.RevokedAt}, extra...)
	err := row.Scan(dest...)
	return t, err
}

// CreateToken stores a token record.
func (tx *Tx) CreateToken(ctx context.Context, t Token) (Token, error) {
	out, err := scanToken(tx.queryRow(ctx,
		`INSERT INTO api_tokens (user_id, name, prefix, hash, created_at, expires_at)
		 VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+tokenReturning,
		t.UserID, t.Name, t.Prefix, t.Hash, Now(), t.ExpiresAt.UTC().Truncate(time.Microsecond)))
	if err != nil {
		return Token{}, fmt.Errorf("create token: %w", mapErr(err))
	}
	return out, nil
}

// TokenByHash finds a token and its user by the token's hash.
func (r Reader) TokenByHash(ctx context.Context, hash string) (Token, User, error) {
	var u User
	t, err := scanToken(r.queryRow(ctx,
		`SELECT `+tokenCols+`, `+userCols+` FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1`, hash),
		userDest(&u)...)
	if err != nil {
		return Token{}, User{}, fmt.Errorf("token: %w", mapErr(err))
	}
	return t, u, nil
}

// Token finds a token by id.
func (r Reader) Token(ctx context.Context, id int64) (Token, error) {
	t, err := scanToken(r.queryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens t WHERE t.id = $1`, id))
	if err != nil {
		return Token{}, fmt.Errorf("token %d: %w", id, mapErr(err))
	}
	return t, nil
}

// ListTokens lists a user's tokens (all users' with userID 0) in id order.
func (r Reader) ListTokens(ctx context.Context, userID int64, p Page) ([]Token, error) {
	rows, err := r.query(ctx,
		`SELECT `+tokenCols+` FROM api_tokens t WHERE ($1 = 0 OR t.user_id = $1) AND t.id > $2 ORDER BY t.id LIMIT $3`,
		userID, p.After, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken marks a token revoked. Revoking twice keeps the first time.
func (tx *Tx) RevokeToken(ctx context.Context, id int64) (Token, error) {
	t, err := scanToken(tx.queryRow(ctx,
		`UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING `+tokenReturning, Now(), id))
	if err != nil {
		return Token{}, fmt.Errorf("revoke token %d: %w", id, mapErr(err))
	}
	return t, nil
}

// TouchToken records that a token was used.
func (tx *Tx) TouchToken(ctx context.Context, id int64, at time.Time) error {
	_, err := tx.exec(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2`, at.UTC().Truncate(time.Microsecond), id)
	if err != nil {
		return fmt.Errorf("touch token %d: %w", id, err)
	}
	return nil
}

// RevokeUserTokens revokes every token of a user but one (except may be 0), and returns how
// many it revoked.
func (tx *Tx) RevokeUserTokens(ctx context.Context, userID, except int64) (int64, error) {
	res, err := tx.exec(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL`, Now(), userID, except)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of user %d: %w", userID, err)
	}
	return res.RowsAffected()
}
