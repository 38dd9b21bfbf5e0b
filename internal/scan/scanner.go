package scan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for a zero Scanner. The rate limit is on by default: scanning is
// noisy, and a fast scan can overwhelm small devices or state tables of
// firewalls on the way.
const (
	DefaultConcurrency     = 256
	DefaultRate            = 1000.0
	DefaultTimeout         = 1500 * time.Millisecond
	DefaultIdentifyTimeout = 5 * time.Second
	DefaultRetries         = 2
)

// Unlimited is the Scanner.Rate for no rate limit. It is negative rather
// than zero so that a zero Scanner is rate limited; a CLI maps an explicit
// "--rate 0" to it.
const Unlimited = -1.0

// Scanner scans TCP ports by connecting, and UDP ports by exchanging a
// datagram. A zero Scanner uses the defaults above.
type Scanner struct {
	// Concurrency is the number of probes in flight at most.
	Concurrency int
	// Rate is the number of probes started per second at most; 0 means
	// DefaultRate and a negative value (Unlimited) no limit.
	Rate float64
	// Timeout is how long one connection attempt or one UDP exchange waits.
	Timeout time.Duration
	// Retries is how often an unanswered UDP probe is resent; 0 means
	// DefaultRetries and a negative value none. TCP is not retried: the
	// kernel already retransmits SYNs within Timeout.
	Retries int
	// IdentifyTimeout bounds Identify for one port; 0 means
	// DefaultIdentifyTimeout.
	IdentifyTimeout time.Duration

	// Dial connects; nil means the default: on Linux non-blocking sockets
	// in one event loop (connect_linux.go), elsewhere a net.Dialer. Tests
	// replace it.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)

	// Identify, when set, is called for every open TCP port with the
	// connection the scan made and fills the finding's Service, Product,
	// Version, Banner, TLS and Details. It runs in the worker, so it counts
	// against Concurrency. ctx ends after IdentifyTimeout or when the scan
	// is cancelled, and conn's deadline is set to match, so blocking reads
	// return. The scanner closes conn afterwards; Identify may dial more
	// connections of its own to f.AddrPort().
	Identify func(ctx context.Context, conn net.Conn, f *Finding)

	// ProbeUDP, when set, probes one UDP port: it sends what the service
	// on that port expects (with UDPExchange and the given timeout and
	// retries), fills f from the reply and returns the port's state
	// (UDPState maps UDPExchange's error). When nil, the scanner sends an
	// empty datagram: a reply means open and ICMP port unreachable closed.
	ProbeUDP func(ctx context.Context, addr netip.AddrPort, timeout time.Duration, retries int, f *Finding) State
}

// Options are per scan.
type Options struct {
	// UDPPorts are probed on every target besides the TCP ports.
	UDPPorts []uint16
	// Targets label the result (Result.Targets), usually the command-line
	// arguments; nil means the addresses.
	Targets []string
	// ReportAll reports closed and filtered ports as findings too; by
	// default only open ports are, and the others are only counted.
	ReportAll bool
	// Policy, when set, checks every open port (Finding.Violation).
	Policy *Policy
	// OnFinding streams findings as they are made. OnFinding and Progress
	// are called from one goroutine, never concurrently.
	OnFinding func(Finding)
	// Progress is called at most ten times a second and once at the end.
	Progress func(Progress)
}

// Progress of a running scan, in probes (one port on one host).
type Progress struct {
	Done  int `json:"done"`
	Total int `json:"total"`
	Open  int `json:"open"`
}

type job struct {
	addr netip.AddrPort
	udp  bool
}

type outcome struct {
	f        Finding
	exhausts bool // failed for a local reason (see isLocalExhaustion)
}

// progressEvery limits progress callbacks to ten a second.
const progressEvery = 100 * time.Millisecond

// Scan probes every port on every target. It returns when all probes are
// done or ctx ends; on cancellation the result holds what was found so far,
// Interrupted is set, and the error is ctx.Err(). In-flight probes are
// abandoned at once, so Scan returns promptly. A port listed twice is
// probed once.
func (s *Scanner) Scan(ctx context.Context, targets []netip.Addr, ports []uint16, opts Options) (Result, error) {
	ports, opts.UDPPorts = uniquePorts(ports), uniquePorts(opts.UDPPorts)
	res := Result{
		Started:   time.Now(),
		Targets:   opts.Targets,
		Addresses: len(targets),
		Ports:     len(ports) + len(opts.UDPPorts),
		PortSpec:  portSpec(ports, opts.UDPPorts),
	}
	if res.Targets == nil {
		for _, a := range targets {
			res.Targets = append(res.Targets, a.String())
		}
	}
	total := len(targets) * res.Ports
	if total == 0 {
		res.Finished = time.Now()
		return res, errors.New("scan: no targets or no ports")
	}

	// Probes are numbered 0..total-1 in the order described at jobAt and
	// workers take the next number themselves. An earlier version had one
	// goroutine hand every probe to the workers over an unbuffered channel
	// and every outcome back over another: two goroutine switches a probe,
	// which on a fast network cost more CPU than the connect itself (the
	// namespace benchmark in docs/BENCHMARKS.md).
	workers := min(s.concurrency(), total)
	sc := &scanRun{s: s, ctx: ctx, targets: targets, tcp: ports, udp: opts.UDPPorts, total: total,
		lim: s.limiter(), dialer: s.dialer(), win: newWindow(ctx, workers)}
	defer sc.win.stop()
	// Only findings that are reported go to this goroutine (which applies
	// the policy and calls OnFinding); closed and filtered ports that are
	// not reported are counted by the workers (sc.quiet) instead of being
	// sent here one by one.
	outcomes := make(chan outcome, workers)
	var wg sync.WaitGroup
	// On Linux, with the default dialer, one event loop over non-blocking
	// sockets runs the probes (connect_linux.go); otherwise, or when it
	// cannot start, one goroutine per probe in flight dials.
	if sc.dialer == nil || !sc.startEngine(&wg, outcomes, opts.ReportAll) {
		for id := range workers {
			wg.Go(func() { sc.work(id, outcomes, opts.ReportAll) })
		}
	}
	go func() {
		wg.Wait()
		close(outcomes)
	}()

	prog := Progress{Total: total}
	reported := -1
	report := func() {
		prog.Done = res.Stats.Attempts + int(sc.quiet.attempts.Load())
		if opts.Progress != nil && prog.Done != reported {
			reported = prog.Done
			opts.Progress(prog)
		}
	}
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case o, ok := <-outcomes:
			if !ok {
				done = true
				break
			}
			f := o.f // open, or any state with ReportAll
			res.Stats.Attempts++
			if o.exhausts {
				res.Stats.Errors++
			}
			switch f.State {
			case StateOpen:
				res.Stats.Open++
				prog.Open++
				if opts.Policy != nil {
					f.Violation = opts.Policy.Check(f)
				}
			case StateClosed:
				res.Stats.Closed++
			default:
				res.Stats.Filtered++
			}
			res.Findings = append(res.Findings, f)
			if opts.OnFinding != nil {
				opts.OnFinding(f)
			}
		case <-tick.C:
			sc.win.adjust()
			report()
		}
	}
	// All workers have finished: the quiet counts are final.
	report()
	q := &sc.quiet
	res.Stats.Attempts += int(q.attempts.Load())
	res.Stats.Closed += int(q.closed.Load())
	res.Stats.Filtered += int(q.filtered.Load())
	res.Stats.Errors += int(q.errors.Load())
	SortFindings(res.Findings)
	res.Finished = time.Now()
	if prog.Done < total {
		res.Interrupted = true
		if err := ctx.Err(); err != nil {
			return res, err
		}
		return res, context.Canceled
	}
	return res, nil
}

// scanRun is the state of one Scan shared by its workers.
type scanRun struct {
	s        *Scanner
	ctx      context.Context
	targets  []netip.Addr
	tcp, udp []uint16
	total    int
	next     atomic.Int64  // the number of the next probe to start
	lim      *rate.Limiter // nil: no rate limit
	dialer   *net.Dialer   // nil: s.Dial
	win      *window       // how many workers probe at a time
	quiet    quietCounts
}

// quietCounts are the probes whose findings are not reported.
type quietCounts struct {
	attempts, closed, filtered, errors atomic.Int64
}

// jobAt returns probe i: TCP ports first, then UDP. Ports are the outer
// loop so that consecutive probes go to different hosts, which spreads the
// load instead of hammering one host at a time.
func (sc *scanRun) jobAt(i int) job {
	n := len(sc.targets)
	if i < len(sc.tcp)*n {
		return job{netip.AddrPortFrom(sc.targets[i%n], sc.tcp[i/n]), false}
	}
	i -= len(sc.tcp) * n
	return job{netip.AddrPortFrom(sc.targets[i%n], sc.udp[i/n]), true}
}

// work runs probes until none are left or the scan is cancelled. Each
// probe waits for the rate limiter before it starts, so probes start at
// the rate limit at most, as when one goroutine handed them out.
func (sc *scanRun) work(id int, outcomes chan<- outcome, reportAll bool) {
	for sc.win.admit(id) {
		// The number is taken before the token: a worker that finds no
		// probe left must not first wait for a token it does not need.
		i := int(sc.next.Add(1) - 1)
		if i >= sc.total || sc.ctx.Err() != nil {
			sc.win.end() // and the workers waiting for the window with it
			return
		}
		if sc.lim != nil {
			if err := sc.lim.Wait(sc.ctx); err != nil {
				// Wait also fails early when the next token lies beyond
				// ctx's deadline; the scan still runs until the deadline.
				<-sc.ctx.Done()
				return
			}
		}
		start := time.Now()
		o, ok := sc.s.probe(sc.ctx, sc.jobAt(i), sc.dialer)
		if ok {
			sc.win.observe(time.Since(start), o.f.State == StateFiltered)
		}
		if ok {
			sc.record(o, outcomes, reportAll)
		}
	}
}

// record hands a finding that is reported to the collecting goroutine and
// counts the others itself.
func (sc *scanRun) record(o outcome, outcomes chan<- outcome, reportAll bool) {
	if o.f.State == StateOpen || reportAll {
		outcomes <- o
		return
	}
	q := &sc.quiet
	if o.exhausts {
		q.errors.Add(1)
	}
	if o.f.State == StateClosed {
		q.closed.Add(1)
	} else {
		q.filtered.Add(1)
	}
	// Last: the progress reader must not count a probe before its state.
	q.attempts.Add(1)
}

// dialer is the net.Dialer of a scan, or nil when s.Dial replaces it. One
// dialer serves all probes; keep-alive is off (KeepAlive -1) because the
// connection is closed at once and setting it up costs system calls on
// every open port.
func (s *Scanner) dialer() *net.Dialer {
	if s.Dial != nil {
		return nil
	}
	return &net.Dialer{Timeout: s.timeout(), KeepAlive: -1}
}

func (s *Scanner) limiter() *rate.Limiter {
	r := s.Rate
	switch {
	case r < 0:
		// No limiter at all: with rate.Inf, Wait still takes a mutex that
		// every worker contends for on every probe.
		return nil
	case r == 0:
		r = DefaultRate
	}
	// A burst of 10 ms worth of tokens: a burst of 1 would make the rate
	// depend on timer resolution (15 ms on Windows) at high rates.
	return rate.NewLimiter(rate.Limit(r), max(1, int(r/100)))
}

func (s *Scanner) concurrency() int {
	if s.Concurrency > 0 {
		return s.Concurrency
	}
	return DefaultConcurrency
}

func (s *Scanner) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s *Scanner) retries() int {
	switch {
	case s.Retries < 0:
		return 0
	case s.Retries == 0:
		return DefaultRetries
	}
	return s.Retries
}

// probe runs one job; ok is false when the scan was cancelled before the
// probe came to a conclusion, which must not be counted as filtered.
func (s *Scanner) probe(ctx context.Context, j job, d *net.Dialer) (o outcome, ok bool) {
	if ctx.Err() != nil {
		return o, false
	}
	o.f = Finding{Host: j.addr.Addr(), Port: j.addr.Port(), Protocol: TCP}
	if j.udp {
		o.f.Protocol = UDP
		o.f.State = s.probeUDP(ctx, j.addr, &o.f)
	} else {
		o.f.State, o.exhausts = s.probeTCP(ctx, j.addr, &o.f, d)
	}
	if ctx.Err() != nil && o.f.State != StateOpen {
		return o, false
	}
	return o, true
}

// maxLocalRetries bounds retries after local resource exhaustion.
const maxLocalRetries = 5

// localRetryDelay is the pause before retry number try+1 after local
// resource exhaustion: long enough for sockets in TIME_WAIT or still
// closing to free up, doubling each time.
func localRetryDelay(try int) time.Duration { return (10 * time.Millisecond) << try }

func (s *Scanner) probeTCP(ctx context.Context, ap netip.AddrPort, f *Finding, d *net.Dialer) (st State, exhausted bool) {
	for try := 0; ; try++ {
		var conn net.Conn
		var err error
		if d != nil {
			// Not d.DialTCP with a zero local address: that binds the
			// socket to 0.0.0.0:0 before connecting (Go 1.26), one more
			// system call and an ephemeral port reserved for any peer,
			// where connect picks one per destination.
			if conn, err = d.DialContext(ctx, "tcp", ap.String()); err == nil {
				// Close with a RST rather than a FIN: the scanner has
				// nothing left to deliver, and a FIN would leave a socket
				// in TIME_WAIT on this machine for every open port, which
				// on large scans exhausts the ephemeral ports (see
				// isLocalExhaustion). nmap's connect scan does the same.
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
			}
		} else {
			dctx, cancel := context.WithTimeout(ctx, s.timeout())
			conn, err = s.Dial(dctx, "tcp", ap.String())
			cancel()
		}
		switch {
		case err == nil:
			s.identify(ctx, conn, f)
			conn.Close()
			return StateOpen, false
		case isRefused(err):
			return StateClosed, false
		case isLocalExhaustion(err) && try < maxLocalRetries:
			select {
			case <-time.After(localRetryDelay(try)):
			case <-ctx.Done():
				return StateFiltered, false
			}
		default:
			return StateFiltered, isLocalExhaustion(err)
		}
	}
}

func (s *Scanner) identify(ctx context.Context, conn net.Conn, f *Finding) {
	if s.Identify == nil {
		return
	}
	d := s.IdentifyTimeout
	if d <= 0 {
		d = DefaultIdentifyTimeout
	}
	ictx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	conn.SetDeadline(time.Now().Add(d))
	// Unblock the probe's reads and writes when the scan is cancelled.
	stop := context.AfterFunc(ictx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	// A probe parses what hostile services send; a bug there must not end
	// the scan and lose its results.
	defer func() {
		if r := recover(); r != nil {
			if f.Details == nil {
				f.Details = map[string]string{}
			}
			f.Details["identify_error"] = fmt.Sprint("probe panicked: ", r)
		}
	}()
	s.Identify(ictx, conn, f)
}

func (s *Scanner) probeUDP(ctx context.Context, ap netip.AddrPort, f *Finding) (st State) {
	if s.ProbeUDP != nil {
		defer func() {
			if r := recover(); r != nil {
				f.Details = map[string]string{"identify_error": fmt.Sprint("probe panicked: ", r)}
				st = StateFiltered
			}
		}()
		return s.ProbeUDP(ctx, ap, s.timeout(), s.retries(), f)
	}
	reply, err := UDPExchange(ctx, ap, nil, s.timeout(), s.retries())
	if len(reply) > 0 {
		f.Banner = SanitizeBanner(reply)
	}
	return UDPState(err)
}

// uniquePorts returns ports without repeats, in their first order. The
// port parser never repeats one, but callers building lists themselves
// (tasks for agents, tests) may, and a repeat would double the probes
// and the findings.
func uniquePorts(ports []uint16) []uint16 {
	var seen [65536]bool
	out := ports[:0:0]
	for _, p := range ports {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// portSpec is Result.PortSpec.
func portSpec(tcp, udp []uint16) string {
	spec := ""
	if len(tcp) > 0 {
		spec = "tcp:" + FormatPorts(tcp)
	}
	if len(udp) > 0 {
		spec = strings.TrimSpace(spec + " udp:" + FormatPorts(udp))
	}
	return spec
}
