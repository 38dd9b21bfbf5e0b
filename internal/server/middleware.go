package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const requestInfoKey ctxKey = iota

// requestInfo travels with a request: its id and source address, and the route the mux
// matched (filled in by the mux; read back for metrics and logs).
type requestInfo struct {
	id      string
	source  string
	pattern string
}

func info(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// validRequestID accepts a caller's request id only when it is short and plain, so that it is
// safe in logs and headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sourceAddr is the client's address: the connection's peer, or, when the peer is a trusted
// proxy, the nearest untrusted address in X-Forwarded-For.
func (s *Server) sourceAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(addr) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return host
		}
		if !s.trusted(a) {
			return a.String()
		}
	}
	return host
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patchday_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "patchday_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "patchday_http_requests_in_flight",
			Help: "HTTP requests being answered.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight)
	return m
}

// observe wraps the whole handler chain: request id, source address, panic recovery, metrics
// and one log line per request.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{id: r.Header.Get("X-Request-Id"), source: s.sourceAddr(r)}
		if !validRequestID(ri.id) {
			ri.id = newRequestID()
		}
		w.Header().Set("X-Request-Id", ri.id)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey, ri))
		s.metrics.inflight.Inc()
		defer func() {
			s.metrics.inflight.Dec()
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic", "request_id", ri.id, "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error (request " + ri.id + ")"})
				}
			}
			route := ri.pattern
			if route == "" {
				route = "unmatched"
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			elapsed := time.Since(start)
			method := metricMethod(r.Method)
			s.metrics.requests.WithLabelValues(method, route, strconv.Itoa(sw.status)).Inc()
			s.metrics.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
			level := slog.LevelDebug
			if r.Method != http.MethodGet && r.Method != http.MethodHead || sw.status >= 500 {
				level = slog.LevelInfo
			}
			s.log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path, "route", route,
				"status", sw.status, "bytes", sw.bytes, "duration", elapsed, "source", ri.source, "request_id", ri.id)
		}()
		next.ServeHTTP(sw, r)
	})
}

// secureHeaders sets the headers every response carries.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// metricMethod keeps the method label's values to the standard methods, so that clients
// cannot create series at will.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}
