package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/patchday/patchday/internal/auth"
	"github.com/patchday/patchday/internal/store"
)

// Initial account names made by Bootstrap.
const (
	InitialAdmin = "admin"
	InitialOrg   = "default"
)

// Bootstrap prepares an empty database: a site admin "admin", an organisation "default" it
// administers, and an audit entry for both. password is the admin's password; when empty a
// random one is made and returned, for the caller to show once, and must be changed at the
// first login. On a database that already
// has users it does nothing and returns created=false.
func Bootstrap(ctx context.Context, s *store.Store, password string) (created bool, pw string, err error) {
	generated := password == ""
	if generated {
		password = auth.RandomPassword()
	} else if err := auth.CheckPasswordPolicy(password); err != nil {
		return false, "", fmt.Errorf("initial admin password: %w", err)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return false, "", err
	}
	err = s.Update(ctx, func(tx *store.Tx) error {
		// Checked inside the write transaction, so two nodes starting at once make one admin.
		if n, err := tx.CountUsers(ctx); err != nil || n > 0 {
			return err
		}
		// A generated password was printed on the console: its owner replaces it first.
		u, err := tx.CreateUser(ctx, store.User{Username: InitialAdmin, DisplayName: "Administrator", PasswordHash: hash, SiteAdmin: true,
			PasswordChangeRequired: generated})
		if err != nil {
			return err
		}
		org, err := tx.OrgBySlug(ctx, InitialOrg)
		if err != nil {
			if org, err = tx.CreateOrg(ctx, InitialOrg, "Default organisation"); err != nil {
				return err
			}
		}
		if err := tx.SetRole(ctx, org.ID, u.ID, store.RoleAdmin); err != nil {
			return err
		}
		orgID := org.ID
		_, err = tx.AppendAudit(ctx, store.AuditEvent{OrgID: &orgID, Actor: "patchday", Action: "system.bootstrap",
			ObjectType: "user", ObjectID: InitialAdmin, Source: "local", RequestID: "bootstrap"})
		created = err == nil
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return false, "", nil // another node bootstrapped at the same moment
	}
	if err != nil {
		return false, "", fmt.Errorf("bootstrap: %w", err)
	}
	return created, password, nil
}
