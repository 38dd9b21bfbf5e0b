package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
)

// The OpenAPI document is valid and describes exactly the registered routes.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, store.SQLite)
	body := e.must(200, "GET", "/api/v1/openapi.json", "", nil).body
	doc, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	routes := e.srv.Routes()
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is missing from openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("openapi.yaml documents %s, which the server does not serve", d)
		}
	}
	// Every path parameter in a route is declared in the document.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			params := append(item.Parameters, op.Parameters...)
			for _, seg := range strings.Split(path, "/") {
				if !strings.HasPrefix(seg, "{") {
					continue
				}
				name := strings.Trim(seg, "{}")
				found := false
				for _, p := range params {
					if p.Value != nil && p.Value.In == "path" && p.Value.Name == name {
						found = true
					}
				}
				if !found {
					t.Errorf("%s %s: path parameter %s not declared", method, path, name)
				}
			}
		}
	}
}

// The served document is the embedded one, as JSON.
func TestOpenAPIJSONIsServedDocument(t *testing.T) {
	b, err := server.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, store.SQLite)
	r := e.must(200, "GET", "/api/v1/openapi.json", "", nil)
	if string(r.body) != string(b) || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("served %d bytes (%s), embedded %d", len(r.body), r.header.Get("Content-Type"), len(b))
	}
}
