package notify

import (
	"errors"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
)

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		in    SubscriptionInput
		field string
	}{
		{SubscriptionInput{Kind: "sms", Address: "a@example.org"}, "kind"},
		{SubscriptionInput{Kind: "email", Address: "not an address"}, "address"},
		{SubscriptionInput{Kind: "webhook", Address: "http://hooks.example.org/x"}, "address"}, // http off loopback
		{SubscriptionInput{Kind: "webhook", Address: "https://user:pw@hooks.example.org/x"}, "address"},
		{SubscriptionInput{Kind: "webhook", Address: "ftp://hooks.example.org/x"}, "address"},
		{SubscriptionInput{Kind: "webhook", Address: "/relative"}, "address"},
		{SubscriptionInput{Kind: "email", Address: "a@example.org", MinSeverity: "severe"}, "min_severity"},
		{SubscriptionInput{Kind: "email", Address: "a@example.org", MinSeverity: "unknown"}, "min_severity"},
		{SubscriptionInput{Kind: "email", Address: "a@example.org", EventTypes: []string{"scan.opened", "advisory.deleted"}}, "event_types[1]"},
		{SubscriptionInput{Kind: "email", Address: "a@example.org", ProductIDs: []int64{0}}, "product_ids[0]"},
		{SubscriptionInput{Kind: "email", Address: "a@example.org", ProductNames: []string{" "}}, "product_names[0]"},
		{SubscriptionInput{Kind: "email", Address: "a@example.org", Digest: "weekly"}, "digest"},
		{SubscriptionInput{Kind: "webhook", Address: "https://hooks.example.org/x", Digest: "daily"}, "digest"},
	} {
		_, err := validate(tc.in)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want an error naming %s", tc.in, err, tc.field)
		}
	}
	for _, ok := range []SubscriptionInput{
		{Kind: "email", Address: "Bob <BOB@Example.org>", MinSeverity: "none", EventTypes: EventTypes, Digest: "daily"},
		{Kind: "webhook", Address: "https://hooks.example.org/patchday?x=1"},
		{Kind: "webhook", Address: "http://127.0.0.1:8080/hook"},
		{Kind: "webhook", Address: "http://[::1]/hook"},
		{Kind: "webhook", Address: "http://localhost/hook"},
	} {
		if _, err := validate(ok); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

func TestMatches(t *testing.T) {
	sub := store.Subscription{MinSeverity: "high", ProductIDs: []int64{7}, ProductNames: []string{"OpenSSL"},
		EventTypes: []string{EventAdvisoryPublished, EventRolloutHalted}}
	for _, tc := range []struct {
		kind, details string
		want          bool
	}{
		{EventAdvisoryPublished, `{"severity":"critical","products":["openssl"]}`, true},
		{EventAdvisoryPublished, `{"severity":"critical","products":[{"id":7,"name":"x"}]}`, true},
		{EventAdvisoryPublished, `{"severity":"high","products":[7]}`, true},
		{EventAdvisoryPublished, `{"severity":"medium","products":["openssl"]}`, false},
		{EventAdvisoryPublished, `{"severity":"unknown"}`, false},
		{EventAdvisoryPublished, `{"severity":"critical","products":["nginx", 8]}`, false},
		{EventAdvisoryPublished, `{"severity":"critical"}`, true}, // no products: the filter does not apply
		{EventRolloutHalted, `{"update":"x"}`, true},              // no severity either
		{EventAdvisoryRevised, `{"severity":"critical"}`, false},  // not a chosen type
		{EventAdvisoryPublished, `not json`, true},
	} {
		if got := matches(&sub, tc.kind, parseFacts([]byte(tc.details))); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.kind, tc.details, got, tc.want)
		}
	}
	if !matches(&store.Subscription{}, EventScanOpened, parseFacts([]byte(`{"severity":"low","products":["x"]}`))) {
		t.Error("a subscription without filters must take everything")
	}
}

func TestBackoff(t *testing.T) {
	n := &Notifier{cfg: Config{BackoffBase: time.Minute, BackoffMax: 6 * time.Hour}}
	for attempt, full := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 5: 16 * time.Minute, 9: 256 * time.Minute,
		10: 6 * time.Hour, 60: 6 * time.Hour} {
		for range 50 {
			if d := n.backoff(attempt); d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %v, want %v..%v", attempt, d, full/2, full)
			}
		}
	}
}
