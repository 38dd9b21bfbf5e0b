package web_test

import (
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

// An organisation without computers has no compliance percentage to show: the dashboard
// says so and where to start, instead of "0.0%".
func TestDashboardWithoutComputers(t *testing.T) {
	e := newEnvOn(t, storetest.Open(t, store.SQLite), false)
	p := e.browse("GET", "/o/default/", e.signIn("admin", adminPassword), nil)
	if p.status != 200 || !strings.Contains(p.body, "No computers yet") || strings.Contains(p.body, "0.0%") {
		t.Errorf("dashboard of an empty organisation: %d\n%s", p.status, p.body)
	}
}
