package store

import (
	"context"
	"fmt"
	"time"
)

// Role is what a user may do in one organisation.
type Role string

const (
	RoleAdmin    Role = "admin"    // everything in the organisation
	RoleOperator Role = "operator" // approve and deploy updates
	RoleViewer   Role = "viewer"   // read only
	RolePartner  Role = "partner"  // read, including embargoed advisories
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleOperator, RoleViewer, RolePartner}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// User is a person or service account that signs in.
type User struct {
	ID           int64  `json:"id"`
	Username     string `json:"username"`
	DisplayName  string `json:"display_name"`
	Email        string `json:"email"`
	PasswordHash string `json:"-"`
	SiteAdmin    bool   `json:"site_admin"`
	Disabled     bool   `json:"disabled"`
	// PasswordChangeRequired is set while the password is one someone else chose or
	// generated: the API answers its owner nothing else until they change it.
	PasswordChangeRequired bool      `json:"password_change_required"`
	CreatedAt              time.Time `json:"created_at"`
	UpdatedAt              time.Time `json:"updated_at"`
}

// Member is a user together with the role held in one organisation.
type Member struct {
	User
	OrgID int64 `json:"org_id"`
	Role  Role  `json:"role"`
}

// Membership is one organisation a user belongs to, and the role there.
type Membership struct {
	OrgID   int64  `json:"org_id"`
	OrgSlug string `json:"org"`
	Role    Role   `json:"role"`
}

// userCols are qualified for joins; RETURNING (which SQLite does not let qualify) uses
// userReturning.
const (
	userReturning = `id, username, display_name, email, password_hash, site_admin, disabled, password_change_required, created_at, updated_at`
	userCols      = `u.id, u.username, u.display_name, u.email, u.password_hash, u.site_admin, u.disabled, u.password_change_required, u.created_at, u.updated_at`
)

// userDest lists where a row of userCols goes.
func userDest(u *User) []any {
	return []any{&u.ID, &u.Username, &u.DisplayName, &u.Email, &u.PasswordHash, &u.SiteAdmin, &u.Disabled,
		&u.PasswordChangeRequired, &u.CreatedAt, &u.UpdatedAt}
}

func scanUser(row interface{ Scan(...any) error }, extra ...any) (User, error) {
	var u User
	err := row.Scan(append(userDest(&u), extra...)...)
	return u, err
}

// CreateUser stores a new user.
func (tx *Tx) CreateUser(ctx context.Context, u User) (User, error) {
	now := Now()
	out, err := scanUser(tx.queryRow(ctx,
		`INSERT INTO users (username, display_name, email, password_hash, site_admin, disabled, password_change_required, created_at, updated_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING `+userReturning,
		u.Username, u.DisplayName, u.Email, u.PasswordHash, u.SiteAdmin, u.Disabled, u.PasswordChangeRequired, now))
	if err != nil {
		return User{}, fmt.Errorf("create user %q: %w", u.Username, mapErr(err))
	}
	return out, nil
}

// SetPassword replaces a user's password hash; changeRequired says whether its owner must
// change it before anything else (it was set by someone else).
func (tx *Tx) SetPassword(ctx context.Context, userID int64, hash string, changeRequired bool) error {
	res, err := tx.exec(ctx, `UPDATE users SET password_hash = $1, password_change_required = $4, updated_at = $2 WHERE id = $3`,
		hash, Now(), userID, changeRequired)
	return expectOne(res, err, "set password")
}

// SetDisabled disables a user (no login, no token works) or enables them again.
func (tx *Tx) SetDisabled(ctx context.Context, userID int64, disabled bool) error {
	res, err := tx.exec(ctx, `UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3`, disabled, Now(), userID)
	return expectOne(res, err, "disable user")
}

// CountActiveSiteAdmins counts the site administrators who are not disabled, and on
// PostgreSQL locks their rows until the transaction ends, so that two transactions cannot
// each disable one of the last two (SQLite has one writer anyway).
func (tx *Tx) CountActiveSiteAdmins(ctx context.Context) (int, error) {
	q := `SELECT id FROM users WHERE site_admin AND NOT disabled ORDER BY id`
	if tx.engine == Postgres {
		q += ` FOR UPDATE`
	}
	rows, err := tx.query(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("site admins: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

// UserByName finds a user by username.
func (r Reader) UserByName(ctx context.Context, username string) (User, error) {
	u, err := scanUser(r.queryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.username = $1`, username))
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", username, mapErr(err))
	}
	return u, nil
}

// CountUsers counts all users.
func (r Reader) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := r.queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// SetRole gives a user a role in an organisation, adding the membership when missing.
func (tx *Tx) SetRole(ctx context.Context, orgID, userID int64, role Role) error {
	_, err := tx.exec(ctx,
		`INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`,
		orgID, userID, string(role), Now())
	if err != nil {
		return fmt.Errorf("set role: %w", mapErr(err))
	}
	return nil
}

// RemoveMember takes a user out of an organisation.
func (tx *Tx) RemoveMember(ctx context.Context, orgID, userID int64) error {
	res, err := tx.exec(ctx, `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, userID)
	return expectOne(res, err, "remove member")
}

// Member finds a user by name within one organisation: ErrNotFound when the user is not a
// member there, so that other organisations' users stay invisible.
func (r Reader) Member(ctx context.Context, orgID int64, username string) (Member, error) {
	var m Member
	var role string
	u, err := scanUser(r.queryRow(ctx,
		`SELECT `+userCols+`, m.role FROM users u JOIN memberships m ON m.user_id = u.id
		 WHERE m.org_id = $1 AND u.username = $2`, orgID, username), &role)
	if err != nil {
		return Member{}, fmt.Errorf("user %q: %w", username, mapErr(err))
	}
	m.User, m.OrgID, m.Role = u, orgID, Role(role)
	return m, nil
}

// ListMembers lists an organisation's users in id order.
func (r Reader) ListMembers(ctx context.Context, orgID int64, role Role, p Page) ([]Member, error) {
	rows, err := r.query(ctx,
		`SELECT `+userCols+`, m.role FROM users u JOIN memberships m ON m.user_id = u.id
		 WHERE m.org_id = $1 AND u.id > $2 AND ($3 = '' OR m.role = $3) ORDER BY u.id LIMIT $4`,
		orgID, p.After, string(role), p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var role string
		u, err := scanUser(rows, &role)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, Member{User: u, OrgID: orgID, Role: Role(role)})
	}
	return out, rows.Err()
}

// ListUsers lists every user of the server, by id, a page at a time.
func (r Reader) ListUsers(ctx context.Context, p Page) ([]User, error) {
	rows, err := r.query(ctx, `SELECT `+userCols+` FROM users u WHERE u.id > $1 ORDER BY u.id LIMIT $2`, p.After, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Memberships lists the organisations a user belongs to.
func (r Reader) Memberships(ctx context.Context, userID int64) ([]Membership, error) {
	rows, err := r.query(ctx,
		`SELECT m.org_id, o.slug, m.role FROM memberships m JOIN orgs o ON o.id = m.org_id
		 WHERE m.user_id = $1 ORDER BY o.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		var role string
		if err := rows.Scan(&m.OrgID, &m.OrgSlug, &role); err != nil {
			return nil, fmt.Errorf("memberships: %w", err)
		}
		m.Role = Role(role)
		out = append(out, m)
	}
	return out, rows.Err()
}

func expectOne(res interface{ RowsAffected() (int64, error) }, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}
