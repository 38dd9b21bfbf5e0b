package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// EnrollToken lets machines join an organisation. The secret is never stored, only its hash.
type EnrollToken struct {
	ID        int64      `json:"id"`
	OrgID     int64      `json:"org_id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	Hash      string     `json:"-"`
	Groups    []string   `json:"groups"`
	MaxUses   *int64     `json:"max_uses,omitempty"`
	Uses      int64      `json:"uses"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

const enrollTokenCols = `id, org_id, name, prefix, hash, groups, max_uses, uses, created_at, created_by, expires_at, revoked_at`

func scanEnrollToken(row interface{ Scan(...any) error }) (EnrollToken, error) {
	var t EnrollToken
	var groups string
	err := row.Scan(&t.ID, &t.OrgID, &t.Name, &t.Prefix, &t.Hash, &groups, &t.MaxUses, &t.Uses, &t.CreatedAt,
		&t.CreatedBy, &t.ExpiresAt, &t.RevokedAt)
	if err == nil {
		err = json.Unmarshal([]byte(groups), &t.Groups)
	}
	return t, err
}

// CreateEnrollToken stores an enrollment token record.
func (tx *Tx) CreateEnrollToken(ctx context.Context, t EnrollToken) (EnrollToken, error) {
	if t.Groups == nil {
		t.Groups = []string{}
	}
	groups, err := json.Marshal(t.Groups)
	if err != nil {
		return EnrollToken{}, err
	}
	out, err := scanEnrollToken(tx.queryRow(ctx, `INSERT INTO enroll_tokens (org_id, name, prefix, hash, groups, max_uses, created_at, created_by, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+enrollTokenCols,
		t.OrgID, t.Name, t.Prefix, t.Hash, string(groups), t.MaxUses, Now(), t.CreatedBy, t.ExpiresAt.UTC().Truncate(time.Microsecond)))
	if err != nil {
		return EnrollToken{}, fmt.Errorf("create enrollment token: %w", mapErr(err))
	}
	return out, nil
}

// ListEnrollTokens lists an organisation's enrollment tokens in id order.
func (r Reader) ListEnrollTokens(ctx context.Context, orgID int64, p Page) ([]EnrollToken, error) {
	rows, err := r.query(ctx, `SELECT `+enrollTokenCols+` FROM enroll_tokens WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		orgID, p.After, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", err)
	}
	defer rows.Close()
	var out []EnrollToken
	for rows.Next() {
		t, err := scanEnrollToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list enrollment tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeEnrollToken revokes an organisation's enrollment token; revoking twice is no error.
func (tx *Tx) RevokeEnrollToken(ctx context.Context, orgID, id int64) (EnrollToken, error) {
	t, err := scanEnrollToken(tx.queryRow(ctx, `UPDATE enroll_tokens SET revoked_at = COALESCE(revoked_at, $3)
		WHERE org_id = $1 AND id = $2 RETURNING `+enrollTokenCols, orgID, id, Now()))
	if err != nil {
		return EnrollToken{}, fmt.Errorf("revoke enrollment token %d: %w", id, mapErr(err))
	}
	return t, nil
}

// Reasons an enrollment token is refused.
var (
	ErrTokenUnknown = errors.New("unknown enrollment token")
	ErrTokenRevoked = errors.New("the enrollment token was revoked")
	ErrTokenExpired = errors.New("the enrollment token expired")
	ErrTokenUsedUp  = errors.New("the enrollment token reached its maximum number of uses")
	ErrAgentRevoked = errors.New("the computer's credential was revoked")
)

// UseEnrollToken counts one use of the token with this hash, if it is still valid at now; the
// check and the count are one statement, so concurrent enrollments never exceed max uses.
func (tx *Tx) UseEnrollToken(ctx context.Context, hash string, now time.Time) (EnrollToken, error) {
	t, err := scanEnrollToken(tx.queryRow(ctx, `UPDATE enroll_tokens SET uses = uses + 1
		WHERE hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND (max_uses IS NULL OR uses < max_uses)
		RETURNING `+enrollTokenCols, hash, now.UTC()))
	if err == nil {
		return t, nil
	}
	if !errors.Is(mapErr(err), ErrNotFound) {
		return EnrollToken{}, fmt.Errorf("use enrollment token: %w", err)
	}
	t, err = scanEnrollToken(tx.queryRow(ctx, `SELECT `+enrollTokenCols+` FROM enroll_tokens WHERE hash = $1`, hash))
	switch {
	case errors.Is(mapErr(err), ErrNotFound):
		return EnrollToken{}, ErrTokenUnknown
	case err != nil:
		return EnrollToken{}, fmt.Errorf("use enrollment token: %w", err)
	case t.RevokedAt != nil:
		return EnrollToken{}, ErrTokenRevoked
	case !now.Before(t.ExpiresAt):
		return EnrollToken{}, ErrTokenExpired
	default:
		return EnrollToken{}, ErrTokenUsedUp
	}
}

// CheckEnrollToken says, without using it, whether the token with this hash could enroll a
// machine at now: nil, or the reason it cannot.
func (r Reader) CheckEnrollToken(ctx context.Context, hash string, now time.Time) error {
	t, err := scanEnrollToken(r.queryRow(ctx, `SELECT `+enrollTokenCols+` FROM enroll_tokens WHERE hash = $1`, hash))
	switch {
	case errors.Is(mapErr(err), ErrNotFound):
		return ErrTokenUnknown
	case err != nil:
		return fmt.Errorf("enrollment token: %w", err)
	case t.RevokedAt != nil:
		return ErrTokenRevoked
	case !now.Before(t.ExpiresAt):
		return ErrTokenExpired
	case t.MaxUses != nil && t.Uses >= *t.MaxUses:
		return ErrTokenUsedUp
	}
	return nil
}
