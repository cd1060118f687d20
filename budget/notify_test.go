package budget

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
)

var testAlert = Alert{
	ScopeKind:   KindTenant,
	ScopeID:     "acme",
	Window:      Daily,
	WindowStart: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
	Threshold:   0.8,
	SpentUSD:    40.12,
	CapUSD:      50,
	Action:      ActionBlock,
	Time:        time.Date(2026, 11, 25, 15, 4, 5, 0, time.UTC),
}

// scriptedServer answers each request with the next status of statuses
// (the last one repeating) and records the request bodies and headers.
type scriptedServer struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
	statuses []int
}

func newScriptedServer(t *testing.T, statuses ...int) *scriptedServer {
	s := &scriptedServer{statuses: statuses}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.bodies)
		s.bodies = append(s.bodies, body)
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(s.statuses[min(n, len(s.statuses)-1)])
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scriptedServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		statuses []int
		wantErr  bool
		wantReqs int
	}{
		{"ok", []int{200}, false, 1},
		{"retries 5xx", []int{500, 503, 204}, false, 3},
		{"retries 429", []int{429, 200}, false, 2},
		{"gives up after 3 retries", []int{500}, true, 4},
		{"no retry on 4xx", []int{400}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newScriptedServer(t, tc.statuses...)
			w := NewWebhook(srv.URL+"/hook?token=secret", map[string]string{"Authorization": "Bearer x"}, srv.Client())
			w.backoff = time.Millisecond
			err := w.Notify(t.Context(), testAlert)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Notify: %v, want error %v", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q contains the URL", err)
			}
			if got := srv.requests(); got != tc.wantReqs {
				t.Errorf("got %d requests, want %d", got, tc.wantReqs)
			}
			var got Alert
			if err := json.Unmarshal(srv.bodies[0], &got); err != nil {
				t.Fatalf("body %s: %v", srv.bodies[0], err)
			}
			if diff := cmp.Diff(testAlert, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			h := srv.headers[0]
			if h.Get("Authorization") != "Bearer x" || h.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v, want Authorization and Content-Type", h)
			}
		})
	}
}

func TestWebhookBodyShape(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(testAlert)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"scope_kind":"tenant","scope_id":"acme","window":"daily","window_start":"2026-11-25T00:00:00Z",` +
		`"threshold":0.8,"spent_usd":40.12,"cap_usd":50,"action":"block","time":"2026-11-25T15:04:05Z"}`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
}

func TestWebhookNetworkError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/?token=secret"
	srv.Close() // connection refused from now on
	w := NewWebhook(url, nil, nil)
	w.backoff = time.Millisecond
	err := w.Notify(t.Context(), testAlert)
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "4 attempts") {
		t.Errorf("Notify to a closed server: %v, want an error after 4 attempts without the URL", err)
	}
}

func TestSlack(t *testing.T) {
	t.Parallel()
	srv := newScriptedServer(t, 500, 200)
	s := NewSlack(srv.URL, srv.Client())
	s.backoff = time.Millisecond
	if err := s.Notify(t.Context(), testAlert); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if got := srv.requests(); got != 2 {
		t.Errorf("got %d requests, want 2 (one retry)", got)
	}
	var body map[string]string
	if err := json.Unmarshal(srv.bodies[1], &body); err != nil {
		t.Fatalf("body %s: %v", srv.bodies[1], err)
	}
	want := map[string]string{"text": "Switchboard budget alert: tenant acme spent $40.12 of its $50.00 daily budget (80%)."}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestSlackText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(a *Alert)
		want string
	}{
		{"key over a blocking cap", func(a *Alert) {
			a.ScopeKind, a.ScopeID, a.Threshold, a.SpentUSD = KindKey, "k<1>", 1, 50.3
		}, "Switchboard budget alert: key k&lt;1&gt; spent $50.30 of its $50.00 daily budget (100%). Requests are refused until the window resets."},
		{"global alert-only monthly", func(a *Alert) {
			a.ScopeKind, a.ScopeID, a.Window, a.Action, a.Threshold, a.SpentUSD = KindGlobal, "", Monthly, ActionAlert, 1.5, 80
		}, "Switchboard budget alert: global spend reached $80.00 of the $50.00 monthly budget (150%). The budget is alert-only: requests still go through."},
		{"rolling", func(a *Alert) {
			a.Window, a.WindowStart, a.Threshold = Rolling, a.Time.Add(-7*24*time.Hour), 0.5
		}, "Switchboard budget alert: tenant acme spent $40.12 of its $50.00 rolling 7d budget (50%)."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := testAlert
			tc.edit(&a)
			if got := SlackText(a); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestLogNotifier(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	n := NewLogNotifier(slog.New(slog.NewTextHandler(&buf, nil)))
	if err := n.Notify(t.Context(), testAlert); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	for _, want := range []string{"level=WARN", `msg="budget alert"`, "scope=tenant", "id=acme", "window=daily",
		"threshold=0.8", "spent_usd=40.12", "cap_usd=50", "action=block"} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
}

// gate is a Notifier that blocks until opened, counting its calls.
type gate struct {
	open  chan struct{}
	calls atomic.Int64
	fail  bool
}

func (g *gate) Notify(ctx context.Context, _ Alert) error {
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.calls.Add(1)
	if g.fail {
		return errors.New("down")
	}
	return nil
}

// alerting returns a scope whose every $1 charge fires a new alert
// (thresholds every 1% of a $100 daily cap).
func alerting() Scope {
	at := make([]float64, 100)
	for i := range at {
		at[i] = float64(i+1) / 100
	}
	return tenant("acme", switchboard.Budget{DailyUSD: 100, AlertAt: at})
}

func TestCloseDrains(t *testing.T) {
	t.Parallel()
	g := &gate{open: make(chan struct{})}
	rec := &recorder{}
	l := NewMemory(Options{Notifiers: []Notifier{g, rec}})
	s := alerting()
	for range 10 {
		mustCharge(t, l, []Scope{s}, 1) // never blocks on the stuck notifier
	}
	time.AfterFunc(20*time.Millisecond, func() { close(g.open) })
	mustClose(t, l)
	if got := len(rec.got()); got != 10 || g.calls.Load() != 10 {
		t.Errorf("after Close: %d and %d alerts delivered, want 10 and 10", got, g.calls.Load())
	}
	if got := l.AlertStats(); got != (AlertStats{Sent: 20}) {
		t.Errorf("AlertStats = %+v, want 20 sent", got)
	}
}

func TestQueueFull(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	g := &gate{open: make(chan struct{}), fail: true}
	l := NewMemory(Options{Notifiers: []Notifier{g}, QueueSize: 2, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	s := alerting()
	for range 10 {
		mustCharge(t, l, []Scope{s}, 1)
	}
	// One alert is in Notify, two are queued: at least 7 were dropped.
	if got := l.AlertStats().Dropped; got < 7 {
		t.Errorf("Dropped = %d, want >= 7", got)
	}
	close(g.open)
	mustClose(t, l)
	st := l.AlertStats()
	if st.Sent != 0 || st.Failed+st.Dropped != 10 {
		t.Errorf("AlertStats = %+v, want 0 sent and failed + dropped = 10", st)
	}
	if !strings.Contains(logs.String(), "budget alert dropped") || !strings.Contains(logs.String(), "budget alert not delivered") {
		t.Errorf("logs lack the drop and the failure:\n%s", logs.String())
	}
}

func TestCloseGivesUp(t *testing.T) {
	t.Parallel()
	g := &gate{open: make(chan struct{})} // never opens
	l := NewMemory(Options{Notifiers: []Notifier{g}})
	mustCharge(t, l, []Scope{alerting()}, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := l.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want context.DeadlineExceeded", err)
	}
	// The stuck Notify is canceled and the rest dropped: the goroutine ends.
	if err := l.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if st := l.AlertStats(); st.Failed != 1 || st.Dropped != 2 {
		t.Errorf("AlertStats = %+v, want 1 failed (canceled), 2 dropped", st)
	}
}
