// Package openai is the provider for OpenAI's API and every server that speaks
// it (vLLM, Groq, Together, LM Studio, …). Requests a compatible upstream can
// take as they are are forwarded byte for byte, with only the model replaced.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/internal/upstream"
)

// Config is the `providers.NAME` block of a provider of type openai.
type Config struct {
	// BaseURL is the API root, including /v1. Default https://api.openai.com/v1.
	BaseURL string `yaml:"base_url" json:"base_url"`
	// APIKey is sent as a bearer token; empty sends none.
	APIKey string `yaml:"api_key" json:"api_key"`
	// Organization and Project set OpenAI's OpenAI-Organization / OpenAI-Project headers.
	Organization string `yaml:"organization" json:"organization"`
	Project      string `yaml:"project" json:"project"`
	// Headers are added to every upstream request.
	Headers map[string]string `yaml:"headers" json:"headers"`
	// MaxConns caps connections to the upstream (0 = unlimited); idle ones are kept up to it.
	MaxConns int `yaml:"max_conns" json:"max_conns"`
}

// Options are hooks for providers built on this one that speak OpenAI's wire
// format at other URLs (azure-openai). Config files never set them; the zero
// value is plain OpenAI.
type Options struct {
	// URL, when set, returns the full URL of the operation op
	// ("chat/completions", "embeddings" or "models") for the upstream model
	// (empty for "models"), instead of BaseURL + "/" + op.
	URL func(op, model string) string
}

// DefaultBaseURL is OpenAI's public API root.
const DefaultBaseURL = "https://api.openai.com/v1"

// Validate reports what is wrong with c.
func (c *Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("base_url: must be an absolute http(s) URL, got %q", c.BaseURL)
	}
	if c.MaxConns < 0 {
		return fmt.Errorf("max_conns: must not be negative")
	}
	return nil
}

// Client is a Provider for an OpenAI-compatible API.
type Client struct {
	cfg      Config
	base     string
	http     *http.Client
	timeouts switchboard.Timeouts
	log      *slog.Logger
	header   http.Header
	url      func(op, model string) string
}

var (
	_ switchboard.Provider    = (*Client)(nil)
	_ switchboard.Embedder    = (*Client)(nil)
	_ switchboard.ModelLister = (*Client)(nil)
)

func init() {
	switchboard.Providers.Register("openai", factory)
	switchboard.Providers.Register("openai-compatible", factory)
}

func factory(_ context.Context, dec switchboard.Decoder, deps switchboard.Deps) (switchboard.Provider, error) {
	var cfg Config
	if err := dec(&cfg); err != nil {
		return nil, err
	}
	return New(cfg, deps)
}

// New returns a client for the upstream cfg describes.
func New(cfg Config, deps switchboard.Deps) (*Client, error) {
	return NewWithOptions(cfg, deps, Options{})
}

// NewWithOptions is New with the hooks of opts.
func NewWithOptions(cfg Config, deps switchboard.Deps, opts Options) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{
		cfg:      cfg,
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		timeouts: deps.Timeouts,
		log:      deps.Log,
		http:     deps.HTTP,
		header:   http.Header{},
		url:      opts.URL,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.http == nil {
		c.http = &http.Client{Transport: upstream.NewTransport(deps.Timeouts, cfg.MaxConns)}
	}
	c.header.Set("Content-Type", "application/json")
	c.header.Set("Accept", "application/json")
	if cfg.APIKey != "" {
		c.header.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	if cfg.Organization != "" {
		c.header.Set("OpenAI-Organization", cfg.Organization)
	}
	if cfg.Project != "" {
		c.header.Set("OpenAI-Project", cfg.Project)
	}
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

// newRequest returns a request for the operation op ("chat/completions",
// "embeddings", "models") on model, with the client's headers.
func (c *Client) newRequest(ctx context.Context, method, op, model string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := c.base + "/" + op
	if c.url != nil {
		u = c.url(op, model)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("openai: new request: %w", err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	return req, nil
}

// do sends req and returns the response when its status is 2xx, or the
// upstream's error mapped to a *switchboard.Error.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, upstream.TransportError(req.Context(), err, "upstream")
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, UpstreamError(resp.StatusCode, resp.Header, body)
	}
	return resp, nil
}

// Chat implements switchboard.Provider.
func (c *Client) Chat(ctx context.Context, model string, r *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
	body, err := r.UpstreamBody(model)
	if err != nil {
		return nil, fmt.Errorf("openai: encode request: %w", err)
	}
	req, err := c.newRequest(ctx, http.MethodPost, "chat/completions", model, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := readBody(resp)
	if err != nil {
		return nil, upstream.TransportError(ctx, err, "upstream")
	}
	out, err := switchboard.DecodeChatResponse(raw)
	if err != nil {
		return nil, upstream.Malformed("upstream", err)
	}
	return out, nil
}

func readBody(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n <= 0 || n > 64<<20 {
		n = 4096
	}
	buf := bytes.NewBuffer(make([]byte, 0, n+1))
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, 256<<20))
	return buf.Bytes(), err
}

// Embed implements switchboard.Embedder.
func (c *Client) Embed(ctx context.Context, model string, r *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
	body, err := r.UpstreamBody(model)
	if err != nil {
		return nil, fmt.Errorf("openai: encode request: %w", err)
	}
	req, err := c.newRequest(ctx, http.MethodPost, "embeddings", model, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := readBody(resp)
	if err != nil {
		return nil, upstream.TransportError(ctx, err, "upstream")
	}
	var out switchboard.EmbeddingResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, upstream.Malformed("upstream", err)
	}
	return &out, nil
}

// Models implements switchboard.ModelLister.
func (c *Client) Models(ctx context.Context) ([]switchboard.Model, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "models", "", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var list struct {
		Data []switchboard.Model `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, upstream.Malformed("upstream", err)
	}
	return list.Data, nil
}

// transportError maps a failed round trip to an error code.

// UpstreamError maps an upstream's non-2xx answer to a *switchboard.Error that
// keeps the upstream's status, message, type and code. 401/403 mean our own
// credentials are wrong, so the client sees 502 rather than an auth error.
func UpstreamError(status int, h http.Header, body []byte) *switchboard.Error {
	var env struct {
		Error struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Param   string          `json:"param"`
			Code    json.RawMessage `json:"code"`
		} `json:"error"`
	}
	msg := ""
	e := &switchboard.Error{Status: status}
	if json.Unmarshal(body, &env) == nil && env.Error.Message != "" {
		msg = env.Error.Message
		e.Type = env.Error.Type
		e.Param = env.Error.Param
		var code string
		if json.Unmarshal(env.Error.Code, &code) == nil {
			e.VendorCode = code
		}
	} else {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = msg[:512]
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
	}
	e.Message = msg
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Code = switchboard.CodeUpstream
		e.Status = http.StatusBadGateway
		e.Message = fmt.Sprintf("upstream rejected the gateway's credentials (%d): %s", status, msg)
		e.Type, e.VendorCode = "upstream_error", "upstream_auth_failed"
	case status == http.StatusTooManyRequests:
		e.Code = switchboard.CodeRateLimited
		e.RetryAfter = upstream.RetryAfter(h)
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		e.Code = switchboard.CodeTimeout
	case status == http.StatusNotFound:
		e.Code = switchboard.CodeNotFound
	case status == http.StatusConflict:
		e.Code = switchboard.CodeConflict
	case status == http.StatusRequestEntityTooLarge:
		e.Code = switchboard.CodeTooLarge
	case status >= 500:
		e.Code = switchboard.CodeUnavailable
		e.RetryAfter = upstream.RetryAfter(h)
	case status >= 400:
		e.Code = switchboard.CodeInvalidRequest
	default:
		e.Code = switchboard.CodeUpstream
		e.Status = http.StatusBadGateway
	}
	return e
}
