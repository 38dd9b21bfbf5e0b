package scan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
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

	// Dial connects; nil means a net.Dialer. Tests replace it.
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
// abandoned at once, so Scan returns promptly.
func (s *Scanner) Scan(ctx context.Context, targets []netip.Addr, ports []uint16, opts Options) (Result, error) {
	res := Result{
		Started: time.Now(),
		Targets: opts.Targets,
		Ports:   len(ports) + len(opts.UDPPorts),
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

	jobs := make(chan job)
	go s.dispatch(ctx, jobs, targets, ports, opts.UDPPorts)

	workers := min(s.concurrency(), total)
	outcomes := make(chan outcome, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				if o, ok := s.probe(ctx, j); ok {
					outcomes <- o
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(outcomes)
	}()

	prog := Progress{Total: total}
	reported := -1
	report := func() {
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
			f := o.f
			res.Stats.Attempts++
			prog.Done++
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
			if f.State == StateOpen || opts.ReportAll {
				res.Findings = append(res.Findings, f)
				if opts.OnFinding != nil {
					opts.OnFinding(f)
				}
			}
		case <-tick.C:
			report()
		}
	}
	report()
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

// dispatch hands out probes at the rate limit, TCP ports first. Ports are
// the outer loop so that consecutive probes go to different hosts, which
// spreads the load instead of hammering one host at a time.
func (s *Scanner) dispatch(ctx context.Context, jobs chan<- job, targets []netip.Addr, tcp, udp []uint16) {
	defer close(jobs)
	lim := s.limiter()
	send := func(j job) bool {
		if err := lim.Wait(ctx); err != nil {
			// Wait also fails early when the next token lies beyond ctx's
			// deadline; the scan still runs until the deadline.
			<-ctx.Done()
			return false
		}
		select {
		case jobs <- j:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for _, set := range []struct {
		ports []uint16
		udp   bool
	}{{tcp, false}, {udp, true}} {
		for _, p := range set.ports {
			for _, a := range targets {
				if !send(job{netip.AddrPortFrom(a, p), set.udp}) {
					return
				}
			}
		}
	}
}

func (s *Scanner) limiter() *rate.Limiter {
	r := s.Rate
	switch {
	case r < 0:
		return rate.NewLimiter(rate.Inf, 1)
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
func (s *Scanner) probe(ctx context.Context, j job) (o outcome, ok bool) {
	if ctx.Err() != nil {
		return o, false
	}
	o.f = Finding{Host: j.addr.Addr(), Port: j.addr.Port(), Protocol: TCP}
	if j.udp {
		o.f.Protocol = UDP
		o.f.State = s.probeUDP(ctx, j.addr, &o.f)
	} else {
		o.f.State, o.exhausts = s.probeTCP(ctx, j.addr, &o.f)
	}
	if ctx.Err() != nil && o.f.State != StateOpen {
		return o, false
	}
	return o, true
}

// maxLocalRetries bounds retries after local resource exhaustion.
const maxLocalRetries = 5

func (s *Scanner) probeTCP(ctx context.Context, ap netip.AddrPort, f *Finding) (st State, exhausted bool) {
	dial := s.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	for try := 0; ; try++ {
		dctx, cancel := context.WithTimeout(ctx, s.timeout())
		conn, err := dial(dctx, "tcp", ap.String())
		cancel()
		switch {
		case err == nil:
			s.identify(ctx, conn, f)
			conn.Close()
			return StateOpen, false
		case isRefused(err):
			return StateClosed, false
		case isLocalExhaustion(err) && try < maxLocalRetries:
			// Back off and let sockets in TIME_WAIT or still closing free up.
			select {
			case <-time.After((10 * time.Millisecond) << try):
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
