// Package server is patchday's HTTP API: routing, authentication, authorisation, auditing
// and the operational endpoints (/healthz, /readyz, /metrics).
package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/patchday/patchday/internal/blob"
	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/notify"
	"github.com/patchday/patchday/internal/store"
)

// Config configures a Server. Only Store is required.
type Config struct {
	Store   *store.Store
	Logger  *slog.Logger
	Version string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// LoginRate and LoginBurst limit login attempts per source address.
	LoginRate  rate.Limit
	LoginBurst int
	// AgentRate and AgentBurst limit check-ins per computer (default a burst of 30, then one
	// every 10 seconds: an agent needs two or three per interval).
	AgentRate  rate.Limit
	AgentBurst int
	// SessionTTL is the lifetime of the token a login returns.
	SessionTTL time.Duration
	// AuthCacheTTL is how long a node trusts what it learnt about a caller (default
	// DefaultAuthCacheTTL; negative disables the cache).
	AuthCacheTTL time.Duration
	// Blobs stores payloads; without it payload uploads are refused.
	Blobs *blob.Disk
	// MaxPayloadSize bounds one payload (default DefaultMaxPayloadSize).
	MaxPayloadSize int64
	// SigningKey signs agents' assignment lists; New makes a throwaway one when it is nil.
	SigningKey ed25519.PrivateKey
	// PreviousSigningKeys are keys that agents may still trust; the server vouches for the
	// current key with them (key rotation).
	PreviousSigningKeys []ed25519.PrivateKey
	// CheckInInterval is the agents' check-in interval (default DefaultCheckInInterval).
	CheckInInterval time.Duration
	// DeclineSupersededAfter is how long after a newer update superseded an update that no
	// machine needs any more the cleanup declines it (default 30 days; negative: never).
	DeclineSupersededAfter time.Duration
	// PayloadGrace is how long a payload no update uses is kept (default 7 days).
	PayloadGrace time.Duration
	// HistoryRetention is how long state history and install results are kept (default 400
	// days: a year of monthly releases and some).
	HistoryRetention time.Duration
	// Evaluator keeps applicability and the states of updates on computers current; New
	// makes and loads one when it is nil.
	Evaluator *compliance.Evaluator
	// Notifier sends the organisations' events to their subscribers; New makes one without
	// SMTP, with links to http://localhost, when it is nil (tests).
	Notifier *notify.Notifier
	// Now is the clock; tests move it.
	Now func() time.Time
	// OpenPGPKey signs the CSAF provider's documents; New makes a throwaway one when nil.
	OpenPGPKey *csaf.OpenPGPKey
	// CSAFProviderOrg is the slug of the organisation whose published advisories the CSAF
	// provider at /.well-known/csaf/ serves (default "default").
	CSAFProviderOrg string
	// PublicURL is the scheme and host clients reach the server at (https://host), for the
	// CSAF provider's URLs; empty: each request's own.
	PublicURL string
	// SecurityContact is the Contact of /.well-known/security.txt (default
	// mailto:security@ the public host).
	SecurityContact string
}

// Server answers patchday's HTTP API.
type Server struct {
	cfg      Config
	store    *store.Store
	log      *slog.Logger
	mux      *http.ServeMux
	routes   []route
	reg      *prometheus.Registry
	metrics  *metrics
	handler  http.Handler
	draining atomic.Bool
	cache    *authCache

	logins *limiterSet // login and enrollment failures per source
	agents *limiterSet // check-ins per computer

	notify   *notify.Notifier
	seen     seenBatch // agents' check-in times, written in batches
	scanOrgs orgSet    // organisations with scan schedules
	eval     *compliance.Evaluator

	providerCache providerCache // the CSAF provider's directory (provider.go)
	reports       reportCache   // fleet reports (reportcache.go)
}

// New builds a server on cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LoginRate == 0 {
		cfg.LoginRate = rate.Every(6 * time.Second)
	}
	if cfg.LoginBurst == 0 {
		cfg.LoginBurst = 10
	}
	if cfg.AgentRate == 0 {
		cfg.AgentRate = rate.Every(10 * time.Second)
	}
	if cfg.AgentBurst == 0 {
		cfg.AgentBurst = 30
	}
	if cfg.MaxPayloadSize == 0 {
		cfg.MaxPayloadSize = DefaultMaxPayloadSize
	}
	if cfg.AuthCacheTTL == 0 {
		cfg.AuthCacheTTL = DefaultAuthCacheTTL
	}
	if cfg.CheckInInterval == 0 {
		cfg.CheckInInterval = DefaultCheckInInterval
	}
	if cfg.SigningKey == nil {
		_, cfg.SigningKey, _ = ed25519.GenerateKey(rand.Reader)
		cfg.Logger.Warn("no signing key configured: agents enrolled now will need to enroll again after a restart")
	}
	if cfg.DeclineSupersededAfter == 0 {
		cfg.DeclineSupersededAfter = 30 * 24 * time.Hour
	}
	if cfg.PayloadGrace == 0 {
		cfg.PayloadGrace = 7 * 24 * time.Hour
	}
	if cfg.HistoryRetention == 0 {
		cfg.HistoryRetention = 400 * 24 * time.Hour
	}
	if cfg.Evaluator == nil {
		cfg.Evaluator = compliance.NewEvaluator(cfg.Store, cfg.Logger)
		if err := cfg.Evaluator.Load(context.Background()); err != nil {
			cfg.Logger.Error("applicability: load failed; it is retried in the background", "err", err)
		}
	}
	if cfg.CSAFProviderOrg == "" {
		cfg.CSAFProviderOrg = InitialOrg
	}
	if cfg.OpenPGPKey == nil {
		k, err := csaf.NewOpenPGPKey("patchday CSAF provider", "")
		if err != nil {
			panic(err) // only a broken random source fails here
		}
		cfg.OpenPGPKey = k
		cfg.Logger.Warn("no OpenPGP key configured: the CSAF provider's signatures change at each restart")
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Notifier == nil {
		// The default, for tests and embedding, calls webhooks on this machine too; serve
		// passes its own notifier, which does not unless told to.
		n, err := notify.New(cfg.Store, notify.Config{BaseURL: "http://localhost", TokenKey: notify.KeyFromSeed(cfg.SigningKey.Seed()),
			Webhook: notify.WebhookConfig{AllowPrivate: true}, Now: cfg.Now}, cfg.Logger)
		if err != nil {
			panic(err) // the configuration above is valid
		}
		cfg.Notifier = n
	}
	s := &Server{
		cfg:    cfg,
		store:  cfg.Store,
		log:    cfg.Logger,
		mux:    http.NewServeMux(),
		reg:    prometheus.NewRegistry(),
		logins: newLimiterSet(cfg.LoginRate, cfg.LoginBurst, maxLimiters),
		// One bucket per computer, for fleets of a few hundred thousand (about 100 bytes each).
		agents: newLimiterSet(cfg.AgentRate, cfg.AgentBurst, 500000),
		cache:  newAuthCache(cfg.AuthCacheTTL),
		eval:   cfg.Evaluator,
		notify: cfg.Notifier,
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = newMetrics(s.reg)
	s.routes = s.apiRoutes()
	for _, rt := range s.routes {
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	s.handler = s.observe(secureHeaders(http.HandlerFunc(s.dispatch)))
	return s
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Drain makes /readyz fail, so load balancers stop sending traffic before shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

// Routes lists the registered routes as "METHOD /path" patterns.
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.method + " " + rt.path
	}
	return out
}

// dispatch routes a request; requests no route matches get the JSON error shape too.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern == "" && s.csafDNSHost(w, r) {
		return
	}
	if pattern == "" {
		h.ServeHTTP(&errorRewriter{ResponseWriter: w}, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// errorRewriter replaces the mux's plain-text 404 and 405 answers with JSON errors.
type errorRewriter struct {
	http.ResponseWriter
	done bool
}

func (e *errorRewriter) WriteHeader(code int) {
	if e.done {
		return
	}
	e.done = true
	e.Header().Del("Content-Type")
	e.Header().Del("X-Content-Type-Options")
	e.Header().Set("X-Content-Type-Options", "nosniff")
	switch code {
	case http.StatusMethodNotAllowed:
		writeError(e.ResponseWriter, &apiError{Status: code, Code: "method_not_allowed",
			Message: "method not allowed; allowed: " + e.Header().Get("Allow")})
	case http.StatusNotFound:
		writeError(e.ResponseWriter, &apiError{Status: code, Code: "not_found", Message: "no such endpoint"})
	default:
		writeError(e.ResponseWriter, &apiError{Status: code, Code: strings.ToLower(strings.ReplaceAll(http.StatusText(code), " ", "_")), Message: http.StatusText(code)})
	}
}

func (e *errorRewriter) Write(b []byte) (int, error) {
	if !e.done {
		e.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

// access is what a route requires of the caller.
type access int

const (
	public     access = iota // anyone
	authed                   // any valid token
	siteAdmin                // a site administrator
	orgRead                  // any role in the {org} of the path
	orgOperate               // operator or admin in {org}
	orgAdmin                 // admin in {org}
	agentAuth                // an enrolled agent's credential
)

type route struct {
	method string
	path   string
	access access
	handle func(*call) error
}

// call is one authorised API request.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	s      *Server
	user   store.User
	token  store.Token
	member []store.Membership
	org    store.Org // set when the path names an organisation
	role   store.Role
	// computer and assignGen are set for agentAuth routes: the calling agent's computer and
	// its organisation's assignment generation.
	computer  store.Computer
	assignGen int64
}

func (s *Server) wrap(rt route) http.Handler {
	pattern := rt.method + " " + rt.path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r.Context()).pattern = pattern
		c := &call{w: w, r: r, s: s}
		err := s.authorize(c, rt.access)
		if err == nil {
			err = rt.handle(c)
		}
		if err != nil {
			s.fail(w, r, err)
		} else if rt.method != http.MethodGet && c.org.ID != 0 {
			s.reports.changed(c.org.ID) // its fleet reports are stale (reportcache.go)
		}
	})
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) {
			return
		}
		id := info(r.Context()).id
		s.log.Error("request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
		ae = &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error (request " + id + ")"}
	}
	writeError(w, ae)
}

// passwordChangeRoutes are what a user whose password must change may call.
var passwordChangeRoutes = map[string]bool{
	"GET /api/v1/me": true, "POST /api/v1/me/password": true, "POST /api/v1/auth/logout": true,
}

// authenticateUser authenticates a user's request: the token, and then that a user whose
// password someone else set calls nothing but passwordChangeRoutes.
func (s *Server) authenticateUser(c *call) error {
	if err := s.authenticate(c); err != nil {
		return err
	}
	if c.user.PasswordChangeRequired && !passwordChangeRoutes[c.r.Method+" "+c.r.URL.Path] {
		return &apiError{Status: http.StatusForbidden, Code: "password_change_required",
			Message: "your password was set by someone else: choose your own first (patchday passwd, or the console)"}
	}
	return nil
}

// authorize checks the caller's token and, for routes in an organisation, the caller's role
// there. An organisation the caller does not belong to answers 404, as if it did not exist.
func (s *Server) authorize(c *call, need access) error {
	switch need {
	case public:
		return nil
	case agentAuth:
		return s.authenticateAgent(c)
	}
	if err := s.authenticateUser(c); err != nil {
		return err
	}
	switch need {
	case authed:
		return nil
	case siteAdmin:
		if !c.user.SiteAdmin {
			return errForbidden
		}
		return nil
	}
	slug := c.r.PathValue("org")
	org, err := s.orgBySlug(c.r.Context(), slug)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("organisation " + quote(slug))
	} else if err != nil {
		return err
	}
	c.org = org
	if c.user.SiteAdmin {
		c.role = store.RoleAdmin
	} else {
		for _, m := range c.member {
			if m.OrgID == org.ID {
				c.role = m.Role
			}
		}
		if c.role == "" {
			return errNotFound("organisation " + quote(slug))
		}
	}
	switch {
	case need == orgAdmin && c.role != store.RoleAdmin,
		need == orgOperate && c.role != store.RoleAdmin && c.role != store.RoleOperator:
		return errForbidden
	}
	return nil
}

// orgBySlug finds an organisation, through the cache.
func (s *Server) orgBySlug(ctx context.Context, slug string) (store.Org, error) {
	now := s.cfg.Now()
	if o, ok := lookup(s.cache, s.cache.orgs, slug, now); ok {
		return o, nil
	}
	gen := s.cache.gen.Load()
	o, err := s.store.OrgBySlug(ctx, slug)
	if err == nil {
		remember(s.cache, s.cache.orgs, slug, o, gen, now)
	}
	return o, err
}

func quote(s string) string { return `"` + s + `"` }

// orgsAdministered lists the organisations where the caller is an admin.
func (c *call) orgsAdministered() []int64 {
	var ids []int64
	for _, m := range c.member {
		if m.Role == store.RoleAdmin {
			ids = append(ids, m.OrgID)
		}
	}
	return ids
}

// audit records the call's change in the audit log, in the change's own transaction.
func (c *call) audit(tx *store.Tx, orgID int64, action, objectType, objectID string, details any) error {
	ri := info(c.r.Context())
	e := store.AuditEvent{
		Actor: c.user.Username, Action: action, ObjectType: objectType, ObjectID: objectID,
		Source: ri.source, RequestID: ri.id, Time: c.s.cfg.Now(),
	}
	if c.user.ID != 0 {
		id := c.user.ID
		e.ActorID = &id
	}
	if orgID != 0 {
		e.OrgID = &orgID
	}
	if details != nil {
		b, err := jsonMarshal(details)
		if err != nil {
			return err
		}
		e.Details = b
	}
	_, err := tx.AppendAudit(c.r.Context(), e)
	return err
}

func (s *Server) healthz(c *call) error {
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.Write([]byte("ok\n"))
	return nil
}

func (s *Server) readyz(c *call) error {
	if s.draining.Load() {
		return &apiError{Status: http.StatusServiceUnavailable, Code: "draining", Message: "the server is shutting down"}
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness: database unreachable", "err", err)
		return &apiError{Status: http.StatusServiceUnavailable, Code: "database_unavailable", Message: "the database does not answer"}
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.Write([]byte("ready\n"))
	return nil
}

func (s *Server) metricsHandler(c *call) error {
	promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}).ServeHTTP(c.w, c.r)
	return nil
}

// limiter is one source's budget.
type limiter struct {
	*rate.Limiter
	seen time.Time
}

// limiterSet holds a token bucket per key (a source address, a computer), bounded in size.
type limiterSet struct {
	mu    sync.Mutex
	m     map[string]*limiter
	rate  rate.Limit
	burst int
	max   int // keys kept at most
}

func newLimiterSet(r rate.Limit, burst, max int) *limiterSet {
	return &limiterSet{m: map[string]*limiter{}, rate: r, burst: burst, max: max}
}

// wait returns 0 when key may go ahead, else how long to wait. With spend it takes one
// token; without, it only looks.
func (ls *limiterSet) wait(key string, spend bool) time.Duration {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	now := time.Now()
	if len(ls.m) >= ls.max {
		// Forget idle keys first; if a flood of keys leaves none idle, forget an arbitrary
		// half: the map stays bounded and no newcomer is refused for it.
		for k, l := range ls.m {
			if now.Sub(l.seen) > 10*time.Minute {
				delete(ls.m, k)
			}
		}
		for k := range ls.m {
			if len(ls.m) < ls.max/2 {
				break
			}
			delete(ls.m, k)
		}
	}
	l, ok := ls.m[key]
	if !ok {
		l = &limiter{Limiter: rate.NewLimiter(ls.rate, ls.burst)}
		ls.m[key] = l
	}
	l.seen = now
	if !spend {
		if l.TokensAt(now) >= 1 {
			return 0
		}
		return time.Duration((1 - l.TokensAt(now)) / float64(l.Limit()) * float64(time.Second))
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// allowLogin spends one login attempt of a source (an address, or "user:NAME" for password
// changes). It returns 0 when the attempt may go ahead, else how long to wait.
func (s *Server) allowLogin(source string) time.Duration {
	return s.logins.wait(limitKey(source), true)
}

// failedAuthWait returns how long a source must wait because of its earlier failures, without
// spending anything; failures are then spent with allowLogin. Enrollment uses it so that a
// fleet enrolling from behind one address is not throttled, only guessing is.
func (s *Server) failedAuthWait(source string) time.Duration {
	return s.logins.wait(limitKey(source), false)
}

// maxLimiters bounds the login limiter map.
const maxLimiters = 10000

// limitKey groups IPv6 addresses by /64, the block one subscriber usually gets, so that
// cycling through one's own addresses does not buy more attempts.
func limitKey(source string) string {
	a, err := netip.ParseAddr(source)
	if err != nil || !a.Is6() || a.Is4In6() {
		return source
	}
	p, _ := a.Prefix(64)
	return p.String()
}
