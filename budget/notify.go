package budget

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Interface guards.
var (
	_ Notifier = (*LogNotifier)(nil)
	_ Notifier = (*Webhook)(nil)
	_ Notifier = (*Slack)(nil)
)

// Retries of the HTTP notifiers.
const (
	// Retries is how many times Webhook and Slack retry a POST that failed
	// with a network error, a 429 or a 5xx, after the first attempt.
	Retries = 3
	// RetryBackoff is the wait before the first retry; it doubles for each
	// next one (250ms, 500ms, 1s).
	RetryBackoff = 250 * time.Millisecond
	// defaultHTTPTimeout bounds one attempt when no client is given.
	defaultHTTPTimeout = 10 * time.Second
	// maxDrain is how much of a response body is read before closing it, so
	// the connection can be reused.
	maxDrain = 64 << 10
)

// LogNotifier writes alerts to a logger, at level Warn.
type LogNotifier struct {
	log *slog.Logger
}

// NewLogNotifier returns a notifier that logs alerts to log.
func NewLogNotifier(log *slog.Logger) *LogNotifier { return &LogNotifier{log: log} }

// Notify implements Notifier.
func (n *LogNotifier) Notify(ctx context.Context, a Alert) error {
	n.log.LogAttrs(ctx, slog.LevelWarn, "budget alert",
		slog.String("scope", a.ScopeKind),
		slog.String("id", a.ScopeID),
		slog.String("window", a.Window),
		slog.Time("window_start", a.WindowStart),
		slog.Float64("threshold", a.Threshold),
		slog.Float64("spent_usd", a.SpentUSD),
		slog.Float64("cap_usd", a.CapUSD),
		slog.String("action", a.Action),
	)
	return nil
}

// Webhook POSTs each alert as JSON (the fields of Alert) to a URL.
type Webhook struct {
	url     string
	headers map[string]string
	client  *http.Client
	backoff time.Duration
}

// NewWebhook returns a notifier that POSTs alerts to url with headers (for
// example an Authorization header) through client (nil: a client with a
// 10-second timeout). It retries Retries times on network errors, 429 and
// 5xx. Errors never contain the URL, which may hold a token.
func NewWebhook(url string, headers map[string]string, client *http.Client) *Webhook {
	if client == nil {
		client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	return &Webhook{url: url, headers: headers, client: client, backoff: RetryBackoff}
}

// Notify implements Notifier.
func (w *Webhook) Notify(ctx context.Context, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	if err := post(ctx, w.client, w.url, w.headers, body, w.backoff); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

// Slack posts alerts as human-readable text to a Slack incoming webhook
// (or anything that takes Slack's {"text": "…"}, like Mattermost or a
// Discord /slack endpoint).
type Slack struct {
	url     string
	client  *http.Client
	backoff time.Duration
}

// NewSlack returns a notifier that posts alerts to the incoming webhook url
// through client (nil: a client with a 10-second timeout). It retries as
// Webhook does.
func NewSlack(url string, client *http.Client) *Slack {
	if client == nil {
		client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	return &Slack{url: url, client: client, backoff: RetryBackoff}
}

// Notify implements Notifier.
func (s *Slack) Notify(ctx context.Context, a Alert) error {
	body, err := json.Marshal(struct {
		Text string `json:"text"`
	}{SlackText(a)})
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	if err := post(ctx, s.client, s.url, nil, body, s.backoff); err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	return nil
}

// SlackText returns the message Slack posts for a, for example
// "Switchboard budget alert: tenant acme spent $40.12 of its $50.00 daily
// budget (80%)." The scope ID is escaped for Slack's markup.
func SlackText(a Alert) string {
	var b strings.Builder
	b.WriteString("Switchboard budget alert: ")
	window := a.Window
	if a.Window == Rolling {
		window = "rolling " + shortDuration(a.Time.Sub(a.WindowStart))
	}
	if a.ScopeKind == KindGlobal {
		fmt.Fprintf(&b, "global spend reached $%.2f of the $%.2f %s budget", a.SpentUSD, a.CapUSD, window)
	} else {
		fmt.Fprintf(&b, "%s %s spent $%.2f of its $%.2f %s budget", a.ScopeKind, slackEscape(a.ScopeID),
			a.SpentUSD, a.CapUSD, window)
	}
	fmt.Fprintf(&b, " (%s%%).", strconv.FormatFloat(a.Threshold*100, 'f', -1, 64))
	if a.SpentUSD >= a.CapUSD {
		if a.Action == ActionAlert {
			b.WriteString(" The budget is alert-only: requests still go through.")
		} else {
			b.WriteString(" Requests are refused until the window resets.")
		}
	}
	return b.String()
}

// slackEscape escapes the characters Slack treats as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// shortDuration formats d as "7d", "24h", "90m" or, failing those, as
// time.Duration does.
func shortDuration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// post POSTs body as JSON to u, retrying Retries times after backoff,
// doubled each time, on network errors, 429 and 5xx.
func post(ctx context.Context, c *http.Client, u string, headers map[string]string, body []byte, backoff time.Duration) error {
	var last error
	for attempt := 0; attempt <= Retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(backoff << (attempt - 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), last)
			case <-t.C:
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return errors.New("invalid URL")
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "switchboard-budget")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // without the URL
			}
			if ctx.Err() != nil {
				return err
			}
			last = err
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		_ = resp.Body.Close()
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			last = fmt.Errorf("status %d", resp.StatusCode)
		default:
			return fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	return fmt.Errorf("%d attempts: %w", Retries+1, last)
}
