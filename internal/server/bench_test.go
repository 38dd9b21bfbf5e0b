package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store/storetest"
)

// BenchmarkAuthenticatedGET measures an authenticated GET of a small object (one
// organisation) over loopback TCP, against a plain net/http handler answering a JSON object
// of the same size through the same client: the baseline for docs/BENCHMARKS.md.
//
//	go test -run '^$' -bench AuthenticatedGET -benchtime 5s ./internal/server
func BenchmarkAuthenticatedGET(b *testing.B) {
	body := []byte(`{"id":1,"slug":"default","name":"Default organisation","created_at":"2026-11-23T08:00:00Z"}` + "\n")
	b.Run("baseline=net/http", func(b *testing.B) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}))
		defer ts.Close()
		load(b, ts.URL+"/api/v1/orgs/default", "")
	})
	for _, engine := range storetest.Engines() {
		for _, cacheTTL := range []time.Duration{server.DefaultAuthCacheTTL, -1} {
			name := "patchday=" + string(engine)
			if cacheTTL < 0 {
				name += ",authcache=off"
			}
			b.Run(name, func(b *testing.B) {
				st := storetest.Open(b, engine)
				if _, _, err := server.Bootstrap(context.Background(), st, adminPassword); err != nil {
					b.Fatal(err)
				}
				ts := httptest.NewServer(server.New(server.Config{Store: st, AuthCacheTTL: cacheTTL}))
				defer ts.Close()
				tok := benchLogin(b, ts)
				load(b, ts.URL+"/api/v1/orgs/default", tok)
			})
		}
	}
}

func benchLogin(b *testing.B, ts *httptest.Server) string {
	res, err := http.Post(ts.URL+"/api/v1/auth/login", "application/json",
		stringsReader(`{"username":"admin","password":"`+adminPassword+`"}`))
	if err != nil || res.StatusCode != 201 {
		b.Fatalf("login: %v %v", res, err)
	}
	defer res.Body.Close()
	var tok struct{ Token string }
	decodeJSON(b, res.Body, &tok)
	return tok.Token
}

// load sends GETs from parallel keep-alive clients and reports requests per second.
func load(b *testing.B, url, token string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
