//go:build linux

package scan

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The connect engine: on Linux, with the default dialer, TCP probes run in one event loop
// over non-blocking sockets and one epoll instance, as nmap's connect scan does, instead of
// a goroutine per probe in flight dialing with net.Dialer. The net package makes about ten
// system calls a probe (socket, setsockopts, connect, epoll_ctl add and delete, getsockopt,
// getsockname, getpeername, close) and parks and wakes a goroutine through the runtime's
// poller; on a fast link that, not the network, bounded the scan (docs/BENCHMARKS.md). Here
// a closed or filtered port costs socket, connect, epoll_ctl, getsockopt and close, plus a
// share of one epoll_wait for all probes that end together.
//
// What the workers do otherwise the loop does too: it starts probes in the same order (jobAt)
// at the rate limit at most, keeps at most the window's limit in flight (window.go, which it
// feeds with round trips and unanswered probes), retries after local resource exhaustion
// (isLocalExhaustion, maxLocalRetries), and hands outcomes to record. Work that blocks runs
// in goroutines that count as in flight until they end: identification of an open port (the
// socket handed over as a net.Conn, so Scanner.Identify works unchanged) and UDP probes.

// rawConnect selects the engine where it applies; tests turn it off to compare with the
// net.Dialer path.
var rawConnect = true

// engine is the state of the event loop. Only the loop goroutine touches it, except busy,
// the wake-up eventfd and what the goroutines it starts share with the scan.
type engine struct {
	sc        *scanRun
	wg        *sync.WaitGroup
	outcomes  chan<- outcome
	reportAll bool
	timeout   time.Duration

	epfd   int
	events []unix.EpollEvent

	// The eventfd in the epoll set that wakes the loop: cancellation, the end of a goroutine
	// probe, a wider window. It is closed under wakeMu, so a late wake-up never writes to a
	// number that was closed and reused.
	wakeMu sync.Mutex
	wakeFD int
	stop   func() bool // ends the cancellation hook

	next    int          // the number of the next probe to start (jobAt)
	readyAt time.Time    // when the rate limiter's token for probe next is due; zero: none taken
	raw     int          // sockets connecting
	busy    atomic.Int64 // goroutine probes running (identification, UDP)
	seq     uint64       // numbers connection attempts, see slot

	// slots are the connecting sockets by file descriptor.
	slots []slot
	// queue holds the connecting sockets in start order. All share one timeout, so that is
	// also the order of their deadlines, and the head is the next to time out. Entries of
	// sockets that ended early stay until they reach the head (their seq no longer matches).
	queue []queued
	head  int
	// retries are probes that failed for a local reason and wait to try again; they count
	// as in flight, as a worker sleeping before its retry does.
	retries []retry

	// Reused for every connect, which copies them: no allocation a probe.
	sa4 unix.SockaddrInet4
	sa6 unix.SockaddrInet6
	// zones caches the interface index of IPv6 zones (fe80::1%eth0).
	zones map[string]uint32
}

type slot struct {
	seq   uint64 // of the attempt using this descriptor; 0: free
	i     int    // probe number
	tries int    // local failures before this attempt
	start time.Time
}

type queued struct {
	fd  int
	seq uint64
}

type retry struct {
	i, tries int
	at       time.Time
}

// startEngine runs the scan's probes in an event loop, started in wg, and reports false
// when the engine is switched off or cannot be set up (then the workers run them).
func (sc *scanRun) startEngine(wg *sync.WaitGroup, outcomes chan<- outcome, reportAll bool) bool {
	if !rawConnect {
		return false
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return false
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return false
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}); err != nil {
		unix.Close(efd)
		unix.Close(epfd)
		return false
	}
	e := &engine{
		sc: sc, wg: wg, outcomes: outcomes, reportAll: reportAll, timeout: sc.s.timeout(),
		epfd: epfd, wakeFD: efd, events: make([]unix.EpollEvent, 256),
	}
	e.stop = context.AfterFunc(sc.ctx, e.wake)
	sc.win.grown = e.wake
	wg.Go(e.run)
	return true
}

// wake interrupts the loop's epoll_wait.
func (e *engine) wake() {
	e.wakeMu.Lock()
	defer e.wakeMu.Unlock()
	if e.wakeFD >= 0 {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		// The only possible error is EAGAIN, a full counter: the loop is woken anyway.
		unix.Write(e.wakeFD, one[:])
	}
}

func (e *engine) run() {
	defer e.close()
	sc := e.sc
	for {
		// Cancellation abandons the probes in flight at once: their sockets are closed and
		// they are not counted, as the workers do.
		if sc.ctx.Err() != nil {
			return
		}
		now := time.Now()
		e.start(now)
		if e.next >= sc.total && e.raw == 0 && len(e.retries) == 0 {
			return // goroutine probes still running end on their own (wg)
		}
		n, err := unix.EpollWait(e.epfd, e.events, e.waitMillis(time.Now()))
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			// Not expected with valid arguments; the scan ends as if cancelled, with
			// the probes not done counted as missing (Interrupted).
			return
		}
		now = time.Now()
		for _, ev := range e.events[:n] {
			if int(ev.Fd) == e.wakeFD {
				var buf [8]byte
				unix.Read(e.wakeFD, buf[:])
				continue
			}
			e.complete(int(ev.Fd), now)
		}
		e.expire(now)
	}
}

// inFlight counts the probes the window limits: connecting sockets, probes waiting to retry
// and goroutine probes.
func (e *engine) inFlight() int { return e.raw + len(e.retries) + int(e.busy.Load()) }

// start starts probes while the window, the rate limit and the probes left allow.
func (e *engine) start(now time.Time) {
	sc := e.sc
	for e.inFlight() < int(sc.win.limit.Load()) {
		// Retries go first: they were started before everything not yet started.
		if r, ok := e.dueRetry(now); ok {
			e.connect(r.i, r.tries, now)
			now = time.Now()
			continue
		}
		if e.next >= sc.total {
			return
		}
		if sc.lim != nil {
			if e.readyAt.IsZero() {
				e.readyAt = now.Add(sc.lim.ReserveN(now, 1).DelayFrom(now))
			}
			if e.readyAt.After(now) {
				return // waitMillis wakes the loop when the token is due
			}
			e.readyAt = time.Time{}
		}
		i := e.next
		e.next++
		if j := sc.jobAt(i); j.udp {
			e.goProbe(func() (outcome, bool) {
				start := time.Now()
				o, ok := sc.s.probe(sc.ctx, j, nil)
				if ok {
					sc.win.observe(time.Since(start), o.f.State == StateFiltered)
				}
				return o, ok
			})
		} else {
			e.connect(i, 0, now)
		}
		now = time.Now()
	}
}

// dueRetry removes and returns the first retry that is due.
func (e *engine) dueRetry(now time.Time) (retry, bool) {
	for k, r := range e.retries {
		if !r.at.After(now) {
			e.retries = append(e.retries[:k], e.retries[k+1:]...)
			return r, true
		}
	}
	return retry{}, false
}

// goProbe runs a probe that blocks in a goroutine that counts as in flight.
func (e *engine) goProbe(probe func() (outcome, bool)) {
	e.busy.Add(1)
	e.wg.Go(func() {
		if o, ok := probe(); ok {
			e.sc.record(o, e.outcomes, e.reportAll)
		}
		e.busy.Add(-1)
		e.wake() // a place in the window is free
	})
}

// connect starts TCP probe i, after tries failures for local reasons.
func (e *engine) connect(i, tries int, now time.Time) {
	ap := e.sc.jobAt(i).addr
	family, sa := e.sockaddr(ap)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		e.conclude(i, tries, now, err, now) // EMFILE, ENFILE, ENOBUFS: retried
		return
	}
	switch err = unix.Connect(fd, sa); err {
	case nil:
		e.open(fd, i, now, now)
		return
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
		// The usual case: the handshake is under way (what the net package treats as such).
	default:
		// ECONNREFUSED straight away, EADDRNOTAVAIL (no ephemeral port left: retried),
		// ENETUNREACH and the like.
		unix.Close(fd)
		e.conclude(i, tries, now, err, now)
		return
	}
	// One-shot: the socket reports once, and the loop closes it or hands it over then.
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(fd)}
	if err := unix.EpollCtl(e.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		// ENOMEM or ENOSPC (fs.epoll.max_user_watches): this machine ran out, like
		// EMFILE does, so it is retried and then counted as an error.
		e.conclude(i, tries, now, fmt.Errorf("%w: %w", errEpollFull, err), now)
		return
	}
	for fd >= len(e.slots) {
		e.slots = append(e.slots, make([]slot, max(64, len(e.slots)))...)
	}
	e.seq++
	e.slots[fd] = slot{seq: e.seq, i: i, tries: tries, start: now}
	e.queue = append(e.queue, queued{fd, e.seq})
	e.raw++
}

// errEpollFull marks a socket that could not be added to the epoll set.
var errEpollFull = errors.New("epoll_ctl")

// complete reads the outcome of a connecting socket that epoll reported.
func (e *engine) complete(fd int, now time.Time) {
	if fd >= len(e.slots) || e.slots[fd].seq == 0 {
		return // not ours any more (cannot happen with one-shot events, but costs nothing)
	}
	s := e.slots[fd]
	e.slots[fd].seq = 0
	e.raw--
	soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soErr == 0 {
		// Writable without an error: the handshake completed. (The net package checks with
		// getpeername because the runtime poller can wake it spuriously; a one-shot EPOLLOUT
		// on a fresh socket only comes when tcp_poll reports it, which it does not while
		// the SYN is unanswered.)
		e.open(fd, s.i, s.start, now)
		return
	}
	if err == nil {
		err = unix.Errno(soErr)
	}
	unix.Close(fd)
	e.conclude(s.i, s.tries, s.start, err, now)
}

// expire ends the probes whose timeout passed: filtered, as a dial that timed out.
func (e *engine) expire(now time.Time) {
	deadline := now.Add(-e.timeout) // sockets started before this have timed out
	for e.head < len(e.queue) {
		q := e.queue[e.head]
		s := &e.slots[q.fd]
		if s.seq == q.seq {
			if s.start.After(deadline) {
				break
			}
			s.seq = 0
			e.raw--
			unix.Close(q.fd) // in SYN_SENT: nothing is sent
			e.sc.win.observe(now.Sub(s.start), true)
			e.sc.record(outcome{f: e.finding(s.i, StateFiltered)}, e.outcomes, e.reportAll)
		}
		e.head++
	}
	// Reuse the queue's space once its live part has moved far enough along.
	if e.head == len(e.queue) {
		e.queue, e.head = e.queue[:0], 0
	} else if e.head >= 1024 && e.head*2 >= len(e.queue) {
		n := copy(e.queue, e.queue[e.head:])
		e.queue, e.head = e.queue[:n], 0
	}
}

// waitMillis is how long epoll_wait may sleep: until the oldest socket times out, a due
// rate-limiter token or retry, or for ever (-1) when only a wake-up can change anything.
// Milliseconds, rounded up: waking early would only spin.
func (e *engine) waitMillis(now time.Time) int {
	var until time.Time
	earlier := func(t time.Time) {
		if until.IsZero() || t.Before(until) {
			until = t
		}
	}
	for e.head < len(e.queue) {
		q := e.queue[e.head]
		if s := e.slots[q.fd]; s.seq == q.seq {
			earlier(s.start.Add(e.timeout))
			break
		}
		e.head++
	}
	for _, r := range e.retries {
		earlier(r.at)
	}
	if !e.readyAt.IsZero() && e.inFlight() < int(e.sc.win.limit.Load()) {
		earlier(e.readyAt)
	}
	if until.IsZero() {
		return -1
	}
	d := until.Sub(now)
	if d <= 0 {
		return 0
	}
	return int(min((d+time.Millisecond-1)/time.Millisecond, 1<<30))
}

// open handles a completed handshake: the port is open.
func (e *engine) open(fd, i int, start, now time.Time) {
	sc := e.sc
	sc.win.observe(now.Sub(start), false)
	// Close with a RST rather than a FIN, as the net.Dialer path does (see probeTCP): no
	// socket in TIME_WAIT for every open port. Only open ports need it: a refused or
	// unanswered socket has no connection to end.
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	f := e.finding(i, StateOpen)
	if sc.s.Identify == nil {
		unix.Close(fd)
		sc.record(outcome{f: f}, e.outcomes, e.reportAll)
		return
	}
	// Hand the connection over as a net.Conn. net.FileConn works on a duplicate of the
	// descriptor, and epoll watches the open file, not the number: without the delete the
	// duplicate would stay in this epoll set after the number is closed and reused.
	unix.EpollCtl(e.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	file := os.NewFile(uintptr(fd), "")
	conn, err := net.FileConn(file)
	file.Close()
	if err != nil {
		// Out of descriptors for the duplicate, most likely: the port is open all the same.
		f.Details = map[string]string{"identify_error": "handing over the connection: " + err.Error()}
		sc.record(outcome{f: f}, e.outcomes, e.reportAll)
		return
	}
	e.goProbe(func() (outcome, bool) {
		sc.s.identify(sc.ctx, conn, &f)
		conn.Close()
		return outcome{f: f}, true
	})
}

// conclude classifies a failed attempt as probeTCP does: refused is closed, local
// exhaustion is retried later (up to maxLocalRetries) and then counted as an error,
// anything else is filtered.
func (e *engine) conclude(i, tries int, start time.Time, err error, now time.Time) {
	st, local := StateFiltered, isLocalExhaustion(err) || errors.Is(err, errEpollFull)
	switch {
	case isRefused(err):
		st = StateClosed
	case local && tries < maxLocalRetries:
		e.retries = append(e.retries, retry{i: i, tries: tries + 1, at: now.Add(localRetryDelay(tries))})
		return
	}
	e.sc.win.observe(now.Sub(start), st == StateFiltered)
	e.sc.record(outcome{f: e.finding(i, st), exhausts: local}, e.outcomes, e.reportAll)
}

func (e *engine) finding(i int, st State) Finding {
	ap := e.sc.jobAt(i).addr
	return Finding{Host: ap.Addr(), Port: ap.Port(), Protocol: TCP, State: st}
}

// sockaddr is the address to connect to. IPv4-mapped IPv6 addresses are dialed over IPv4, as
// the net package does.
func (e *engine) sockaddr(ap netip.AddrPort) (family int, sa unix.Sockaddr) {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		e.sa4.Port, e.sa4.Addr = int(ap.Port()), a.Unmap().As4()
		return unix.AF_INET, &e.sa4
	}
	e.sa6.Port, e.sa6.Addr, e.sa6.ZoneId = int(ap.Port()), a.As16(), 0
	if z := a.Zone(); z != "" {
		e.sa6.ZoneId = e.zoneIndex(z)
	}
	return unix.AF_INET6, &e.sa6
}

func (e *engine) zoneIndex(zone string) uint32 {
	if idx, ok := e.zones[zone]; ok {
		return idx
	}
	var idx uint32
	if ifi, err := net.InterfaceByName(zone); err == nil {
		idx = uint32(ifi.Index)
	} else if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		idx = uint32(n)
	}
	if e.zones == nil {
		e.zones = map[string]uint32{}
	}
	e.zones[zone] = idx
	return idx
}

// close ends the loop: it closes the sockets still connecting (abandoned probes) and the
// epoll set, and makes later wake-ups no-ops.
func (e *engine) close() {
	e.stop()
	for _, q := range e.queue[e.head:] {
		if s := &e.slots[q.fd]; s.seq == q.seq {
			s.seq = 0
			unix.Close(q.fd)
		}
	}
	unix.Close(e.epfd)
	e.wakeMu.Lock()
	unix.Close(e.wakeFD)
	e.wakeFD = -1
	e.wakeMu.Unlock()
}
