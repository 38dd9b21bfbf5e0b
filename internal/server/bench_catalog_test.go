package server_test

// Catalog benchmarks of docs/BENCHMARKS.md: advisory import, payload download against nginx,
// and the advisory list on 50,000 advisories. Each one measures its own baseline in the same
// run. scripts/bench-catalog.sh runs them on SQLite and on a throwaway PostgreSQL:
//
//	go test -run '^$' -bench 'AdvisoryImport|PayloadDownload|AdvisoryList50k' -benchtime 3s ./internal/server
//
// Environment:
//
//	PATCHDAY_TEST_POSTGRES           PostgreSQL server for the PostgreSQL runs (as storetest)
//	PATCHDAY_BENCH_NGINX_WORKERS     nginx worker_processes (default "auto")
//	PATCHDAY_BENCH_PROPOSED_INDEXES  set to 1: BenchmarkAdvisoryList50k also measures the
//	                                 slow filters again after creating the indexes proposed in
//	                                 proposedAdvisoryIndexes (in the benchmark's database only)
//	PATCHDAY_BENCH_EXPLAIN           set to 1: BenchmarkAdvisoryList50k logs the query plan of
//	                                 every filter

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/blob"
	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

// catEnv is a patchday server on a fresh store, over a real loopback TCP listener, with the
// site admin's token and a keep-alive client. Unlike env it works for benchmarks.
type catEnv struct {
	engine store.Engine
	store  *store.Store
	dbURL  string // PostgreSQL: the database; SQLite: "file:" URL of the database file
	http   *httptest.Server
	client *http.Client
	token  string
	orgID  int64 // the default organisation
}

func newCatEnv(b *testing.B, engine store.Engine) *catEnv {
	b.Helper()
	ctx := context.Background()
	e := &catEnv{engine: engine}
	switch engine {
	case store.SQLite:
		// Not b.TempDir: its name comes from the benchmark's, and a '#' in a SQLite path
		// ends the file name of the database URL.
		dir, err := os.MkdirTemp("", "patchday-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		st, err := store.Open(ctx, "", dir, nil)
		if err != nil {
			b.Fatalf("open sqlite store: %v", err)
		}
		b.Cleanup(func() { st.Close() })
		e.store, e.dbURL = st, "file:"+filepath.Join(dir, store.SQLiteFile)
	default:
		e.store, e.dbURL = storetest.OpenURL(b, engine)
	}
	if _, _, err := server.Bootstrap(ctx, e.store, adminPassword); err != nil {
		b.Fatal(err)
	}
	org, err := e.store.OrgBySlug(ctx, "default")
	if err != nil {
		b.Fatal(err)
	}
	e.orgID = org.ID
	blobs, err := blob.OpenDisk(b.TempDir(), blob.DiskOptions{})
	if err != nil {
		b.Fatal(err)
	}
	e.http = httptest.NewServer(server.New(server.Config{Store: e.store, Blobs: blobs, LoginBurst: 1000}))
	b.Cleanup(e.http.Close)
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	e.client = &http.Client{Transport: tr}
	e.token = benchLogin(b, e.http)
	return e
}

// get sends an authenticated GET and returns the status and body.
func (e *catEnv) get(path string) (int, []byte, error) {
	req, err := http.NewRequest("GET", e.http.URL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	res, err := e.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, body, err
}

// rawDB opens the benchmark's database directly: for EXPLAIN, ANALYZE and the proposed
// indexes, never for the data the benchmarks read.
func (e *catEnv) rawDB(b *testing.B) *sql.DB {
	b.Helper()
	driver, dsn := "pgx", e.dbURL
	if e.engine == store.SQLite {
		driver, dsn = "sqlite", e.dbURL+"?_pragma=busy_timeout(10000)&_time_format=sqlite"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// runOps runs op(0) ... op(b.N-1) on n goroutines and returns the measured time.
func runOps(b *testing.B, n int, op func(i int) error) time.Duration {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	b.ResetTimer()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				if err := op(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return b.Elapsed()
}

// results keeps the last (the measured) figure of each sub-benchmark, so that the parent can
// log the ratios of the same run.
type results struct {
	mu sync.Mutex
	m  map[string]float64
}

func (r *results) set(name string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]float64{}
	}
	r.m[name] = v
}

func (r *results) get(name string) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[name]
	return v, ok
}

// --- BenchmarkAdvisoryImport ---------------------------------------------------------------

// csafTemplate is a real CSAF document with its tracking id cut out, so that every import
// can bring a new advisory while the rest of the document stays byte for byte the same.
type csafTemplate struct {
	name           string
	id             string
	prefix, suffix []byte
}

func (t csafTemplate) with(id string) []byte {
	var enc bytes.Buffer
	j := json.NewEncoder(&enc)
	j.SetEscapeHTML(false)
	j.Encode(id)
	quoted := bytes.TrimSuffix(enc.Bytes(), []byte("\n"))
	out := make([]byte, 0, len(t.prefix)+len(quoted)+len(t.suffix))
	return append(append(append(out, t.prefix...), quoted...), t.suffix...)
}

// loadCSAFExamples reads every .json under the shared examples and cuts out the tracking id
// (/document/tracking/id) of each.
func loadCSAFExamples(b *testing.B) []csafTemplate {
	b.Helper()
	root := filepath.Join(sharedCSAF, "examples")
	var out []csafTemplate
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		doc, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var head struct {
			Document struct {
				Tracking struct {
					ID string `json:"id"`
				} `json:"tracking"`
			} `json:"document"`
		}
		if err := json.Unmarshal(doc, &head); err != nil || head.Document.Tracking.ID == "" {
			return fmt.Errorf("%s: no /document/tracking/id (%v)", p, err)
		}
		id := head.Document.Tracking.ID
		var enc bytes.Buffer
		j := json.NewEncoder(&enc)
		j.SetEscapeHTML(false)
		j.Encode(id)
		re := regexp.MustCompile(`"id"\s*:\s*` + regexp.QuoteMeta(strings.TrimSpace(enc.String())))
		locs := re.FindAllIndex(doc, -1)
		if len(locs) != 1 {
			return fmt.Errorf("%s: the tracking id %q occurs %d times as an \"id\" value, want once", p, id, len(locs))
		}
		valueStart := locs[0][1] - (len(strings.TrimSpace(enc.String())))
		tpl := csafTemplate{name: filepath.Base(p), id: id, prefix: doc[:valueStart], suffix: doc[locs[0][1]:]}
		// The cut is right: the rewritten document carries the new id and is still valid.
		probe := tpl.with(id + "-probe")
		if err := json.Unmarshal(probe, &head); err != nil || head.Document.Tracking.ID != id+"-probe" {
			return fmt.Errorf("%s: rewriting the tracking id failed (%v)", p, err)
		}
		if _, err := csaf.Validate(probe); err != nil {
			return fmt.Errorf("%s: invalid after rewriting the tracking id: %v", p, err)
		}
		out = append(out, tpl)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		b.Skipf("skipped: the CSAF examples of ../shared are absent (%v)", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	if len(out) == 0 {
		b.Fatalf("no .json under %s", root)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// importSeq makes every tracking id of the process unique: the servers outlive the
// benchmark's repeated calls.
var importSeq atomic.Int64

// BenchmarkAdvisoryImport measures documents per second of POST /api/v1/orgs/default/advisories
// (full validation, storage, audit, over loopback TCP) on the real CSAF examples, each import
// with a fresh tracking id, against csaf.Validate alone on the same documents: the ratio is
// what storage and HTTP cost on top of validation.
func BenchmarkAdvisoryImport(b *testing.B) {
	docs := loadCSAFExamples(b)
	total := 0
	for _, d := range docs {
		total += len(d.prefix) + len(d.suffix) + len(d.id)
	}
	b.Logf("%d documents, %d bytes in all, mean %d bytes", len(docs), total, total/len(docs))
	doc := func(i int) []byte {
		t := docs[i%len(docs)]
		return t.with(t.id + "-pd" + strconv.FormatInt(importSeq.Add(1), 10))
	}
	report := func(b *testing.B, elapsed time.Duration, bytes int64) float64 {
		docsPerSec := float64(b.N) / elapsed.Seconds()
		b.ReportMetric(docsPerSec, "docs/s")
		b.ReportMetric(float64(bytes)/elapsed.Seconds()/1e6, "MB/s")
		return docsPerSec
	}
	var res results
	clients := []int{1, 4}
	for _, n := range clients {
		b.Run(fmt.Sprintf("baseline=csaf.Validate/clients=%d", n), func(b *testing.B) {
			var sent atomic.Int64
			elapsed := runOps(b, n, func(i int) error {
				d := doc(i)
				sent.Add(int64(len(d)))
				_, err := csaf.Validate(d)
				return err
			})
			res.set(fmt.Sprintf("validate/%d", n), report(b, elapsed, sent.Load()))
		})
	}
	for _, engine := range storetest.Engines() {
		b.Run("patchday="+string(engine), func(b *testing.B) {
			e := newCatEnv(b, engine)
			for _, n := range clients {
				b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
					var sent atomic.Int64
					elapsed := runOps(b, n, func(i int) error {
						d := doc(i)
						sent.Add(int64(len(d)))
						req, _ := http.NewRequest("POST", e.http.URL+"/api/v1/orgs/default/advisories", bytes.NewReader(d))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("Authorization", "Bearer "+e.token)
						r, err := e.client.Do(req)
						if err != nil {
							return err
						}
						body, _ := io.ReadAll(r.Body)
						r.Body.Close()
						if r.StatusCode != 201 {
							return fmt.Errorf("import %s: status %d: %s", docs[i%len(docs)].name, r.StatusCode, body)
						}
						return nil
					})
					res.set(fmt.Sprintf("%s/%d", engine, n), report(b, elapsed, sent.Load()))
				})
			}
		})
	}
	for _, engine := range storetest.Engines() {
		for _, n := range clients {
			v, ok1 := res.get(fmt.Sprintf("validate/%d", n))
			p, ok2 := res.get(fmt.Sprintf("%s/%d", engine, n))
			if ok1 && ok2 {
				b.Logf("ratio import/validate, %s, clients=%d: %.0f / %.0f docs/s = %.3f", engine, n, p, v, p/v)
			}
		}
	}
}

// --- BenchmarkPayloadDownload --------------------------------------------------------------

const (
	payloadSize = 64 << 20
	downloaders = 4
)

// nginxWorkers is nginx's worker_processes in BenchmarkPayloadDownload.
func nginxWorkers() string {
	if v := os.Getenv("PATCHDAY_BENCH_NGINX_WORKERS"); v != "" {
		return v
	}
	return "auto"
}

// startNginx starts nginx in the foreground on a free 127.0.0.1 port, serving root, with a
// configuration of its own under a temporary prefix, and stops it when the benchmark ends. It
// skips the benchmark when nginx is not installed.
func startNginx(b *testing.B, root string) string {
	b.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/nginx"); err2 != nil {
			b.Skip("nginx is not installed (Debian package nginx; scripts/bench-catalog.sh installs it): the download benchmark needs it as its baseline")
		}
		bin = "/usr/sbin/nginx"
	}
	prefix, err := os.MkdirTemp("", "patchday-nginx-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(prefix) })
	os.Chmod(prefix, 0o755) // the workers may run as another user (nobody when we are root)
	for attempt := 1; ; attempt++ {
		base, stop, err := tryNginx(bin, prefix, root, freePort(b))
		if err == nil {
			b.Cleanup(stop)
			ver, _ := exec.Command(bin, "-v").CombinedOutput()
			b.Logf("%s on %s, worker_processes %s, sendfile on, access_log off", strings.TrimSpace(string(ver)), base, nginxWorkers())
			return base
		}
		if attempt == 3 || !strings.Contains(err.Error(), "Address already in use") {
			b.Fatal(err)
		}
	}
}

// tryNginx starts nginx on port and waits until it listens.
func tryNginx(bin, prefix, root string, port int) (base string, stop func(), err error) {
	conf := filepath.Join(prefix, "nginx.conf")
	errorLog := filepath.Join(prefix, "error.log")
	text := fmt.Sprintf(`worker_processes %s;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    server {
        listen 127.0.0.1:%[3]d;
        root %[4]s;
        location / { }
    }
}
`, nginxWorkers(), prefix, port, root)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return "", nil, err
	}
	os.Remove(errorLog)
	cmd := exec.Command(bin, "-c", conf, "-p", prefix, "-e", errorLog, "-g", "daemon off;")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start nginx: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGQUIT) // graceful: the master stops its workers
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(errorLog)
			return "", nil, fmt.Errorf("nginx exited: %v\n%s%s", err, out.Bytes(), log)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return "http://" + addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("nginx did not listen on %s: %s", addr, out.Bytes())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// download fetches url whole and checks its length; sum also computes its SHA-256.
func download(client *http.Client, url string, buf []byte, sum bool) (string, error) {
	res, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return "", fmt.Errorf("GET %s: status %d", url, res.StatusCode)
	}
	h := sha256.New()
	var n int64
	for {
		k, err := res.Body.Read(buf)
		n += int64(k)
		if sum {
			h.Write(buf[:k])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	if n != payloadSize {
		return "", fmt.Errorf("GET %s: %d bytes, want %d", url, n, payloadSize)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// BenchmarkPayloadDownload measures the download throughput of a 64 MiB payload from
// patchday (GET /payloads/sha256/{digest}) against nginx serving the same file with sendfile,
// through the same Go client (keep-alive, 4 parallel downloaders) in the same run. A plain
// Go http.FileServer on the same file is measured too, as a reference for what Go's own
// file serving reaches. patchday runs on SQLite: a download makes one small query.
func BenchmarkPayloadDownload(b *testing.B) {
	root, err := os.MkdirTemp("", "patchday-payload-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	data := make([]byte, payloadSize)
	rand.Read(data)
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	file := filepath.Join(root, "payload.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		b.Fatal(err)
	}
	nginx := startNginx(b, root)

	e := newCatEnv(b, store.SQLite)
	req, _ := http.NewRequest("PUT", e.http.URL+"/api/v1/orgs/default/payloads?filename=payload.bin&sha256="+digest, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := e.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		b.Fatalf("upload: status %d: %s", res.StatusCode, body)
	}
	data = nil

	gofs := httptest.NewServer(http.FileServer(http.Dir(root)))
	defer gofs.Close()

	servers := []struct{ name, url string }{
		{"nginx", nginx + "/payload.bin"},
		{"patchday", e.http.URL + "/payloads/sha256/" + digest},
		{"go-fileserver", gofs.URL + "/payload.bin"},
	}
	var res2 results
	for _, s := range servers {
		b.Run("server="+s.name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: downloaders, DisableCompression: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			buf := make([]byte, 256<<10)
			if got, err := download(client, s.url, buf, true); err != nil || got != digest {
				b.Fatalf("%s: digest %s, want %s (%v)", s.url, got, digest, err)
			}
			bufs := make(chan []byte, downloaders)
			for range downloaders {
				bufs <- make([]byte, 256<<10)
			}
			b.SetBytes(payloadSize)
			elapsed := runOps(b, downloaders, func(int) error {
				buf := <-bufs
				defer func() { bufs <- buf }()
				_, err := download(client, s.url, buf, false)
				return err
			})
			res2.set(s.name, float64(b.N)*payloadSize/elapsed.Seconds()/1e6)
		})
	}
	n, ok1 := res2.get("nginx")
	p, ok2 := res2.get("patchday")
	g, ok3 := res2.get("go-fileserver")
	if ok1 && ok2 && ok3 {
		b.Logf("MB/s: nginx %.0f, patchday %.0f, go-fileserver %.0f; ratio patchday/nginx = %.3f, go-fileserver/nginx = %.3f",
			n, p, g, p/n, g/n)
	}
}

// --- BenchmarkAdvisoryList50k --------------------------------------------------------------

const listSize = 50_000

var (
	benchVendors    = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Soylent", "Tyrell", "Cyberdyne", "Wonka"}
	benchComponents = []string{"OpenSSL", "nginx", "PostgreSQL", "Linux kernel", "glibc", "OpenSSH", "curl", "libxml2",
		"systemd", "sudo", "Apache HTTP Server", "Tomcat", "log4j", "zlib", "Samba", "BIND", "Exim", "Python", "Node.js",
		"OpenJDK", "Firefox ESR", "Thunderbird", "GnuTLS", "libpng", "ImageMagick", "Ghostscript", "Git", "Vim", "QEMU",
		"Xen", "containerd", "runc", "Kubernetes", "Docker Engine", "Redis", "MariaDB", "PHP", "Ruby", "Perl", "Go"}
	benchWeaknesses = []string{"buffer overflow", "use-after-free", "denial of service", "SQL injection",
		"cross-site scripting", "privilege escalation", "information disclosure", "path traversal",
		"remote code execution", "integer overflow", "race condition", "improper certificate validation"}
)

// cvssRanges are the CVSS v3 base scores of each severity.
var cvssRanges = map[string][2]float64{"critical": {9, 10}, "high": {7, 8.9}, "medium": {4, 6.9}, "low": {0.1, 3.9}, "none": {0, 0}}

// benchAdvisories makes n realistic advisory index rows, the same on every call: severities
// from critical (8%) to unknown, 90% final, 5% interim, 5% draft, releases over the 10 years
// before 2026-11-23, 1 to 3 CVEs and 1 to 4 product names (of 200) each.
func benchAdvisories(orgID int64, n int) []store.Advisory {
	rng := mrand.New(mrand.NewPCG(2026, 11))
	end := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	start := end.AddDate(-10, 0, 0)
	span := end.Sub(start)
	seq := map[int]int{}
	out := make([]store.Advisory, n)
	for i := range out {
		initial := start.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Second)
		current := initial
		if rng.IntN(10) < 4 {
			current = initial.Add(time.Duration(rng.Int64N(int64(90 * 24 * time.Hour)))).Truncate(time.Second)
		}
		year := initial.Year()
		seq[year]++
		var sev string
		var cvss *float64
		switch p := rng.IntN(100); {
		case p < 8:
			sev = "critical"
		case p < 38:
			sev = "high"
		case p < 78:
			sev = "medium"
		case p < 93:
			sev = "low"
		case p < 95:
			sev = "none"
		default:
			sev = "unknown"
		}
		if r, ok := cvssRanges[sev]; ok {
			v := math.Round((r[0]+rng.Float64()*(r[1]-r[0]))*10) / 10
			cvss = &v
		}
		status := "final"
		switch p := rng.IntN(100); {
		case p < 5:
			status = "draft"
		case p < 10:
			status = "interim"
		}
		tlp := "WHITE"
		if p := rng.IntN(10); p == 0 {
			tlp = "GREEN"
		} else if p == 1 {
			tlp = "AMBER"
		}
		category := "csaf_security_advisory"
		if rng.IntN(5) == 0 {
			category = "csaf_vex"
		}
		vendor := benchVendors[rng.IntN(len(benchVendors))]
		component := benchComponents[rng.IntN(len(benchComponents))]
		products := []string{fmt.Sprintf("%s %d", component, 1+rng.IntN(5))}
		for range rng.IntN(4) {
			products = append(products, fmt.Sprintf("%s %d", benchComponents[rng.IntN(len(benchComponents))], 1+rng.IntN(5)))
		}
		cves := make([]string, 1+rng.IntN(3))
		for k := range cves {
			cves[k] = fmt.Sprintf("CVE-%d-%d", year, 1000+rng.IntN(49000))
		}
		revisions := 1 + rng.IntN(3)
		out[i] = store.Advisory{
			OrgID:      orgID,
			TrackingID: fmt.Sprintf("PD-SA-%d-%05d", year, seq[year]),
			Title: fmt.Sprintf("%s security update for %s: %s", vendor, component,
				benchWeaknesses[rng.IntN(len(benchWeaknesses))]),
			Category: category, Publisher: vendor + " PSIRT",
			Severity: sev, SeverityRank: csaf.SeverityRank(sev), CVSSMax: cvss, TLP: tlp, Status: status,
			Version: strconv.Itoa(revisions), Revisions: revisions,
			InitialRelease: initial, CurrentRelease: current,
			Products: strings.Join(products, "\n"), CVEs: cves,
		}
	}
	return out
}

// seedAdvisories stores the advisories through the store API in transactions of 10,000.
func seedAdvisories(b *testing.B, e *catEnv, as []store.Advisory) {
	b.Helper()
	ctx := context.Background()
	const batch = 10_000
	workers := 1 // SQLite has one writer
	if e.engine == store.Postgres {
		workers = 4 // round trips dominate: overlap them
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(as)/batch+1)
	sem := make(chan struct{}, workers)
	for lo := 0; lo < len(as); lo += batch {
		part := as[lo:min(lo+batch, len(as))]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs <- e.store.Update(ctx, func(tx *store.Tx) error {
				for _, a := range part {
					if _, err := tx.SaveAdvisory(ctx, a); err != nil {
						return err
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%s: %d advisories stored in %v", e.engine, len(as), time.Since(start).Round(time.Millisecond))
}

// proposedAdvisoryIndexes are the schema changes the measurements suggest (see the report in
// docs/BENCHMARKS.md). With PATCHDAY_BENCH_PROPOSED_INDEXES=1 they are made in the
// benchmark's own database only, never in the migrations, and every filter is measured again
// under "index=proposed".
var proposedAdvisoryIndexes = map[store.Engine][]string{
	store.SQLite: {
		// Without statistics SQLite takes this index for min_severity, reads every match and
		// sorts them all; walking advisories_org_release_id and filtering stops after 51.
		`DROP INDEX advisories_org_severity`,
		// status=draft: the drafts in release order, without walking the others.
		`CREATE INDEX advisories_org_status_release ON advisories (org_id, status, current_release)`,
	},
	store.Postgres: {
		// q= and product=: infix LIKE through trigram indexes (pg_trgm ships with Debian's
		// postgresql package; CREATE EXTENSION needs the database owner from PostgreSQL 13 on).
		`CREATE EXTENSION IF NOT EXISTS pg_trgm`,
		`CREATE INDEX advisories_search_trgm ON advisories USING gin (search gin_trgm_ops)`,
		`CREATE INDEX advisories_products_trgm ON advisories USING gin (lower(products) gin_trgm_ops)`,
	},
}

// listCase is one request of the advisory list.
type listCase struct{ name, query string }

// BenchmarkAdvisoryList50k measures the latency of GET /api/v1/orgs/default/advisories with
// each filter, one client, on 50,000 advisories, against GET /api/v1/orgs/default (an
// authenticated GET of a small object) on the same server in the same run.
func BenchmarkAdvisoryList50k(b *testing.B) {
	for _, engine := range storetest.Engines() {
		b.Run("engine="+string(engine), func(b *testing.B) {
			e := newCatEnv(b, engine)
			as := benchAdvisories(e.orgID, listSize)
			seedAdvisories(b, e, as)
			db := e.rawDB(b)
			if engine == store.Postgres {
				// What autovacuum does soon after a bulk load anyway: planner statistics.
				if _, err := db.Exec(`ANALYZE advisories; ANALYZE advisory_cves`); err != nil {
					b.Fatal(err)
				}
			}
			cases := listCases(b, e, as)
			var res results
			run := func(name, query string) {
				path := "/api/v1/orgs/default/advisories" + query
				if strings.HasSuffix(name, "baseline=GET_org") {
					path = "/api/v1/orgs/default"
				}
				b.Run(name, func(b *testing.B) {
					if status, body, err := e.get(path); err != nil || status != 200 {
						b.Fatalf("GET %s: %d %s %v", path, status, body, err)
					}
					elapsed := runOps(b, 1, func(int) error {
						status, body, err := e.get(path)
						if err == nil && status != 200 {
							err = fmt.Errorf("GET %s: %d %s", path, status, body)
						}
						return err
					})
					res.set(name, float64(elapsed.Nanoseconds())/float64(b.N))
				})
			}
			run("baseline=GET_org", "")
			for _, c := range cases {
				run("filter="+c.name, c.query)
			}
			if os.Getenv("PATCHDAY_BENCH_EXPLAIN") == "1" {
				explainListCases(b, e, db, cases)
			}
			if os.Getenv("PATCHDAY_BENCH_PROPOSED_INDEXES") == "1" {
				for _, stmt := range proposedAdvisoryIndexes[engine] {
					if _, err := db.Exec(stmt); err != nil {
						b.Fatalf("%s: %v", stmt, err)
					}
				}
				if engine == store.Postgres {
					db.Exec(`ANALYZE advisories`)
				}
				b.Logf("%s: proposed schema changes made:\n%s", engine, strings.Join(proposedAdvisoryIndexes[engine], ";\n"))
				run("index=proposed/baseline=GET_org", "")
				for _, c := range cases {
					run("index=proposed/filter="+c.name, c.query)
				}
				if os.Getenv("PATCHDAY_BENCH_EXPLAIN") == "1" {
					explainListCases(b, e, db, cases)
				}
			}
			base, ok := res.get("baseline=GET_org")
			if !ok {
				return
			}
			var lines []string
			for _, prefix := range []string{"", "index=proposed/"} {
				for _, c := range cases {
					if v, ok := res.get(prefix + "filter=" + c.name); ok {
						lines = append(lines, fmt.Sprintf("%-40s %12.0f ns/op  %7.2f x baseline", prefix+c.name, v, v/base))
					}
				}
			}
			b.Logf("%s: baseline GET /api/v1/orgs/default %.0f ns/op\n%s", engine, base, strings.Join(lines, "\n"))
		})
	}
}

// listCases are the filters measured; it checks that each one finds something, and reports
// how many advisories each matches.
func listCases(b *testing.B, e *catEnv, as []store.Advisory) []listCase {
	b.Helper()
	cve := as[len(as)/4].CVEs[0]
	rare := as[len(as)/3].TrackingID
	// A cursor 40,000 advisories deep, by following the list with pages of 500.
	cursor := ""
	for range 80 {
		status, body, err := e.get("/api/v1/orgs/default/advisories?limit=500&cursor=" + cursor)
		if err != nil || status != 200 {
			b.Fatalf("list: %d %s %v", status, body, err)
		}
		var page struct {
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil || page.NextCursor == "" {
			b.Fatalf("list: no next cursor: %v", err)
		}
		cursor = page.NextCursor
	}
	cases := []listCase{
		{"none", ""},
		{"q=common", "?q=openssl"},
		{"q=rare", "?q=" + url.QueryEscape(strings.ToLower(rare))},
		{"cve", "?cve=" + cve},
		{"min_severity=critical", "?min_severity=critical"},
		{"since+until=month", "?since=2021-03-01&until=2021-04-01"},
		{"status=draft", "?status=draft"},
		{"product", "?product=" + url.QueryEscape("OpenSSH 3")},
		{"cursor=deep40000", "?cursor=" + cursor},
	}
	var summary []string
	for _, c := range cases {
		status, body, err := e.get("/api/v1/orgs/default/advisories" + c.query)
		if err != nil || status != 200 {
			b.Fatalf("%s: %d %s %v", c.name, status, body, err)
		}
		var page struct {
			Items      []json.RawMessage
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil || len(page.Items) == 0 {
			b.Fatalf("%s: no advisories: %s %v", c.name, body, err)
		}
		summary = append(summary, fmt.Sprintf("%s: page of %d (%d bytes), matching %d", c.name, len(page.Items), len(body), countMatches(as, c)))
	}
	b.Logf("%s: %s", e.engine, strings.Join(summary, "; "))
	return cases
}

// countMatches counts the advisories a filter selects (the cursor case: the rest of the list).
func countMatches(as []store.Advisory, c listCase) int {
	q, _ := url.ParseQuery(strings.TrimPrefix(c.query, "?"))
	since, until := time.Time{}, time.Time{}
	if v := q.Get("since"); v != "" {
		since, _ = time.Parse(time.DateOnly, v)
	}
	if v := q.Get("until"); v != "" {
		until, _ = time.Parse(time.DateOnly, v)
	}
	if q.Has("cursor") {
		return len(as) - 40_000
	}
	n := 0
	for _, a := range as {
		ok := true
		if v := strings.ToLower(q.Get("q")); v != "" {
			ok = ok && (strings.Contains(strings.ToLower(a.TrackingID), v) || strings.Contains(strings.ToLower(a.Title), v) ||
				strings.Contains(strings.ToLower(a.Products), v))
		}
		if v := strings.ToLower(q.Get("product")); v != "" {
			ok = ok && strings.Contains(strings.ToLower(a.Products), v)
		}
		if v := q.Get("cve"); v != "" {
			found := false
			for _, c := range a.CVEs {
				found = found || c == v
			}
			ok = ok && found
		}
		if q.Has("min_severity") {
			ok = ok && a.SeverityRank >= csaf.SeverityRank(q.Get("min_severity"))
		}
		if v := q.Get("status"); v != "" {
			ok = ok && a.Status == v
		}
		if !since.IsZero() {
			ok = ok && !a.CurrentRelease.Before(since)
		}
		if !until.IsZero() {
			ok = ok && a.CurrentRelease.Before(until)
		}
		if ok {
			n++
		}
	}
	return n
}

// explainListCases logs the plan of each filter's query. The SQL mirrors
// store.ListAdvisories as of migration 00006 (filters, order, limit 51); the CVE lists that follow are looked up
// by primary key. On PostgreSQL it shows the custom plan (for these values) and the generic
// plan: the server's statements are prepared (pgx caches them), and PostgreSQL switches to
// the generic plan after five executions when it looks no dearer.
func explainListCases(b *testing.B, e *catEnv, db *sql.DB, cases []listCase) {
	b.Helper()
	ctx := context.Background()
	for _, c := range cases {
		q, _ := url.ParseQuery(strings.TrimPrefix(c.query, "?"))
		where := []string{"org_id = $1"}
		args := []any{e.orgID}
		arg := func(v any) string {
			args = append(args, v)
			return fmt.Sprintf("$%d", len(args))
		}
		like := func(s string) string { return "%" + strings.ToLower(s) + "%" }
		if v := q.Get("q"); v != "" {
			where = append(where, "search LIKE "+arg(like(v))+" ESCAPE '\\'")
		}
		if v := q.Get("product"); v != "" {
			where = append(where, "lower(products) LIKE "+arg(like(v))+" ESCAPE '\\'")
		}
		if v := q.Get("cve"); v != "" {
			where = append(where, "id IN (SELECT advisory_id FROM advisory_cves WHERE cve = "+arg(v)+")")
		}
		if q.Has("min_severity") {
			where = append(where, "severity_rank >= "+arg(csaf.SeverityRank(q.Get("min_severity"))))
		}
		if v := q.Get("status"); v != "" {
			where = append(where, "status = "+arg(v))
		}
		for _, tf := range []struct{ field, op string }{{"since", ">="}, {"until", "<"}} {
			if v := q.Get(tf.field); v != "" {
				t, _ := time.Parse(time.DateOnly, v)
				where = append(where, "current_release "+tf.op+" "+arg(t.UTC()))
			}
		}
		if v := q.Get("cursor"); v != "" {
			// The server's cursor: base64url of "a1:<release in µs>:<id>".
			raw, _ := base64.RawURLEncoding.DecodeString(v)
			parts := strings.Split(string(raw), ":")
			us, _ := strconv.ParseInt(parts[1], 10, 64)
			id, _ := strconv.ParseInt(parts[2], 10, 64)
			where = append(where, "(current_release, id) < ("+arg(time.UnixMicro(us).UTC())+", "+arg(id)+")")
		}
		query := `SELECT id FROM advisories WHERE ` + strings.Join(where, " AND ") +
			` ORDER BY current_release DESC, id DESC LIMIT ` + arg(51)
		if e.engine == store.SQLite {
			b.Logf("sqlite plan of %s:\n    %s", c.name, strings.Join(queryPlan(b, db, "EXPLAIN QUERY PLAN "+query, args...), "\n    "))
			continue
		}
		custom := queryPlan(b, db, "EXPLAIN (ANALYZE, COSTS OFF) "+query, args...)
		// The generic plan: a prepared statement, forced generic, executed with the values.
		conn, err := db.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		lits := make([]string, len(args))
		for i, a := range args {
			switch v := a.(type) {
			case string:
				lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
			case time.Time:
				lits[i] = "'" + v.Format(time.RFC3339Nano) + "'::timestamptz"
			default:
				lits[i] = fmt.Sprint(v)
			}
		}
		for _, stmt := range []string{"SET plan_cache_mode = force_generic_plan", "PREPARE bench_list AS " + query} {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				b.Fatalf("%s: %v", stmt, err)
			}
		}
		generic := queryPlan(b, conn, "EXPLAIN (ANALYZE, COSTS OFF) EXECUTE bench_list("+strings.Join(lits, ", ")+")")
		conn.ExecContext(ctx, "DEALLOCATE bench_list")
		conn.ExecContext(ctx, "RESET plan_cache_mode")
		conn.Close()
		b.Logf("postgres plans of %s:\n  custom plan:\n    %s\n  generic plan:\n    %s", c.name,
			strings.Join(custom, "\n    "), strings.Join(generic, "\n    "))
	}
}

// queryPlan runs an EXPLAIN and returns the last column of its rows.
func queryPlan(b *testing.B, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) []string {
	b.Helper()
	rows, err := db.QueryContext(context.Background(), query, args...)
	if err != nil {
		b.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var plan []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			b.Fatal(err)
		}
		plan = append(plan, fmt.Sprint(vals[len(vals)-1]))
	}
	return plan
}
