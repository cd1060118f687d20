// Package ollama is the provider for Ollama's native API (/api/chat,
// /api/embed, /api/tags): OpenAI-shaped requests are translated to
// Ollama's messages, options and formats, and its answers and NDJSON
// streams back to OpenAI's completions and chunks.
//
// Ollama also serves an OpenAI-compatible /v1 (usable with type
// openai-compatible); the native API adds keep_alive, default model options
// and Ollama's own error messages ("try pulling it first").
package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/internal/upstream"
)

// DefaultBaseURL is where a local Ollama listens.
const DefaultBaseURL = "http://127.0.0.1:11434"

// Limits on what the client reads from Ollama.
const (
	// maxBody bounds a non-streamed response body.
	maxBody = 256 << 20
	// maxErrorBody bounds the part of an error body that is read.
	maxErrorBody = 64 << 10
)

// Config is the `providers.NAME` block of a provider of type ollama.
type Config struct {
	// BaseURL is the server root, without /api. Default DefaultBaseURL; in
	// zero-config mode it comes from OLLAMA_HOST.
	BaseURL string `yaml:"base_url"`
	// Headers are added to every request (for a proxy in front of Ollama).
	Headers map[string]string `yaml:"headers"`
	// KeepAlive is how long Ollama keeps the model loaded after a request,
	// as a duration ("10m"; negative keeps it loaded, "0s" unloads at once).
	// Empty leaves Ollama's default (5m).
	KeepAlive string `yaml:"keep_alive"`
	// Options are Ollama model options (num_ctx, temperature, …) sent with
	// every request; a request's own temperature, top_p, seed, max_tokens
	// and stop override them.
	Options map[string]any `yaml:"options"`
}

// Validate reports what is wrong with c, each problem prefixed by its key.
func (c *Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("base_url: must be an absolute http(s) URL such as %s, got %q", DefaultBaseURL, c.BaseURL))
	}
	if c.KeepAlive != "" {
		if _, err := time.ParseDuration(c.KeepAlive); err != nil {
			errs = append(errs, fmt.Errorf("keep_alive: must be a duration such as \"10m\" (negative keeps the model loaded), got %q", c.KeepAlive))
		}
	}
	if _, err := json.Marshal(c.Options); err != nil {
		errs = append(errs, fmt.Errorf("options: cannot be sent as JSON: %w", err))
	}
	return errors.Join(errs...)
}

// Client is a Provider for an Ollama server. It is safe for concurrent use.
type Client struct {
	cfg      Config
	base     string
	http     *http.Client
	timeouts switchboard.Timeouts
	log      *slog.Logger
	header   http.Header
	newID    func(prefix string) string
}

// Interface guards.
var (
	_ switchboard.Provider    = (*Client)(nil)
	_ switchboard.Embedder    = (*Client)(nil)
	_ switchboard.ModelLister = (*Client)(nil)
	_ switchboard.Pinger      = (*Client)(nil)
	_ io.Closer               = (*Client)(nil)
)

func init() { switchboard.Providers.Register("ollama", factory) }

func factory(_ context.Context, dec switchboard.Decoder, deps switchboard.Deps) (switchboard.Provider, error) {
	var cfg Config
	if err := dec(&cfg); err != nil {
		return nil, err
	}
	return New(cfg, deps)
}

// New returns a client for the Ollama server cfg describes. It does not
// contact the server: Ollama is often started after the gateway.
func New(cfg Config, deps switchboard.Deps) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{
		cfg:      cfg,
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		http:     deps.HTTP,
		timeouts: deps.Timeouts,
		log:      deps.Log,
		header:   http.Header{},
		newID:    newID,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.http == nil {
		c.http = &http.Client{Transport: upstream.NewTransport(deps.Timeouts, 0)}
	}
	c.header.Set("Content-Type", "application/json")
	c.header.Set("Accept", "application/json")
	for k, v := range cfg.Headers {
		c.header.Set(k, v)
	}
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// Chat implements switchboard.Provider.
func (c *Client) Chat(ctx context.Context, model string, r *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
	body, err := c.chatBody(model, r, false)
	if err != nil {
		return nil, err
	}
	raw, err := c.call(ctx, http.MethodPost, "/api/chat", body)
	if err != nil {
		return nil, err
	}
	out, err := fromChatResponse(raw, c.newID)
	if err != nil {
		return nil, malformed(err)
	}
	return out, nil
}

func (c *Client) chatBody(model string, r *switchboard.ChatRequest, stream bool) ([]byte, error) {
	wire, err := toChatRequest(model, r, &c.cfg, stream)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(wire)
	if err != nil {
		return nil, fmt.Errorf("ollama: encode request: %w", err)
	}
	return body, nil
}

// Embed implements switchboard.Embedder with /api/embed.
func (c *Client) Embed(ctx context.Context, model string, r *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
	wire, err := toEmbedRequest(model, r, &c.cfg)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(wire)
	if err != nil {
		return nil, fmt.Errorf("ollama: encode request: %w", err)
	}
	raw, err := c.call(ctx, http.MethodPost, "/api/embed", body)
	if err != nil {
		return nil, err
	}
	out, err := fromEmbedResponse(raw, model, len(wire.Input))
	if err != nil {
		return nil, malformed(err)
	}
	return out, nil
}

// Models implements switchboard.ModelLister with /api/tags: the models
// pulled on the server.
func (c *Client) Models(ctx context.Context) ([]switchboard.Model, error) {
	raw, err := c.call(ctx, http.MethodGet, "/api/tags", nil)
	if err != nil {
		return nil, err
	}
	var tags tagsResponse
	if err := json.Unmarshal(raw, &tags); err != nil {
		return nil, malformed(err)
	}
	out := make([]switchboard.Model, 0, len(tags.Models))
	for _, m := range tags.Models {
		id := m.Name
		if id == "" {
			id = m.Model
		}
		var created int64
		if t, err := time.Parse(time.RFC3339Nano, m.ModifiedAt); err == nil {
			created = t.Unix()
		}
		out = append(out, switchboard.Model{ID: id, Object: "model", Created: created, OwnedBy: "ollama"})
	}
	return out, nil
}

// Ping implements switchboard.Pinger with GET /api/version, which answers
// without loading a model.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.call(ctx, http.MethodGet, "/api/version", nil)
	return err
}

// call sends a request and returns the body of a 2xx answer.
func (c *Client) call(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, upstream.TransportError(ctx, err, "ollama")
	}
	return raw, nil
}

func (c *Client) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("ollama: new request: %w", err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if body == nil {
		req.Header.Del("Content-Type")
	}
	return req, nil
}

// do sends req and returns the response when its status is 2xx, or
// Ollama's error mapped to a *switchboard.Error.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, upstream.TransportError(req.Context(), err, "ollama")
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, upstreamError(resp.StatusCode, resp.Header, body)
	}
	return resp, nil
}

// upstreamError maps Ollama's non-2xx answer ({"error":"…"}) to a
// *switchboard.Error keeping its status and message: 400 → invalid_request,
// 404 (a model not pulled) → not_found with code model_not_found, 429 →
// rate_limited, 5xx → unavailable. 401/403 come from a proxy in front of
// Ollama rejecting the gateway's credentials, so the client sees 502.
func upstreamError(status int, h http.Header, body []byte) *switchboard.Error {
	var eb errorBody
	fromOllama := json.Unmarshal(body, &eb) == nil && eb.Error != ""
	msg := eb.Error
	if !fromOllama {
		msg = strings.ToValidUTF8(strings.TrimSpace(string(body)), "")
		if len(msg) > 512 {
			msg = strings.ToValidUTF8(msg[:512], "")
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
	}
	e := &switchboard.Error{Status: status, Message: msg}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Code, e.Status = switchboard.CodeUpstream, http.StatusBadGateway
		e.Message = fmt.Sprintf("ollama rejected the gateway's credentials (%d): %s", status, msg)
		e.VendorCode = "upstream_auth_failed"
	case status == http.StatusNotFound:
		e.Code = switchboard.CodeNotFound
		if fromOllama {
			e.VendorCode, e.Param = "model_not_found", "model"
		}
	case status == http.StatusTooManyRequests:
		e.Code, e.RetryAfter = switchboard.CodeRateLimited, upstream.RetryAfter(h)
	case status >= 500:
		e.Code, e.RetryAfter = switchboard.CodeUnavailable, upstream.RetryAfter(h)
	case status >= 400:
		e.Code = switchboard.CodeInvalidRequest
	default:
		e.Code, e.Status = switchboard.CodeUpstream, http.StatusBadGateway
	}
	return e
}

// inBandError is an error Ollama reports inside a 200 answer, typically a
// model runner that crashed mid-generation: retryable.
func inBandError(msg string) *switchboard.Error {
	return &switchboard.Error{Code: switchboard.CodeUnavailable, Message: "ollama: " + msg}
}

// transportError maps a failed round trip. A refused connection is the
// usual case (Ollama is not running on this machine): unavailable, so a
// route falls back to its next deployment.

// newID returns prefix and 24 random hex digits (ids only, not secrets).
func newID(prefix string) string {
	const hex = "0123456789abcdef"
	b := make([]byte, len(prefix), len(prefix)+24)
	copy(b, prefix)
	x, y := rand.Uint64(), rand.Uint64()
	for i := range 24 {
		if i == 16 {
			x = y
		}
		b = append(b, hex[x&0xf])
		x >>= 4
	}
	return string(b)
}

// malformed is the error for an answer ollama sent that cannot be decoded.
func malformed(err error) error {
	return upstream.Malformed("ollama", fmt.Errorf("ollama: decode response: %w", err))
}
