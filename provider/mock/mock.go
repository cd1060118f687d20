// Package mock is the built-in fake LLM: the provider named "mock" that
// serves a config with no real upstream, and the behaviour core of the HTTP
// fake upstream (package fakeupstream), so both answer alike.
//
// Replies are deterministic. mock-echo (and any unknown model) echoes the
// last user message, mock-lorem writes lorem ipsum, and mock-tools calls the
// first offered tool with arguments filled from its JSON schema. Per-request
// Options, sent as the body field "mock" (or x-mock-* headers over HTTP),
// add latency, pace or break streams, and simulate vendor errors.
package mock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Errors a broken response surfaces as, inside a *switchboard.Error with
// CodeUpstream (as a real provider reports a cut connection or bad JSON).
var (
	// ErrAborted is the cause of the error the fail_after option produces.
	ErrAborted = errors.New("mock: connection aborted by fail_after")
	// ErrMalformed is the cause of the error the malformed option produces.
	ErrMalformed = errors.New("mock: malformed response")
)

// MalformedChunk is the index of the stream chunk the malformed option breaks.
const MalformedChunk = 1

// ModelCreated is the creation time listed for the mock models (2023-11-14).
const ModelCreated = 1700000000

// Config is the provider's config block. Every field is optional.
type Config struct {
	// Models are the model names Models lists; empty means the built-in three.
	Models []string `yaml:"models"`
	// Latency is added before every answer unless a request asks otherwise.
	Latency time.Duration `yaml:"latency"`
}

// Validate reports a config error, prefixed by the YAML key at fault.
func (c *Config) Validate() error {
	var errs []error
	if c.Latency < 0 || c.Latency > MaxDelay {
		errs = append(errs, fmt.Errorf("latency: must be between 0s and %s", MaxDelay))
	}
	for i, m := range c.Models {
		if m == "" {
			errs = append(errs, fmt.Errorf("models[%d]: must not be empty", i))
		}
	}
	return errors.Join(errs...)
}

// Provider is the in-process mock upstream. It is safe for concurrent use.
type Provider struct {
	models  []string
	latency time.Duration
	log     *slog.Logger
}

// Interface guards.
var (
	_ switchboard.Provider    = (*Provider)(nil)
	_ switchboard.Embedder    = (*Provider)(nil)
	_ switchboard.ModelLister = (*Provider)(nil)
	_ switchboard.Pinger      = (*Provider)(nil)
)

func init() { switchboard.Providers.Register("mock", newProvider) }

func newProvider(_ context.Context, dec switchboard.Decoder, deps switchboard.Deps) (switchboard.Provider, error) {
	var cfg Config
	if dec != nil {
		if err := dec(&cfg); err != nil {
			return nil, fmt.Errorf("mock: decode config: %w", err)
		}
	}
	return New(cfg, deps)
}

// New returns a mock provider for cfg.
func New(cfg Config, deps switchboard.Deps) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mock: %w", err)
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{models: cfg.Models, latency: cfg.Latency, log: log}, nil
}

// options parses the request's options and waits out the latency, then
// fails as the status and stall/fail options ask. stream says whether the
// caller streams: a stream stalls and fails chunk by chunk instead.
func (p *Provider) options(ctx context.Context, raw json.RawMessage, stream bool) (Options, error) {
	opts, err := ParseOptions(raw, nil)
	if err != nil {
		return Options{}, err
	}
	if err := sleep(ctx, opts.LatencyOr(p.latency)); err != nil {
		return Options{}, err
	}
	if err := StatusError(opts.Status, opts.RetryAfter); err != nil {
		return Options{}, err
	}
	if stream {
		return opts, nil
	}
	switch {
	case opts.StallAfter != nil:
		<-ctx.Done()
		return Options{}, ctx.Err()
	case opts.FailAfter != nil:
		return Options{}, errAborted()
	case opts.Malformed:
		return Options{}, errMalformed()
	}
	return opts, nil
}

// Chat implements switchboard.Provider. The response's Raw holds its JSON.
func (p *Provider) Chat(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
	opts, err := p.options(ctx, req.Extra["mock"], false)
	if err != nil {
		return nil, err
	}
	c, err := Generate(model, req, opts)
	if err != nil {
		return nil, err
	}
	resp := c.Response()
	resp.Raw = c.AppendJSON(make([]byte, 0, 512))
	return resp, nil
}

// ChatStream implements switchboard.Provider. Every chunk's Raw holds its
// JSON. Cancelling ctx (or closing the stream) ends Recv with ctx.Err().
// Like the openai provider, which always asks its upstream for usage, the
// stream always ends with the usage chunk, so the gateway can account the
// tokens; httpapi hides that chunk from clients that did not ask for it.
func (p *Provider) ChatStream(ctx context.Context, model string, req *switchboard.ChatRequest) (switchboard.ChatStream, error) {
	opts, err := p.options(ctx, req.Extra["mock"], true)
	if err != nil {
		return nil, err
	}
	c, err := Generate(model, req, opts)
	if err != nil {
		return nil, err
	}
	return newStream(ctx, c.Chunks(true), opts), nil
}

// Embed implements switchboard.Embedder with Vectors.
func (p *Provider) Embed(ctx context.Context, model string, req *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
	if _, err := p.options(ctx, req.Extra["mock"], false); err != nil {
		return nil, err
	}
	if model == "" {
		model = req.Model
	}
	return Vectors(model, req)
}

// Models implements switchboard.ModelLister.
func (p *Provider) Models(ctx context.Context) ([]switchboard.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ModelList(p.models), nil
}

// Ping implements switchboard.Pinger: the mock is always up.
func (p *Provider) Ping(ctx context.Context) error { return ctx.Err() }

// ModelList returns the model entries for ids, or for the built-in models
// when ids is empty.
func ModelList(ids []string) []switchboard.Model {
	if len(ids) == 0 {
		ids = []string{ModelEcho, ModelLorem, ModelTools}
	}
	out := make([]switchboard.Model, len(ids))
	for i, id := range ids {
		out[i] = switchboard.Model{ID: id, Object: "model", Created: ModelCreated, OwnedBy: "switchboard"}
	}
	return out
}

// StatusError returns the error a provider reports for an upstream answering
// with the HTTP status: nil below 400; 400 and other 4xx → CodeInvalidRequest,
// 401/403 → CodeUpstream (our key is wrong), 429 → CodeRateLimited with
// retryAfter, 504 → CodeTimeout, other 5xx → CodeUnavailable. Status keeps the
// upstream's own status.
func StatusError(status int, retryAfter time.Duration) *switchboard.Error {
	if status < 400 {
		return nil
	}
	e := &switchboard.Error{Status: status, Message: fmt.Sprintf("mock upstream answered %d %s", status, http.StatusText(status))}
	switch {
	case status == http.StatusTooManyRequests:
		e.Code, e.RetryAfter = switchboard.CodeRateLimited, retryAfter
		e.Message = "mock upstream rate limit reached for requests"
		e.Type, e.VendorCode = "requests", "rate_limit_exceeded" // as OpenAI (and the HTTP fake) answer
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Code = switchboard.CodeUpstream
		e.Message = "mock upstream rejected the API key"
	case status == http.StatusGatewayTimeout:
		e.Code = switchboard.CodeTimeout
	case status >= 500:
		e.Code = switchboard.CodeUnavailable
		if status == http.StatusServiceUnavailable || status == 529 {
			e.RetryAfter = retryAfter
		}
	default:
		e.Code = switchboard.CodeInvalidRequest
	}
	return e
}

func errAborted() error {
	return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream connection was cut", Err: ErrAborted}
}

func errMalformed() error {
	return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream sent malformed JSON", Err: ErrMalformed}
}
