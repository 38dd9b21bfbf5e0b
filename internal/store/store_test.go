package store_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

// TestConformance runs one suite against every engine: the store's behaviour must not depend
// on the engine.
func TestConformance(t *testing.T) {
	for _, engine := range storetest.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			for _, tc := range []struct {
				name string
				fn   func(*testing.T, *store.Store)
			}{
				{"MigrationsFromEmpty", testMigrations},
				{"Orgs", testOrgs},
				{"UsersAndRoles", testUsersAndRoles},
				{"Tokens", testTokens},
				{"AuditAppendOnly", testAuditAppendOnly},
				{"AuditFilters", testAuditFilters},
				{"RollbackKeepsNothing", testRollback},
				{"Times", testTimes},
				{"Products", testProducts},
			} {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, storetest.Open(t, engine)) })
			}
		})
	}
}

func update(t *testing.T, s *store.Store, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func testMigrations(t *testing.T, s *store.Store) {
	v, err := s.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The newest migration file of this engine must be the applied version.
	entries, err := fs.Glob(store.Migrations(), path.Join("migrations", string(s.Engine()), "*.sql"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("no migration files: %v", err)
	}
	last := path.Base(entries[len(entries)-1])
	want, err := strconv.ParseInt(strings.SplitN(last, "_", 2)[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if v != want {
		t.Fatalf("schema version %d, want %d (%s)", v, want, last)
	}
	if n, err := s.CountUsers(context.Background()); err != nil || n != 0 {
		t.Fatalf("fresh store has %d users (%v), want 0", n, err)
	}
}

func testOrgs(t *testing.T, s *store.Store) {
	ctx := context.Background()
	for i := range 5 {
		update(t, s, func(tx *store.Tx) error {
			_, err := tx.CreateOrg(ctx, fmt.Sprintf("org-%d", i), fmt.Sprintf("Org %d", i))
			return err
		})
	}
	err := s.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.CreateOrg(ctx, "org-1", "again")
		return err
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate slug: got %v, want ErrConflict", err)
	}
	o, err := s.OrgBySlug(ctx, "org-3")
	if err != nil || o.Name != "Org 3" {
		t.Fatalf("OrgBySlug = %+v, %v", o, err)
	}
	if _, err := s.OrgBySlug(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing org: got %v, want ErrNotFound", err)
	}
	// Pages of two walk the whole list exactly once.
	var seen []string
	p := store.Page{Limit: 2}
	for {
		orgs, err := s.ListOrgs(ctx, 0, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range orgs {
			seen = append(seen, o.Slug)
		}
		if len(orgs) < p.Limit {
			break
		}
		p.After = orgs[len(orgs)-1].ID
	}
	if got := strings.Join(seen, ","); got != "org-0,org-1,org-2,org-3,org-4" {
		t.Fatalf("paged list = %s", got)
	}
}

func testUsersAndRoles(t *testing.T, s *store.Store) {
	ctx := context.Background()
	var a, b store.Org
	var alice, bob store.User
	update(t, s, func(tx *store.Tx) error {
		var err error
		if a, err = tx.CreateOrg(ctx, "a", "A"); err != nil {
			return err
		}
		if b, err = tx.CreateOrg(ctx, "b", "B"); err != nil {
			return err
		}
		if alice, err = tx.CreateUser(ctx, store.User{Username: "alice", PasswordHash: "h1", Email: "alice@example.org"}); err != nil {
			return err
		}
		if bob, err = tx.CreateUser(ctx, store.User{Username: "bob", PasswordHash: "h2"}); err != nil {
			return err
		}
		if err := tx.SetRole(ctx, a.ID, alice.ID, store.RoleAdmin); err != nil {
			return err
		}
		if err := tx.SetRole(ctx, b.ID, bob.ID, store.RoleViewer); err != nil {
			return err
		}
		return tx.SetRole(ctx, b.ID, alice.ID, store.RolePartner)
	})
	if _, err := s.Member(ctx, a.ID, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob in org a: got %v, want ErrNotFound", err)
	}
	m, err := s.Member(ctx, b.ID, "alice")
	if err != nil || m.Role != store.RolePartner || m.Email != "alice@example.org" {
		t.Fatalf("alice in b = %+v, %v", m, err)
	}
	// Changing a role replaces it.
	update(t, s, func(tx *store.Tx) error { return tx.SetRole(ctx, b.ID, alice.ID, store.RoleOperator) })
	ms, err := s.Memberships(ctx, alice.ID)
	if err != nil || len(ms) != 2 || ms[0].OrgSlug != "a" || ms[0].Role != store.RoleAdmin || ms[1].Role != store.RoleOperator {
		t.Fatalf("alice memberships = %+v, %v", ms, err)
	}
	members, err := s.ListMembers(ctx, b.ID, "", store.Page{Limit: 10})
	if err != nil || len(members) != 2 {
		t.Fatalf("members of b = %+v, %v", members, err)
	}
	viewers, err := s.ListMembers(ctx, b.ID, store.RoleViewer, store.Page{Limit: 10})
	if err != nil || len(viewers) != 1 || viewers[0].Username != "bob" {
		t.Fatalf("viewers of b = %+v, %v", viewers, err)
	}
	err = s.Update(ctx, func(tx *store.Tx) error { return tx.SetRole(ctx, a.ID, bob.ID, "root") })
	if err == nil {
		t.Fatal("an unknown role was stored")
	}
	err = s.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.CreateUser(ctx, store.User{Username: "alice", PasswordHash: "x"})
		return err
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate user: got %v, want ErrConflict", err)
	}
	update(t, s, func(tx *store.Tx) error { return tx.RemoveMember(ctx, b.ID, bob.ID) })
	if _, err := s.Member(ctx, b.ID, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removed member still there: %v", err)
	}
}

func testTokens(t *testing.T, s *store.Store) {
	ctx := context.Background()
	var u store.User
	var tok store.Token
	exp := time.Now().Add(time.Hour)
	update(t, s, func(tx *store.Tx) error {
		var err error
		if u, err = tx.CreateUser(ctx, store.User{Username: "carol", PasswordHash: "h"}); err != nil {
			return err
		}
		tok, err = tx.CreateToken(ctx, store.Token{UserID: u.ID, Name: "ci", Prefix: "pd_abcd", Hash: "deadbeef", ExpiresAt: exp})
		return err
	})
	got, gu, err := s.TokenByHash(ctx, "deadbeef")
	if err != nil || got.ID != tok.ID || gu.Username != "carol" || got.RevokedAt != nil || got.LastUsedAt != nil {
		t.Fatalf("TokenByHash = %+v %+v %v", got, gu, err)
	}
	if !got.ExpiresAt.Equal(exp.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("expiry %v, want %v", got.ExpiresAt, exp)
	}
	if _, _, err := s.TokenByHash(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	used := time.Now()
	update(t, s, func(tx *store.Tx) error { return tx.TouchToken(ctx, tok.ID, used) })
	update(t, s, func(tx *store.Tx) error { _, err := tx.RevokeToken(ctx, tok.ID); return err })
	first, _ := s.Token(ctx, tok.ID)
	update(t, s, func(tx *store.Tx) error { _, err := tx.RevokeToken(ctx, tok.ID); return err })
	again, _ := s.Token(ctx, tok.ID)
	if first.RevokedAt == nil || !first.RevokedAt.Equal(*again.RevokedAt) {
		t.Fatalf("revocation time changed: %v then %v", first.RevokedAt, again.RevokedAt)
	}
	if again.LastUsedAt == nil || !again.LastUsedAt.Equal(used.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("last used %v, want %v", again.LastUsedAt, used)
	}
	err = s.Update(ctx, func(tx *store.Tx) error { _, err := tx.RevokeToken(ctx, 999); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke unknown token: %v", err)
	}
	list, err := s.ListTokens(ctx, u.ID, store.Page{Limit: 10})
	if err != nil || len(list) != 1 {
		t.Fatalf("ListTokens = %+v, %v", list, err)
	}
}

func testAuditAppendOnly(t *testing.T, s *store.Store) {
	ctx := context.Background()
	update(t, s, func(tx *store.Tx) error {
		_, err := tx.AppendAudit(ctx, store.AuditEvent{Actor: "x", Action: "org.create", ObjectType: "org", ObjectID: "1", Source: "127.0.0.1", RequestID: "r1"})
		return err
	})
	stmts := []string{`UPDATE audit_events SET actor = 'mallory'`, `DELETE FROM audit_events`}
	if s.Engine() == store.Postgres {
		stmts = append(stmts, `TRUNCATE audit_events`)
	}
	for _, stmt := range stmts {
		err := s.Update(ctx, func(tx *store.Tx) error { return tx.ExecForTest(ctx, stmt) })
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want append-only refusal", stmt, err)
		}
	}
	evs, err := s.ListAudit(ctx, store.AuditFilter{AllOrgs: true, Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].Actor != "x" {
		t.Fatalf("audit after tampering = %+v, %v", evs, err)
	}
}

func testAuditFilters(t *testing.T, s *store.Store) {
	ctx := context.Background()
	org1, org2 := int64(1), int64(2)
	actor7 := int64(7)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := []store.AuditEvent{
		{Time: base, OrgID: &org1, Actor: "alice", Action: "user.create", ObjectType: "user", ObjectID: "bob"},
		{Time: base.Add(time.Hour), OrgID: &org2, Actor: "bob", Action: "user.set_role", ObjectType: "user", ObjectID: "carol"},
		{Time: base.Add(2 * time.Hour), ActorID: &actor7, Actor: "carol", Action: "token.create", ObjectType: "token", ObjectID: "3"},
		{Time: base.Add(3 * time.Hour), OrgID: &org1, Actor: "alice", Action: "org.create", ObjectType: "org", ObjectID: "a", Details: []byte(`{"name":"A"}`)},
		{Time: base.Add(4 * time.Hour), OrgID: &org2, Actor: "alice", Action: "user_x", ObjectType: "user", ObjectID: "bob"},
	}
	update(t, s, func(tx *store.Tx) error {
		for _, e := range events {
			if _, err := tx.AppendAudit(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	ids := func(f store.AuditFilter) string {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = 100
		}
		evs, err := s.ListAudit(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			out = append(out, e.ObjectType+":"+e.ObjectID)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want string
	}{
		{"all newest first", store.AuditFilter{AllOrgs: true}, "user:bob org:a token:3 user:carol user:bob"},
		{"one org", store.AuditFilter{OrgIDs: []int64{1}}, "org:a user:bob"},
		{"org or own", store.AuditFilter{OrgIDs: []int64{2}, OrActorID: 7}, "user:bob token:3 user:carol"},
		{"no scope sees nothing", store.AuditFilter{}, ""},
		{"actor", store.AuditFilter{AllOrgs: true, Actor: "alice"}, "user:bob org:a user:bob"},
		{"action prefix", store.AuditFilter{AllOrgs: true, Action: "user."}, "user:carol user:bob"},
		{"exact action", store.AuditFilter{AllOrgs: true, Action: "org.create"}, "org:a"},
		{"object", store.AuditFilter{AllOrgs: true, ObjectType: "user", ObjectID: "bob"}, "user:bob user:bob"},
		{"time range", store.AuditFilter{AllOrgs: true, Since: base.Add(time.Hour), Until: base.Add(3 * time.Hour)}, "token:3 user:carol"},
		{"cursor and limit", store.AuditFilter{AllOrgs: true, Before: 4, Limit: 2}, "token:3 user:carol"},
	} {
		if got := ids(tc.f); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	evs, _ := s.ListAudit(ctx, store.AuditFilter{AllOrgs: true, Action: "org.create", Limit: 1})
	if len(evs) != 1 || string(evs[0].Details) != `{"name":"A"}` || !evs[0].Time.Equal(base.Add(3*time.Hour)) || evs[0].Org != "" {
		t.Fatalf("stored event = %+v", evs)
	}
}

func testRollback(t *testing.T, s *store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateOrg(ctx, "doomed", "Doomed"); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(ctx, store.AuditEvent{Actor: "x", Action: "org.create", ObjectType: "org", ObjectID: "doomed"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want the callback's error", err)
	}
	if _, err := s.OrgBySlug(ctx, "doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rolled-back org exists: %v", err)
	}
	if evs, _ := s.ListAudit(ctx, store.AuditFilter{AllOrgs: true, Limit: 10}); len(evs) != 0 {
		t.Fatalf("rolled-back audit event exists: %+v", evs)
	}
}

func testTimes(t *testing.T, s *store.Store) {
	ctx := context.Background()
	// Times keep microseconds and come back in UTC on both engines.
	at := time.Date(2026, 11, 23, 8, 30, 15, 123456789, time.FixedZone("CET", 3600))
	var e store.AuditEvent
	update(t, s, func(tx *store.Tx) error {
		var err error
		e, err = tx.AppendAudit(ctx, store.AuditEvent{Time: at, Actor: "x", Action: "a", ObjectType: "o", ObjectID: "1"})
		return err
	})
	evs, err := s.ListAudit(ctx, store.AuditFilter{AllOrgs: true, Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatal(evs, err)
	}
	want := at.UTC().Truncate(time.Microsecond)
	if !evs[0].Time.Equal(want) || !e.Time.Equal(want) {
		t.Fatalf("time %v, want %v", evs[0].Time, want)
	}
}

func testProducts(t *testing.T, s *store.Store) {
	ctx := context.Background()
	var a, b store.Org
	update(t, s, func(tx *store.Tx) error {
		var err error
		if a, err = tx.CreateOrg(ctx, "a", "A"); err != nil {
			return err
		}
		b, err = tx.CreateOrg(ctx, "b", "B")
		return err
	})
	products := []store.Product{
		{OrgID: a.ID, Vendor: "Debian", Name: "OpenSSL", VersionLine: "3.0", PURL: "pkg:deb/debian/openssl", MainstreamEnd: "2026-06-30", ExtendedEnd: "2028-06-30"},
		{OrgID: a.ID, Vendor: "Microsoft", Name: "SQL Server", VersionLine: "2000", CPE: "cpe:2.3:a:microsoft:sql_server:2000:*:*:*:*:*:*:*", MainstreamEnd: "2008-04-08", ExtendedEnd: "2013-04-09"},
		{OrgID: a.ID, Vendor: "Example", Name: "100%_widget", MainstreamEnd: "2026-01-01"},
		{OrgID: a.ID, Vendor: "Example", Name: "Gadget"},
		{OrgID: a.ID, Vendor: "Überwacher GmbH", Name: "Ölpumpe"},
		{OrgID: b.ID, Vendor: "Debian", Name: "OpenSSL", VersionLine: "3.0"},
	}
	var ids []int64
	update(t, s, func(tx *store.Tx) error {
		for _, p := range products {
			out, err := tx.CreateProduct(ctx, p)
			if err != nil {
				return err
			}
			ids = append(ids, out.ID)
		}
		return nil
	})
	err := s.Update(ctx, func(tx *store.Tx) error { _, err := tx.CreateProduct(ctx, products[0]); return err })
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate product: %v", err)
	}
	if _, err := s.Product(ctx, b.ID, ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another organisation's product: %v", err)
	}
	names := func(f store.ProductFilter) string {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = 100
		}
		ps, err := s.ListProducts(ctx, a.ID, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		name string
		f    store.ProductFilter
		want string
	}{
		{"all of one organisation", store.ProductFilter{}, "OpenSSL,SQL Server,100%_widget,Gadget,Ölpumpe"},
		{"non-ASCII vendor, any case", store.ProductFilter{Vendor: "überwacher gmbh"}, "Ölpumpe"},
		{"non-ASCII text, any case", store.ProductFilter{Text: "ölPUMPE"}, "Ölpumpe"},
		{"vendor, any case", store.ProductFilter{Vendor: "example"}, "100%_widget,Gadget"},
		{"text in purl", store.ProductFilter{Text: "pkg:deb"}, "OpenSSL"},
		{"text in cpe", store.ProductFilter{Text: "SQL_SERVER:2000"}, "SQL Server"},
		{"wildcards are literal", store.ProductFilter{Text: "0%_w"}, "100%_widget"},
		{"underscore is literal", store.ProductFilter{Text: "0_w"}, ""},
		{"support ended by 2027: extended end counts", store.ProductFilter{EndedBy: "2027-01-01"}, "SQL Server,100%_widget"},
		{"support ended by 2030", store.ProductFilter{EndedBy: "2030-01-01"}, "OpenSSL,SQL Server,100%_widget"},
		{"page", store.ProductFilter{Page: store.Page{After: ids[0], Limit: 2}}, "SQL Server,100%_widget"},
	} {
		if got := names(tc.f); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	p := products[3]
	p.ID, p.OrgID, p.ExtendedEnd = ids[3], a.ID, "2031-12-31"
	var up store.Product
	update(t, s, func(tx *store.Tx) error { var err error; up, err = tx.UpdateProduct(ctx, p); return err })
	if up.ExtendedEnd != "2031-12-31" || up.SupportEnd() != "2031-12-31" || !up.UpdatedAt.After(up.CreatedAt) && !up.UpdatedAt.Equal(up.CreatedAt) {
		t.Fatalf("updated product %+v", up)
	}
	p.OrgID = b.ID
	err = s.Update(ctx, func(tx *store.Tx) error { _, err := tx.UpdateProduct(ctx, p); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update through another organisation: %v", err)
	}
}
