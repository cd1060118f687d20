package experiment

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

// Alert tells people that an experiment ended on its own: a canary rolled
// back or promoted, an A/B test stopped or its winner shipped, or that a
// decision could not be carried out.
type Alert struct {
	Experiment string `json:"experiment"`
	Kind       string `json:"kind"`
	Prompt     string `json:"prompt,omitempty"`
	Label      string `json:"label,omitempty"`
	Model      string `json:"model,omitempty"`
	// Action is the decision: ship, stop or rollback.
	Action  string `json:"action"`
	Variant string `json:"variant,omitempty"`
	// Version is the prompt version the label now serves, if it moved.
	Version string `json:"version,omitempty"`
	Reason  string `json:"reason"`
	// Error is set when carrying the decision out failed (an operator must act).
	Error string    `json:"error,omitempty"`
	Time  time.Time `json:"time"`
}

// Notifier delivers alerts somewhere people see them. The budget package
// has the same shape for budget alerts.
type Notifier interface {
	Notify(ctx context.Context, a Alert) error
}

// LogNotifier writes alerts to a logger at level Warn (Error when carrying
// out the decision failed).
type LogNotifier struct{ log *slog.Logger }

// NewLogNotifier returns a notifier that logs alerts to log.
func NewLogNotifier(log *slog.Logger) *LogNotifier { return &LogNotifier{log: log} }

// Notify implements Notifier.
func (n *LogNotifier) Notify(ctx context.Context, a Alert) error {
	level := slog.LevelWarn
	if a.Error != "" {
		level = slog.LevelError
	}
	n.log.LogAttrs(ctx, level, "experiment alert",
		slog.String("experiment", a.Experiment), slog.String("kind", a.Kind),
		slog.String("action", a.Action), slog.String("variant", a.Variant),
		slog.String("prompt", a.Prompt), slog.String("label", a.Label), slog.String("version", a.Version),
		slog.String("reason", a.Reason), slog.String("error", a.Error))
	return nil
}

// Retries of the HTTP notifiers, as in the budget package.
const (
	// Retries is how many times Webhook and Slack retry a POST that failed
	// with a network error, a 429 or a 5xx.
	Retries = 3
	// RetryBackoff is the first wait; it doubles for each next retry.
	RetryBackoff = 250 * time.Millisecond
)

// Webhook POSTs each alert as JSON (the fields of Alert) to a URL.
type Webhook struct {
	url     string
	headers map[string]string
	client  *http.Client
	backoff time.Duration
}

// NewWebhook returns a notifier that POSTs alerts to url with headers
// through client (nil: a client with a 10-second timeout), retrying on
// network errors, 429 and 5xx. Errors never contain the URL.
func NewWebhook(url string, headers map[string]string, client *http.Client) *Webhook {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
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

// Slack posts alerts as text to a Slack-compatible incoming webhook.
type Slack struct {
	url     string
	client  *http.Client
	backoff time.Duration
}

// NewSlack returns a notifier that posts alerts to the incoming webhook url
// through client (nil: a client with a 10-second timeout).
func NewSlack(url string, client *http.Client) *Slack {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
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
// "Switchboard experiment rag-v4-canary: rollback canary of prompt
// rag_query/production (now version 3). guardrail breached: …".
func SlackText(a Alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Switchboard experiment %s: %s", slackEscape(a.Experiment), a.Action)
	if a.Variant != "" {
		fmt.Fprintf(&b, " %s", slackEscape(a.Variant))
	}
	switch {
	case a.Prompt != "":
		fmt.Fprintf(&b, " of prompt %s/%s", slackEscape(a.Prompt), slackEscape(a.Label))
	case a.Model != "":
		fmt.Fprintf(&b, " of model %s", slackEscape(a.Model))
	}
	if a.Version != "" {
		fmt.Fprintf(&b, " (now version %s)", slackEscape(a.Version))
	}
	b.WriteString(". ")
	b.WriteString(slackEscape(a.Reason))
	if a.Error != "" {
		b.WriteString(" FAILED, an operator must act: ")
		b.WriteString(slackEscape(a.Error))
	}
	return b.String()
}

func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
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
				return errors.Join(last, ctx.Err())
			case <-t.C:
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return errors.New("invalid URL")
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the URL may hold a token
			}
			last = err
			if ctx.Err() != nil {
				return last
			}
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			last = errors.New("status " + strconv.Itoa(resp.StatusCode))
		default:
			return errors.New("status " + strconv.Itoa(resp.StatusCode))
		}
	}
	return last
}
