package notify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// IPv6 addresses that carry an internal IPv4 address (NAT64 64:ff9b::/96 and
// 64:ff9b:1::/48, 6to4, IPv4-compatible, SIIT) reach it through a translator: both the
// check at subscription (internalHost) and the one at dial time (refusePrivate) refuse them.
func TestWebhookRefusesEmbeddedIPv4(t *testing.T) {
	e := newEnv(t, store.SQLite, Config{})
	ctx := context.Background()
	e.n.cfg.Webhook.AllowPrivate = false
	for _, host := range []string{
		"64:ff9b::a00:5",     // NAT64 of 10.0.0.5
		"64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
		"64:ff9b:1::a00:5",   // local-use NAT64 prefix (RFC 8215)
		"2002:a9fe:a9fe::1",  // 6to4 of 169.254.169.254
		"::127.0.0.1",        // IPv4-compatible loopback
		"::ffff:0:a00:5",     // SIIT IPv4-translated 10.0.0.5
	} {
		if err := refusePrivate("tcp", "["+host+"]:443", nil); !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("dial to [%s]:443: %v, want ErrPrivateAddress", host, err)
		}
		_, err := e.n.Subscribe(ctx, e.org.ID, SubscriptionInput{Kind: store.SubscriptionWebhook, Address: "https://[" + host + "]/hook"}, "admin")
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "address" {
			t.Errorf("subscribe https://[%s]/hook: %v, want a refusal naming address", host, err)
		}
	}
}

// Through a proxy of the environment (HTTPS_PROXY) that sits on a loopback address, as
// egress proxies sit on internal ones, a public webhook goes through the proxy, and an
// internal target is refused before the proxy is asked.
func TestWebhookThroughPrivateProxy(t *testing.T) {
	if os.Getenv("WEBHOOK_PROXY_CHILD") == "" {
		// http.ProxyFromEnvironment reads the environment once per process: run in a fresh one.
		cmd := exec.Command(os.Args[0], "-test.run=^TestWebhookThroughPrivateProxy$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "WEBHOOK_PROXY_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("in a process with HTTPS_PROXY set:\n%s", out)
		}
		return
	}
	var connects atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			connects.Add(1)
		}
		http.Error(w, "this test proxy refuses", http.StatusForbidden)
	}))
	defer proxy.Close()
	os.Setenv("HTTPS_PROXY", proxy.URL)
	os.Unsetenv("NO_PROXY")
	os.Unsetenv("no_proxy")

	c := newWebhookClient(WebhookConfig{Timeout: 5 * time.Second, MaxResponseBytes: 1 << 10})
	req, _ := http.NewRequest(http.MethodPost, "https://hooks.example.org/patchday", strings.NewReader("{}"))
	_, err := c.http.Do(req)
	if errors.Is(err, ErrPrivateAddress) {
		t.Errorf("a public webhook through the proxy at %s: %v (permanent: a dead letter at once)", proxy.URL, err)
	}
	if connects.Load() == 0 {
		t.Errorf("the proxy was never asked (err %v)", err)
	}
	// An internal target is refused before the proxy is asked.
	asked := connects.Load()
	req, _ = http.NewRequest(http.MethodPost, "https://10.1.2.3/hook", strings.NewReader("{}"))
	if _, err := c.http.Do(req); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("an internal target through the proxy: %v, want ErrPrivateAddress", err)
	}
	if connects.Load() != asked {
		t.Error("the proxy was asked to reach an internal target")
	}
}
