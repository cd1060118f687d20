// Package huggingface is the provider for Hugging Face inference: the HF
// router (Inference Providers), Inference Endpoints and self-hosted Text
// Generation Inference (TGI) and Text Embeddings Inference (TEI) servers.
//
// With api "messages" (the default) chat goes to the OpenAI-compatible
// Messages API (/v1/chat/completions) that TGI 1.4 and later and the router
// serve, through package openai's client: tools, images and streaming pass
// through. With api "tgi" chat goes to TGI's native /generate and
// /generate_stream, for older servers: the messages are rendered into one
// prompt with a chat template, and tools and images are rejected.
// Embeddings use OpenAI's /v1/embeddings, or TEI's /embed with
// embeddings_api "tei".
package huggingface

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/internal/upstream"
	"github.com/switchboard-ai/switchboard/provider/openai"
)

// DefaultBaseURL is the Hugging Face router's OpenAI-compatible API
// (Inference Providers).
const DefaultBaseURL = "https://router.huggingface.co/v1"

// The values of the api key.
const (
	// APIMessages is the OpenAI-compatible Messages API, /v1/chat/completions.
	APIMessages = "messages"
	// APITGI is TGI's native /generate and /generate_stream.
	APITGI = "tgi"
)

// The values of the embeddings_api key.
const (
	// EmbeddingsOpenAI is the OpenAI-compatible /v1/embeddings.
	EmbeddingsOpenAI = "openai"
	// EmbeddingsTEI is Text Embeddings Inference's native /embed.
	EmbeddingsTEI = "tei"
)

// Limits on what the client reads.
const (
	maxBody      = 256 << 20
	maxErrorBody = 64 << 10
)

// Config is the `providers.NAME` block of a provider of type huggingface.
type Config struct {
	// BaseURL is the server: an Inference Endpoint or TGI/TEI URL, with or
	// without a trailing /v1. Default DefaultBaseURL (the messages API only).
	BaseURL string `yaml:"base_url"`
	// APIKey is the Hugging Face token, sent as a bearer token; empty sends none.
	APIKey string `yaml:"api_key"`
	// API is APIMessages (default) or APITGI.
	API string `yaml:"api"`
	// ChatTemplate, with api tgi, is the Go text/template that renders
	// .Messages (each .Role and .Content) into the prompt. Default
	// DefaultChatTemplate (ChatML).
	ChatTemplate string `yaml:"chat_template"`
	// EmbeddingsAPI is EmbeddingsOpenAI (default) or EmbeddingsTEI.
	EmbeddingsAPI string `yaml:"embeddings_api"`
	// Headers are added to every upstream request.
	Headers map[string]string `yaml:"headers"`
	// MaxConns caps connections to the upstream (0 = unlimited).
	MaxConns int `yaml:"max_conns"`
}

// Validate reports what is wrong with c, each problem prefixed by its key.
// It checks the config as written, before defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("base_url: must be an absolute http(s) URL, got %q", c.BaseURL))
		}
	}
	switch c.API {
	case "", APIMessages:
		if c.ChatTemplate != "" {
			errs = append(errs, errors.New("chat_template: only used with api: tgi (the messages API applies the model's own template)"))
		}
	case APITGI:
		if c.BaseURL == "" {
			errs = append(errs, errors.New("base_url: required with api: tgi (the default, the HF router, serves only the messages API)"))
		}
		if _, err := parseTemplate(c.ChatTemplate); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("api: must be %q or %q, got %q", APIMessages, APITGI, c.API))
	}
	switch c.EmbeddingsAPI {
	case "", EmbeddingsOpenAI:
	case EmbeddingsTEI:
		if c.BaseURL == "" {
			errs = append(errs, errors.New("base_url: required with embeddings_api: tei (the URL of the TEI server)"))
		}
	default:
		errs = append(errs, fmt.Errorf("embeddings_api: must be %q or %q, got %q", EmbeddingsOpenAI, EmbeddingsTEI, c.EmbeddingsAPI))
	}
	if c.MaxConns < 0 {
		errs = append(errs, errors.New("max_conns: must not be negative"))
	}
	return errors.Join(errs...)
}

// parseTemplate parses a chat template (empty: the default) and runs it on a
// sample conversation, so mistakes surface at start-up.
func parseTemplate(text string) (*template.Template, error) {
	if text == "" {
		text = DefaultChatTemplate
	}
	t, err := template.New("chat_template").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("chat_template: %w", err)
	}
	if err := t.Execute(io.Discard, sampleConversation); err != nil {
		return nil, fmt.Errorf("chat_template: fails on a sample conversation: %w", err)
	}
	return t, nil
}

// Client is a Provider for Hugging Face inference. It is safe for concurrent use.
type Client struct {
	api        string
	embeddings string
	root       string // the server root, without /v1, for the native APIs
	oa         *openai.Client
	tmpl       *template.Template
	http       *http.Client
	header     http.Header
	timeouts   switchboard.Timeouts
	log        *slog.Logger
	newID      func(prefix string) string
	now        func() time.Time
}

// Interface guards.
var (
	_ switchboard.Provider    = (*Client)(nil)
	_ switchboard.Embedder    = (*Client)(nil)
	_ switchboard.ModelLister = (*Client)(nil)
	_ io.Closer               = (*Client)(nil)
)

func init() { switchboard.Providers.Register("huggingface", factory) }

func factory(_ context.Context, dec switchboard.Decoder, deps switchboard.Deps) (switchboard.Provider, error) {
	var cfg Config
	if err := dec(&cfg); err != nil {
		return nil, err
	}
	return New(cfg, deps)
}

// New returns a client for the upstream cfg describes.
func New(cfg Config, deps switchboard.Deps) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	c := &Client{
		api:        cmp.Or(cfg.API, APIMessages),
		embeddings: cmp.Or(cfg.EmbeddingsAPI, EmbeddingsOpenAI),
		root:       strings.TrimSuffix(strings.TrimRight(cfg.BaseURL, "/"), "/v1"),
		http:       deps.HTTP,
		header:     http.Header{},
		timeouts:   deps.Timeouts,
		log:        deps.Log,
		newID:      newID,
		now:        time.Now,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.http == nil {
		c.http = &http.Client{Transport: upstream.NewTransport(deps.Timeouts, cfg.MaxConns)}
	}
	if c.api == APITGI {
		t, err := parseTemplate(cfg.ChatTemplate)
		if err != nil {
			return nil, err
		}
		c.tmpl = t
	}
	deps.HTTP = c.http // one connection pool for both APIs
	oa, err := openai.New(openai.Config{BaseURL: c.root + "/v1", APIKey: cfg.APIKey, Headers: cfg.Headers, MaxConns: cfg.MaxConns}, deps)
	if err != nil {
		return nil, fmt.Errorf("huggingface: messages client: %w", err)
	}
	c.oa = oa
	c.header.Set("Content-Type", "application/json")
	c.header.Set("Accept", "application/json")
	if cfg.APIKey != "" {
		c.header.Set("Authorization", "Bearer "+cfg.APIKey)
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

// Chat implements switchboard.Provider. model is passed to the messages
// API; a TGI server serves one model and ignores it (it is echoed back).
func (c *Client) Chat(ctx context.Context, model string, r *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
	if c.api == APIMessages {
		return c.oa.Chat(ctx, model, r)
	}
	body, prompt, err := c.generateBody(r)
	if err != nil {
		return nil, err
	}
	raw, err := c.call(ctx, http.MethodPost, "/generate", body)
	if err != nil {
		return nil, err
	}
	out, err := fromGenerate(raw, model, c.now().Unix(), prompt, c.newID)
	if err != nil {
		return nil, malformed(err)
	}
	return out, nil
}

// generateBody returns the /generate body and the prompt's token estimate.
func (c *Client) generateBody(r *switchboard.ChatRequest) ([]byte, int, error) {
	wire, err := toGenerate(r, c.tmpl)
	if err != nil {
		return nil, 0, err
	}
	body, err := json.Marshal(wire)
	if err != nil {
		return nil, 0, fmt.Errorf("huggingface: encode request: %w", err)
	}
	return body, estimateTokens(len(wire.Inputs)), nil
}

// Embed implements switchboard.Embedder: OpenAI's /v1/embeddings, or TEI's
// /embed with embeddings_api tei.
func (c *Client) Embed(ctx context.Context, model string, r *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
	if c.embeddings == EmbeddingsOpenAI {
		return c.oa.Embed(ctx, model, r)
	}
	wire, err := toEmbed(r)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(wire)
	if err != nil {
		return nil, fmt.Errorf("huggingface: encode request: %w", err)
	}
	raw, err := c.call(ctx, http.MethodPost, "/embed", body)
	if err != nil {
		return nil, err
	}
	out, err := fromEmbed(raw, model, r.Texts())
	if err != nil {
		return nil, malformed(err)
	}
	return out, nil
}

// Models implements switchboard.ModelLister: the messages API's /v1/models,
// or, with api tgi, the one model TGI's /info names.
func (c *Client) Models(ctx context.Context) ([]switchboard.Model, error) {
	if c.api == APIMessages {
		return c.oa.Models(ctx)
	}
	raw, err := c.call(ctx, http.MethodGet, "/info", nil)
	if err != nil {
		return nil, err
	}
	var info struct {
		ModelID string `json:"model_id"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, malformed(err)
	}
	if info.ModelID == "" {
		return nil, malformed(errors.New("info without model_id"))
	}
	return []switchboard.Model{{ID: info.ModelID, Object: "model", OwnedBy: "huggingface"}}, nil
}

// call sends a request to the native API and returns a 2xx answer's body.
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
		return nil, upstream.TransportError(ctx, err, "hugging face")
	}
	return raw, nil
}

func (c *Client) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.root+path, rd)
	if err != nil {
		return nil, fmt.Errorf("huggingface: new request: %w", err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if body == nil {
		req.Header.Del("Content-Type")
	}
	return req, nil
}

// do sends req and returns the response when its status is 2xx, or the
// upstream's error mapped to a *switchboard.Error.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, upstream.TransportError(req.Context(), err, "hugging face")
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, upstreamError(resp.StatusCode, resp.Header, body)
	}
	return resp, nil
}

// upstreamError maps a native API's non-2xx answer
// ({"error":"…","error_type":"…"}) to a *switchboard.Error with the
// upstream's status, message and error_type (as the code): 400/422 →
// invalid_request, 401/403 → upstream_error (the token is wrong: 502),
// 404 → not_found, 429 → rate_limited, 424 (generation failed) and 5xx →
// unavailable. A 503 with estimated_time is a model still loading: its
// RetryAfter is that time.
func upstreamError(status int, h http.Header, body []byte) *switchboard.Error {
	msg, typ, loading := parseError(body)
	if msg == "" {
		msg = strings.ToValidUTF8(strings.TrimSpace(string(body)), "")
		if len(msg) > 512 {
			msg = strings.ToValidUTF8(msg[:512], "")
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
	}
	e := &switchboard.Error{Status: status, Message: msg, VendorCode: typ}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Code, e.Status = switchboard.CodeUpstream, http.StatusBadGateway
		e.Message = fmt.Sprintf("hugging face rejected the gateway's token (%d): %s", status, msg)
		e.VendorCode = "upstream_auth_failed"
	case status == http.StatusNotFound:
		e.Code = switchboard.CodeNotFound
	case status == http.StatusRequestEntityTooLarge:
		e.Code = switchboard.CodeTooLarge
	case status == http.StatusTooManyRequests:
		e.Code, e.RetryAfter = switchboard.CodeRateLimited, upstream.RetryAfter(h)
	case status == http.StatusFailedDependency || status >= 500:
		e.Code, e.RetryAfter = switchboard.CodeUnavailable, upstream.RetryAfter(h)
		if loading > 0 {
			e.VendorCode = "model_loading"
			if e.RetryAfter == 0 {
				e.RetryAfter = loading
			}
		}
	case status >= 400:
		e.Code = switchboard.CodeInvalidRequest
	default:
		e.Code, e.Status = switchboard.CodeUpstream, http.StatusBadGateway
	}
	return e
}

// parseError reads an HF error body: the message (a string or the strings
// of an array, joined), error_type, and estimated_time (a model loading).
func parseError(body []byte) (msg, typ string, loading time.Duration) {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil {
		return "", "", 0
	}
	var many []string
	if json.Unmarshal(eb.Error, &msg) != nil && json.Unmarshal(eb.Error, &many) == nil {
		msg = strings.Join(many, "; ")
	}
	if t := eb.EstimatedTime; t != nil && *t > 0 && !math.IsInf(*t, 0) {
		loading = time.Duration(math.Ceil(min(*t, 3600))) * time.Second
	}
	return msg, eb.ErrorType, loading
}

// streamError maps an error TGI reports inside a stream by its error_type.
func streamError(msg, typ string) *switchboard.Error {
	e := &switchboard.Error{Message: "huggingface: " + msg, VendorCode: typ}
	switch typ {
	case "validation":
		e.Code = switchboard.CodeInvalidRequest
	case "overloaded":
		e.Code = switchboard.CodeRateLimited
	default: // generation, incomplete_generation, …
		e.Code = switchboard.CodeUnavailable
	}
	return e
}

// transportError maps a failed round trip to an error code.

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

// malformed is the error for an answer hugging face sent that cannot be decoded.
func malformed(err error) error {
	return upstream.Malformed("hugging face", fmt.Errorf("huggingface: decode response: %w", err))
}
