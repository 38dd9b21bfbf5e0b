package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create the PostgreSQL database
	"golang.org/x/time/rate"

	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
)

// agentVersion is what the simulated agents report.
const agentVersion = "agentload linux/amd64"

type checkInsOptions struct {
	agents        int
	concurrency   int
	duration      time.Duration
	warmup        time.Duration
	rounds        int
	slices        int
	packages      int
	dpkgStatus    string
	enrollWorkers int
	verifyEvery   int
	flushEvery    time.Duration
	sqlite        bool
	postgres      string
	profileDir    string
	serverLog     string
}

func runCheckIns(ctx context.Context, log *slog.Logger, args []string) error {
	var o checkInsOptions
	fs := flag.NewFlagSet("agentload checkins", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: agentload checkins [flags]

Starts a patchday server in this process (SQLite in a temporary directory; also PostgreSQL
with -postgres), enrolls -agents simulated agents through POST /api/v1/agent/enroll with
inventories made from this machine's dpkg status, gives each its first signed assignment
list, and then measures steady-state check-ins (inventory hash, health, sequence and key id;
nothing changed) from -concurrency workers against a plain net/http handler that decodes the
same requests and answers the same bytes, with the same client, in the same run.

`)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.agents, "agents", 5000, "simulated agents to enroll")
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent check-in workers (and idle keep-alive connections)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per server and round")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load of each server at the start of each round")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds per engine, each measuring both servers, on one enrolled fleet")
	fs.IntVar(&o.slices, "slices", 5, "slices per round: the servers take turns (ABBA) for -duration/-slices each, so that outside load falls on both alike")
	fs.IntVar(&o.packages, "packages", 1500, "packages per inventory: the real ones of -dpkg-status, padded with companions (-dev, -doc, ...) when fewer")
	fs.StringVar(&o.dpkgStatus, "dpkg-status", "/var/lib/dpkg/status", "dpkg status file the inventories are made from (only read)")
	fs.IntVar(&o.enrollWorkers, "enroll-workers", 4, "parallel enrollments")
	fs.IntVar(&o.verifyEvery, "verify-every", 16, "verify the ed25519 signature of every n-th answer of each worker (0: never); every other answer must carry the same document digest")
	fs.DurationVar(&o.flushEvery, "flush-every", 5*time.Second, "the background work of Server.Background (flush of check-in times, applicability poll) runs after every such time of patchday load (patchday serve: every 5s)")
	fs.BoolVar(&o.sqlite, "sqlite", true, "measure the server on SQLite")
	fs.StringVar(&o.postgres, "postgres", os.Getenv("PATCHDAY_BENCH_POSTGRES"), "URL of a PostgreSQL server: also measure on a new database there, dropped afterwards [env PATCHDAY_BENCH_POSTGRES]")
	fs.StringVar(&o.serverLog, "server-log", "", "write the server's log (text, level info, as patchday serve logs by default) to this file; default: no log")
	fs.StringVar(&o.profileDir, "cpuprofile-dir", "", "after the rounds, load patchday alone for -duration more under a CPU profile, written to DIR/cpu-ENGINE.pprof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("checkins: unexpected arguments %q", fs.Args())
	case o.agents < 1 || o.concurrency < 1 || o.rounds < 1 || o.slices < 1 || o.enrollWorkers < 1 || o.packages < 1:
		return errors.New("checkins: -agents, -concurrency, -rounds, -slices, -enroll-workers and -packages must be at least 1")
	case o.duration <= 0 || o.flushEvery <= 0:
		return errors.New("checkins: -duration and -flush-every must be positive")
	case !o.sqlite && o.postgres == "":
		return errors.New("checkins: nothing to measure: -sqlite=false and no -postgres")
	}

	fl, err := newFleet(ctx, o.dpkgStatus, o.packages)
	if err != nil {
		return err
	}
	log.Info("inventories", "agents", o.agents, "packages", len(fl.base.Packages), "real_packages", fl.realPkgs,
		"os", fl.base.OSName, "inventory_json_bytes", jsonSize(fl.inventory(0)))

	var results []engineResult
	if o.sqlite {
		r, err := measureEngine(ctx, log, o, fl, "sqlite", "")
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		results = append(results, r)
	}
	if o.postgres != "" {
		dbURL, drop, err := newPostgresDB(ctx, o.postgres)
		if err != nil {
			return err
		}
		r, err := measureEngine(ctx, log, o, fl, "postgres", dbURL)
		drop()
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		results = append(results, r)
	}
	report(os.Stdout, o, fl, results)
	return nil
}

func jsonSize(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}

// engineResult is what was measured on one engine.
type engineResult struct {
	engine     string
	enrollTime time.Duration
	rounds     []roundResult
	flushes    flushStats
	answerSize int
	requestLen int
}

// roundResult is one round: the baseline and patchday, and the machine's CPU meanwhile.
type roundResult struct {
	pair [2]loadResult // net/http, patchday
	cpu  machineCPU
}

func (r roundResult) ratio() float64 { return r.pair[1].rate() / r.pair[0].rate() }

// machineCPU is the CPU time used on the whole machine and by this process.
type machineCPU struct {
	wall, busy, self time.Duration
}

func (a machineCPU) sub(b machineCPU) machineCPU {
	return machineCPU{wall: a.wall - b.wall, busy: a.busy - b.busy, self: a.self - b.self}
}

// elsewhere is how many cores were busy outside this process on average: PostgreSQL, and
// whatever else runs on the machine.
func (a machineCPU) elsewhere() float64 { return (a.busy - a.self).Seconds() / a.wall.Seconds() }

// readMachineCPU reads the busy time of all CPUs from /proc/stat and this process's CPU time.
func readMachineCPU() (machineCPU, error) {
	m := machineCPU{wall: time.Duration(time.Now().UnixNano())}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return m, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks int64
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return m, fmt.Errorf("/proc/stat: %w", err)
		}
		if i != 3 && i != 4 { // not idle, not iowait
			ticks += n
		}
	}
	m.busy = time.Duration(ticks) * time.Second / clockTicks()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return m, err
	}
	m.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return m, nil
}

// measureEngine starts a server on the engine (dbURL "" is SQLite in a temporary
// directory), enrolls the fleet and runs the rounds.
func measureEngine(ctx context.Context, log *slog.Logger, o checkInsOptions, fl *fleet, engine, dbURL string) (engineResult, error) {
	res := engineResult{engine: engine}
	dir, err := os.MkdirTemp("", "agentload-"+engine+"-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, dbURL, dir, nil)
	if err != nil {
		return res, err
	}
	defer st.Close()
	if _, _, err := server.Bootstrap(ctx, st, adminPassword); err != nil {
		return res, err
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return res, err
	}
	// Each simulated agent checks in a few times a second here, where a real one checks in
	// once an interval: the per-computer limit (AgentRate) is lifted so that it does not
	// refuse them, but its bookkeeping still runs at every check-in.
	cfg := server.Config{Store: st, SigningKey: key, AgentRate: rate.Inf}
	if o.serverLog != "" {
		f, err := os.OpenFile(o.serverLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return res, fmt.Errorf("server log: %w", err)
		}
		defer f.Close()
		cfg.Logger = slog.New(slog.NewTextHandler(f, nil))
	}
	// The evaluator is made here, as server.New would, so that the background loop below
	// can poll it as Server.Background does.
	cfg.Evaluator = compliance.NewEvaluator(st, cfg.Logger)
	if err := cfg.Evaluator.Load(ctx); err != nil {
		return res, fmt.Errorf("applicability: %w", err)
	}
	srv := server.New(cfg)
	pdURL, stopPD, err := serveHTTP(srv)
	if err != nil {
		return res, err
	}
	defer stopPD()
	flush := startFlusher(srv, cfg.Evaluator, o.flushEvery, log)
	defer flush.stop()

	client := newClient(o.concurrency)
	defer client.CloseIdleConnections()
	api := &apiClient{base: pdURL, client: client}
	if err := api.login(ctx); err != nil {
		return res, err
	}
	token, err := api.enrollToken(ctx)
	if err != nil {
		return res, err
	}

	log.Info("enrolling", "engine", engine, "agents", o.agents, "workers", o.enrollWorkers)
	t0 := time.Now()
	agents, err := enroll(ctx, log, client, pdURL, token, pub, fl, o)
	if err != nil {
		return res, err
	}
	res.enrollTime = time.Since(t0)
	log.Info("enrolled", "engine", engine, "agents", len(agents), "took", res.enrollTime.Round(time.Millisecond),
		"per_second", fmt.Sprintf("%.0f", float64(len(agents))/res.enrollTime.Seconds()))

	canned, err := firstCheckIns(ctx, client, pdURL, agents, o.concurrency)
	if err != nil {
		return res, err
	}
	res.answerSize, res.requestLen = len(canned), len(agents[0].body)
	baseURL, stopBase, err := serveHTTP(baselineHandler(canned))
	if err != nil {
		return res, err
	}
	defer stopBase()
	owner0 := agents[0]
	targets := [2]target{
		{name: "net/http", url: baseURL + protocol.PathCheckIn, owner: func(*simAgent) *simAgent { return owner0 }},
		{name: "patchday", url: pdURL + protocol.PathCheckIn, owner: func(a *simAgent) *simAgent { return a }},
	}

	// Each round warms both servers up, then alternates between them in slices (ABBA), so
	// that other load on the machine and drift (GC, caches) fall on both alike.
	lo := loadOptions{concurrency: o.concurrency, duration: o.duration / time.Duration(o.slices), verifyEvery: o.verifyEvery}
	for round := range o.rounds {
		for _, t := range targets {
			if o.warmup <= 0 {
				break
			}
			flush.active.Store(t.name == "patchday")
			w := load(ctx, client, t, agents, loadOptions{concurrency: o.concurrency, duration: o.warmup, verifyEvery: o.verifyEvery})
			flush.active.Store(false)
			if w.errors > 0 {
				return res, fmt.Errorf("%s warm-up: %d errors, the first: %w", t.name, w.errors, w.firstErr)
			}
		}
		var rr roundResult
		cpu0, err := readMachineCPU()
		if err != nil {
			return res, err
		}
		for slice := range o.slices {
			order := [2]int{0, 1}
			if slice%2 == 1 {
				order = [2]int{1, 0}
			}
			for _, i := range order {
				flush.active.Store(i == 1)
				r := load(ctx, client, targets[i], agents, lo)
				flush.active.Store(false)
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				rr.pair[i].add(r)
			}
		}
		cpu1, err := readMachineCPU()
		if err != nil {
			return res, err
		}
		rr.cpu = cpu1.sub(cpu0)
		for _, r := range rr.pair {
			if r.errors > 0 {
				return res, fmt.Errorf("%s, round %d: %d errors in %d check-ins, the first: %w", r.target, round+1, r.errors, r.n+r.errors, r.firstErr)
			}
			log.Info("measured", "engine", engine, "round", round+1, "server", r.target, "checkins_per_s", fmt.Sprintf("%.0f", r.rate()),
				"p50", r.percentile(50), "p99", r.percentile(99), "verified", r.verified)
		}
		log.Info("ratio", "engine", engine, "round", round+1, "patchday/net/http", fmt.Sprintf("%.2f", rr.ratio()),
			"cores_busy_outside_this_process", fmt.Sprintf("%.2f", rr.cpu.elsewhere()))
		res.rounds = append(res.rounds, rr)
	}
	res.flushes = flush.stats()

	if o.profileDir != "" {
		path := filepath.Join(o.profileDir, "cpu-"+engine+".pprof")
		stop, err := startProfile(path)
		if err != nil {
			return res, err
		}
		flush.active.Store(true)
		r := load(ctx, client, targets[1], agents, loadOptions{concurrency: o.concurrency, duration: o.duration, verifyEvery: o.verifyEvery})
		flush.active.Store(false)
		if err := stop(); err != nil {
			return res, err
		}
		log.Info("cpu profile of a patchday phase", "path", path, "checkins_per_s", fmt.Sprintf("%.0f", r.rate()))
	}
	res.flushes = flush.stats()
	return res, nil
}

// enroll enrolls the fleet through the real enrollment endpoint.
func enroll(ctx context.Context, log *slog.Logger, client *http.Client, base, token string, pub ed25519.PublicKey, fl *fleet, o checkInsOptions) ([]*simAgent, error) {
	agents := make([]*simAgent, o.agents)
	api := &apiClient{base: base, client: client}
	var done atomic.Int64
	err := parallel(ctx, o.agents, o.enrollWorkers, func(i int) error {
		inv := fl.inventory(i)
		ci := protocol.CheckIn{AgentVersion: agentVersion, InventoryHash: inv.Hash(), Health: fl.health, KeyID: protocol.KeyID(pub)}
		var er protocol.EnrollResponse
		err := api.call(ctx, http.MethodPost, protocol.PathEnroll,
			protocol.EnrollRequest{Token: token, AgentVersion: agentVersion, Inventory: inv, Health: fl.health}, http.StatusCreated, &er)
		if err != nil {
			return fmt.Errorf("enroll agent %d: %w", i, err)
		}
		key, err := protocol.DecodeKey(er.SigningKey)
		if err != nil || !key.Equal(pub) {
			return fmt.Errorf("enroll agent %d: the answer's signing key %q is not the server's", i, er.SigningKey)
		}
		a := &simAgent{id: er.ComputerID, auth: "Bearer " + er.Credential, key: key}
		if a.body, err = json.Marshal(ci); err != nil {
			return err
		}
		agents[i] = a
		if n := done.Add(1); n%1000 == 0 {
			log.Info("enrolling", "done", n)
		}
		return nil
	})
	return agents, err
}

// firstCheckIns gives every agent its first assignment list, as its first check-in after
// enrollment does, verifies it, and makes the agent's steady-state check-in (the sequence
// it now holds). It returns one steady-state answer (agent 0's) as the baseline's canned
// answer.
func firstCheckIns(ctx context.Context, client *http.Client, base string, agents []*simAgent, workers int) ([]byte, error) {
	u := base + protocol.PathCheckIn
	err := parallel(ctx, len(agents), workers, func(i int) error {
		a := agents[i]
		var buf bytes.Buffer
		resp, _, err := post(ctx, client, u, a, &buf)
		if err != nil {
			return fmt.Errorf("first check-in: %w", err)
		}
		if resp.NeedInventory {
			return fmt.Errorf("first check-in of computer %d: the server asks for the inventory sent at enrollment", a.id)
		}
		l, err := protocol.VerifyAssignments(resp.Assignments, a.key, a.id, 0, "")
		if err != nil {
			return fmt.Errorf("first check-in of computer %d: %w", a.id, err)
		}
		var ci protocol.CheckIn
		if err := json.Unmarshal(a.body, &ci); err != nil {
			return err
		}
		ci.Sequence = l.Sequence
		a.seq, a.digest = l.Sequence, resp.Assignments.DocumentDigest()
		a.body, err = json.Marshal(ci)
		return err
	})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := checkIn(ctx, client, u, agents[0], agents[0], true, &buf); err != nil {
		return nil, fmt.Errorf("steady check-in: %w", err)
	}
	return bytes.Clone(buf.Bytes()), nil
}

// flusher does every interval of patchday load what Server.Background (which `patchday
// serve` runs) does every interval of the server's life: it writes the batched check-in
// times (Server.FlushCheckIns) and polls the applicability evaluator for other nodes'
// changes. Its clock runs only while patchday is loaded (active), so that this work falls
// on patchday's slices and not on the baseline's. Background's hourly work (compliance
// snapshots, removal of unused inventories) is left out.
type flusher struct {
	active atomic.Bool
	mu     sync.Mutex
	times  []time.Duration // of the flushes
	polls  []time.Duration // of the polls
	errs   int
	stopc  chan struct{}
	done   chan struct{}
}

type flushStats struct {
	n                 int
	mean, max         time.Duration
	pollMean, pollMax time.Duration
	errs              int
}

func startFlusher(srv *server.Server, ev *compliance.Evaluator, every time.Duration, log *slog.Logger) *flusher {
	f := &flusher{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		const tick = 20 * time.Millisecond
		t := time.NewTicker(tick)
		defer t.Stop()
		var loaded time.Duration
		for {
			select {
			case <-f.stopc:
				return
			case <-t.C:
			}
			if !f.active.Load() {
				continue
			}
			if loaded += tick; loaded < every {
				continue
			}
			loaded = 0
			t0 := time.Now()
			ferr := srv.FlushCheckIns(context.Background())
			t1 := time.Now()
			perr := ev.Poll(context.Background())
			t2 := time.Now()
			if err := errors.Join(ferr, perr); err != nil {
				log.Warn("flush check-in times, poll applicability", "err", err)
			}
			f.mu.Lock()
			f.times = append(f.times, t1.Sub(t0))
			f.polls = append(f.polls, t2.Sub(t1))
			if ferr != nil || perr != nil {
				f.errs++
			}
			f.mu.Unlock()
		}
	}()
	return f
}

func (f *flusher) stop() {
	close(f.stopc)
	<-f.done
}

func (f *flusher) stats() flushStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := flushStats{n: len(f.times), errs: f.errs}
	s.mean, s.max = meanMax(f.times)
	s.pollMean, s.pollMax = meanMax(f.polls)
	return s
}

func meanMax(ds []time.Duration) (mean, maxd time.Duration) {
	var sum time.Duration
	for _, d := range ds {
		sum += d
		maxd = max(maxd, d)
	}
	if len(ds) > 0 {
		mean = sum / time.Duration(len(ds))
	}
	return mean, maxd
}

func startProfile(path string) (func() error, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// newPostgresDB creates an empty database on the PostgreSQL server at base and returns its
// URL and a function that drops it.
func newPostgresDB(ctx context.Context, base string) (string, func(), error) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "agentload_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("postgres: create database: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("postgres URL: %w", err)
	}
	u.Path = "/" + name
	drop := func() {
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	}
	return u.String(), drop, nil
}

// report prints the figures of every engine and round, and the means.
func report(w io.Writer, o checkInsOptions, fl *fleet, results []engineResult) {
	fmt.Fprintf(w, "Steady-state agent check-ins: %d agents (%d packages each, %d of them from %s), %d workers, %s per server and round in %d alternating slices, after %s warm-up; %s, GOMAXPROCS %d\n",
		o.agents, len(fl.base.Packages), fl.realPkgs, o.dpkgStatus, o.concurrency, o.duration, o.slices, o.warmup, runtime.Version(), runtime.GOMAXPROCS(0))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tround\tserver\tcheck-ins/s\tp50\tp99\tmax\tsignatures verified\tratio\tcores busy elsewhere\t")
	for _, r := range results {
		var sum [2]float64
		var ratioSum float64
		for i, rr := range r.rounds {
			ratioSum += rr.ratio()
			for j, l := range rr.pair {
				sum[j] += l.rate()
				ratio, other := "", ""
				if j == 1 {
					ratio, other = fmt.Sprintf("%.2f", rr.ratio()), fmt.Sprintf("%.2f", rr.cpu.elsewhere())
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%s\t%s\t%s\t%d\t%s\t%s\t\n", r.engine, i+1, l.target, l.rate(),
					ms(l.percentile(50)), ms(l.percentile(99)), ms(l.percentile(100)), l.verified, ratio, other)
			}
		}
		n := float64(len(r.rounds))
		fmt.Fprintf(tw, "%s\tmean\tnet/http\t%.0f\t\t\t\t\t\t\t\n", r.engine, sum[0]/n)
		fmt.Fprintf(tw, "%s\tmean\tpatchday\t%.0f\t\t\t\t\t%.2f\t\t\n", r.engine, sum[1]/n, ratioSum/n)
	}
	tw.Flush()
	for _, r := range results {
		fmt.Fprintf(w, "%s: enrolled %d agents in %s (%.0f/s); check-in request %d bytes, answer %d bytes\n",
			r.engine, o.agents, r.enrollTime.Round(time.Millisecond), float64(o.agents)/r.enrollTime.Seconds(), r.requestLen, r.answerSize)
		fmt.Fprintf(w, "%s: %d background ticks (one per %s of patchday load): flush of check-in times mean %s, max %s; applicability poll mean %s, max %s; %d failed\n",
			r.engine, r.flushes.n, o.flushEvery, ms(r.flushes.mean), ms(r.flushes.max), ms(r.flushes.pollMean), ms(r.flushes.pollMax), r.flushes.errs)
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
