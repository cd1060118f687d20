// Package anthropic is the provider for Anthropic's Messages API
// (config type anthropic). It translates OpenAI-shaped chat requests to
// Messages requests and the answers back, streams included; the
// translations live in internal/anthropic, shared with the gateway's
// inbound /v1/messages endpoint. It lists models and counts tokens;
// Anthropic serves no embeddings.
package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
	wire "github.com/switchboard-ai/switchboard/internal/anthropic"
	"github.com/switchboard-ai/switchboard/internal/upstream"
)

// The defaults of Config.
const (
	// DefaultBaseURL is Anthropic's API root, without /v1.
	DefaultBaseURL = "https://api.anthropic.com"
	// DefaultVersion is the anthropic-version header sent by default.
	DefaultVersion = "2023-06-01"
	// DefaultMaxTokens is the max_tokens sent when a request sets none
	// (Anthropic requires it; OpenAI does not).
	DefaultMaxTokens = 4096
)

// maxModelPages bounds the pages Models follows.
const maxModelPages = 20

// Config is the `providers.NAME` block of a provider of type anthropic.
type Config struct {
	// BaseURL is the API root, without /v1. Default DefaultBaseURL.
	BaseURL string `yaml:"base_url" json:"base_url"`
	// APIKey is sent as the x-api-key header; empty sends none.
	APIKey string `yaml:"api_key" json:"api_key"`
	// Version is the anthropic-version header. Default DefaultVersion.
	Version string `yaml:"anthropic_version" json:"anthropic_version"`
	// Beta lists beta features, sent joined by commas as the anthropic-beta header.
	Beta []string `yaml:"beta" json:"beta"`
	// MaxTokens is the max_tokens of requests that set neither max_tokens
	// nor max_completion_tokens. Default DefaultMaxTokens.
	MaxTokens int `yaml:"max_tokens" json:"max_tokens"`
	// Headers are added to every upstream request.
	Headers map[string]string `yaml:"headers" json:"headers"`
	// MaxConns caps connections to the upstream (0 = unlimited).
	MaxConns int `yaml:"max_conns" json:"max_conns"`
}

// Validate reports what is wrong with c, defaults applied.
func (c *Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("base_url: must be an absolute http(s) URL, got %q", c.BaseURL))
	} else if strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/v1") {
		errs = append(errs, fmt.Errorf("base_url: must not end in /v1 (the provider adds it), got %q", c.BaseURL))
	}
	if strings.TrimSpace(c.Version) == "" {
		errs = append(errs, errors.New("anthropic_version: must not be empty"))
	}
	for i, b := range c.Beta {
		if strings.TrimSpace(b) == "" || strings.Contains(b, ",") {
			errs = append(errs, fmt.Errorf("beta[%d]: must be one non-empty feature name, got %q", i, b))
		}
	}
	if c.MaxTokens < 1 {
		errs = append(errs, fmt.Errorf("max_tokens: must be at least 1, got %d", c.MaxTokens))
	}
	if c.MaxConns < 0 {
		errs = append(errs, errors.New("max_conns: must not be negative"))
	}
	return errors.Join(errs...)
}

// Client is a Provider for Anthropic's Messages API. It also implements
// switchboard.ModelLister and counts tokens (CountTokens).
type Client struct {
	cfg      Config
	base     string
	http     *http.Client
	timeouts switchboard.Timeouts
	log      *slog.Logger
	header   http.Header
	now      func() time.Time
}

// Interface guards.
var (
	_ switchboard.Provider    = (*Client)(nil)
	_ switchboard.ModelLister = (*Client)(nil)
	_ io.Closer               = (*Client)(nil)
	_ interface {
		CountTokens(ctx context.Context, model string, req *switchboard.ChatRequest) (int, error)
	} = (*Client)(nil)
)

func init() { switchboard.Providers.Register("anthropic", factory) }

func factory(_ context.Context, dec switchboard.Decoder, deps switchboard.Deps) (switchboard.Provider, error) {
	var cfg Config
	if dec != nil {
		if err := dec(&cfg); err != nil {
			return nil, err
		}
	}
	return New(cfg, deps)
}

// New returns a client for the upstream cfg describes, defaults applied.
func New(cfg Config, deps switchboard.Deps) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("anthropic: %w", err)
	}
	c := &Client{
		cfg:      cfg,
		base:     strings.TrimRight(cfg.BaseURL, "/") + "/v1",
		timeouts: deps.Timeouts,
		log:      deps.Log,
		http:     deps.HTTP,
		header:   http.Header{},
		now:      time.Now,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.http == nil {
		c.http = &http.Client{Transport: newTransport(deps.Timeouts, cfg.MaxConns)}
	}
	c.header.Set("Content-Type", "application/json")
	c.header.Set("Accept", "application/json")
	c.header.Set("Anthropic-Version", cfg.Version)
	if cfg.APIKey != "" {
		c.header.Set("X-Api-Key", cfg.APIKey)
	}
	if len(cfg.Beta) > 0 {
		c.header.Set("Anthropic-Beta", strings.Join(cfg.Beta, ","))
	}
	for k, v := range cfg.Headers {
		c.header.Set(k, v)
	}
	return c, nil
}

// newTransport returns an HTTP transport tuned for a gateway: many
// kept-alive connections, and the connect and first-byte timeouts applied.
func newTransport(t switchboard.Timeouts, maxConns int) *http.Transport {
	dialer := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	idle := maxConns
	if idle == 0 {
		idle = 256
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          idle,
		MaxIdleConnsPerHost:   idle,
		MaxConnsPerHost:       maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   t.Connect,
		ResponseHeaderTimeout: t.FirstByte,
		ExpectContinueTimeout: time.Second,
	}
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// translate builds the Messages request for req, sent to model.
func (c *Client) translate(model string, req *switchboard.ChatRequest, stream bool) ([]byte, *wire.Request, error) {
	r, err := wire.FromChat(req, model, c.cfg.MaxTokens)
	if err != nil {
		return nil, nil, err
	}
	r.Stream = stream
	body, err := r.MarshalJSON()
	if err != nil {
		return nil, nil, fmt.Errorf("anthropic: encode request: %w", err)
	}
	return body, r, nil
}

func (c *Client) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("anthropic: new request: %w", err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	return req, nil
}

// do sends req and returns the response when its status is 2xx, or the
// upstream's error mapped to a *switchboard.Error (wire.UpstreamError).
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, upstream.TransportError(req.Context(), err, "upstream")
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		e := wire.UpstreamError(resp.StatusCode, resp.Header, body)
		if e.Code == switchboard.CodeUpstream {
			c.log.Error("upstream rejected the gateway's credentials", switchboard.LogKeyStatus, resp.StatusCode,
				"request_id", resp.Header.Get("Request-Id"))
		}
		return nil, e
	}
	return resp, nil
}

// post sends body to path and reads the whole 2xx answer.
func (c *Client) post(ctx context.Context, path string, body []byte) ([]byte, error) {
	req, err := c.newRequest(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, upstream.TransportError(ctx, err, "upstream")
	}
	return raw, nil
}

// Chat implements switchboard.Provider.
func (c *Client) Chat(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
	body, _, err := c.translate(model, req, false)
	if err != nil {
		return nil, err
	}
	raw, err := c.post(ctx, "/messages", body)
	if err != nil {
		return nil, err
	}
	msg, err := wire.DecodeResponse(raw)
	if err != nil {
		return nil, upstream.Malformed("upstream", err)
	}
	return wire.ToChatResponse(msg, c.now().Unix()), nil
}

// CountTokens returns the input tokens req would take on model, counted by
// Anthropic (POST /v1/messages/count_tokens).
func (c *Client) CountTokens(ctx context.Context, model string, req *switchboard.ChatRequest) (int, error) {
	_, r, err := c.translate(model, req, false)
	if err != nil {
		return 0, err
	}
	body, err := r.CountTokensBody()
	if err != nil {
		return 0, fmt.Errorf("anthropic: encode count_tokens request: %w", err)
	}
	raw, err := c.post(ctx, "/messages/count_tokens", body)
	if err != nil {
		return 0, err
	}
	var n wire.TokenCount
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, upstream.Malformed("upstream", err)
	}
	return n.InputTokens, nil
}

// Models implements switchboard.ModelLister: GET /v1/models, every page.
func (c *Client) Models(ctx context.Context) ([]switchboard.Model, error) {
	var out []switchboard.Model
	after := ""
	for range maxModelPages {
		path := "/models?limit=1000"
		if after != "" {
			path += "&after_id=" + url.QueryEscape(after)
		}
		req, err := c.newRequest(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := c.do(req)
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil {
			return nil, upstream.TransportError(ctx, err, "upstream")
		}
		models, page, err := wire.DecodeModelList(raw)
		if err != nil {
			return nil, upstream.Malformed("upstream", err)
		}
		out = append(out, models...)
		if !page.HasMore || page.LastID == "" || page.LastID == after {
			break
		}
		after = page.LastID
	}
	return out, nil
}

// transportError maps a failed round trip to an error code.
