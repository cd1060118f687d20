// Package gemini is the provider for Google's Gemini API (the
// generativelanguage API of Google AI Studio), registered as type "gemini".
// It translates OpenAI chat requests to generateContent and back: system
// instructions, text, images, audio and files, function calling, JSON output,
// streaming and usage; embeddings go to batchEmbedContents.
package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/internal/upstream"
)

// Defaults of Config.
const (
	// DefaultBaseURL is the Gemini API's root.
	DefaultBaseURL = "https://generativelanguage.googleapis.com"
	// DefaultAPIVersion is the API version in every path.
	DefaultAPIVersion = "v1beta"
)

// maxBatch is the most inputs Gemini embeds in one batchEmbedContents call.
const maxBatch = 100

// Config is the `providers.NAME` block of a provider of type gemini.
type Config struct {
	// BaseURL is the API root, without the version. Default DefaultBaseURL.
	BaseURL string `yaml:"base_url" json:"base_url"`
	// APIVersion is the path's version segment. Default DefaultAPIVersion.
	APIVersion string `yaml:"api_version" json:"api_version"`
	// APIKey is sent as the x-goog-api-key header (never in the URL). Required.
	APIKey string `yaml:"api_key" json:"api_key"`
	// Headers are added to every upstream request.
	Headers map[string]string `yaml:"headers" json:"headers"`
	// MaxConns caps connections to the upstream (0 = unlimited).
	MaxConns int `yaml:"max_conns" json:"max_conns"`
}

// Validate reports what is wrong with c, each problem prefixed by its key.
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.APIKey) == "" {
		errs = append(errs, errors.New("api_key: required (a Gemini API key from Google AI Studio)"))
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("base_url: must be an absolute http(s) URL without query, got %q", c.BaseURL))
	}
	if c.APIVersion == "" || strings.ContainsAny(c.APIVersion, "/?#% ") {
		errs = append(errs, fmt.Errorf("api_version: must be a single path segment such as %q, got %q", DefaultAPIVersion, c.APIVersion))
	}
	if c.MaxConns < 0 {
		errs = append(errs, errors.New("max_conns: must not be negative"))
	}
	return errors.Join(errs...)
}

// Client is a Provider for the Gemini API. It is safe for concurrent use.
type Client struct {
	root     string // base URL + "/" + version
	http     *http.Client
	timeouts switchboard.Timeouts
	log      *slog.Logger
	header   http.Header
	sigs     *signatures
	newID    func(prefix string) string
}

var (
	_ switchboard.Provider    = (*Client)(nil)
	_ switchboard.Embedder    = (*Client)(nil)
	_ switchboard.ModelLister = (*Client)(nil)
)

func init() { switchboard.Providers.Register("gemini", factory) }

func factory(_ context.Context, dec switchboard.Decoder, deps switchboard.Deps) (switchboard.Provider, error) {
	var cfg Config
	if err := dec(&cfg); err != nil {
		return nil, err
	}
	return New(cfg, deps)
}

// New returns a client for the upstream cfg describes.
func New(cfg Config, deps switchboard.Deps) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gemini: %w", err)
	}
	c := &Client{
		root:     strings.TrimRight(cfg.BaseURL, "/") + "/" + cfg.APIVersion,
		http:     deps.HTTP,
		timeouts: deps.Timeouts,
		log:      deps.Log,
		header:   http.Header{},
		sigs:     newSignatures(maxSignatures),
		newID:    randomID,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.http == nil {
		c.http = &http.Client{Transport: newTransport(deps.Timeouts, cfg.MaxConns)}
	}
	c.header.Set("Content-Type", "application/json")
	c.header.Set("X-Goog-Api-Key", cfg.APIKey)
	for k, v := range cfg.Headers {
		c.header.Set(k, v)
	}
	return c, nil
}

// newTransport returns a transport with many kept-alive connections and the
// connect and first-byte timeouts applied.
func newTransport(t switchboard.Timeouts, maxConns int) *http.Transport {
	dialer := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	idle := maxConns
	if idle == 0 {
		idle = 1024
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

// modelPath is the path of a model: "models/NAME", or the name as is when
// it already has a collection ("models/…", "tunedModels/…").
func modelPath(model string) (string, error) {
	if model == "" {
		return "", switchboard.InvalidParam("model", "you must provide a model parameter")
	}
	coll, name, ok := strings.Cut(model, "/")
	if !ok {
		coll, name = "models", model
	}
	if name == "" || strings.ContainsAny(name, "/:") || strings.Contains(coll, ":") {
		return "", switchboard.InvalidParam("model", "invalid gemini model name %q", model)
	}
	return url.PathEscape(coll) + "/" + url.PathEscape(name), nil
}

// post sends body to the model's method (generateContent, …) and returns the
// response when its status is 2xx.
func (c *Client) post(ctx context.Context, model, method, query string, body any) (*http.Response, error) {
	mp, err := modelPath(model)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("gemini: encode request: %w", err)
	}
	u := c.root + "/" + mp + ":" + method
	if query != "" {
		u += "?" + query
	}
	return c.do(ctx, http.MethodPost, u, b)
}

// do sends a request with the client's headers; a non-2xx answer becomes a
// *switchboard.Error.
func (c *Client) do(ctx context.Context, method, u string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("gemini: new request: %w", err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, upstream.TransportError(ctx, err, "upstream")
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, upstreamError(resp.StatusCode, resp.Header, b)
	}
	return resp, nil
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

func (c *Client) encoder() encoder { return encoder{signature: c.sigs.get} }

func (c *Client) decoder(model string) decoder {
	return decoder{model: model, created: time.Now().Unix(), newID: c.newID, keep: c.sigs.put}
}

// Chat implements switchboard.Provider with :generateContent.
func (c *Client) Chat(ctx context.Context, model string, r *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
	greq, err := c.encoder().request(r)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, model, "generateContent", "", greq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := readBody(resp)
	if err != nil {
		return nil, upstream.TransportError(ctx, err, "upstream")
	}
	d := c.decoder(model)
	return d.response(raw)
}

// Embed implements switchboard.Embedder with :batchEmbedContents, in
// batches of up to 100 inputs. Gemini reports no usage for embeddings, so
// prompt tokens are estimated at four bytes a token.
func (c *Client) Embed(ctx context.Context, model string, r *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
	texts, err := embeddingTexts(r.Input)
	if err != nil {
		return nil, err
	}
	mp, err := modelPath(model)
	if err != nil {
		return nil, err
	}
	out := &switchboard.EmbeddingResponse{Object: "list", Model: model, Data: make([]switchboard.Embedding, 0, len(texts))}
	tokens := 0
	for start := 0; start < len(texts); start += maxBatch {
		batch := texts[start:min(start+maxBatch, len(texts))]
		ereq := embedRequest{Requests: make([]embedContentRequest, len(batch)), Mock: r.Extra["mock"]}
		for i, t := range batch {
			ereq.Requests[i] = embedContentRequest{Model: mp, Content: content{Parts: []part{textPart(t)}}, OutputDimensionality: r.Dimensions}
			tokens += (len(t) + 3) / 4
		}
		resp, err := c.post(ctx, model, "batchEmbedContents", "", ereq)
		if err != nil {
			return nil, err
		}
		raw, err := readBody(resp)
		resp.Body.Close()
		if err != nil {
			return nil, upstream.TransportError(ctx, err, "upstream")
		}
		var er embedResponse
		if err := json.Unmarshal(raw, &er); err != nil {
			return nil, upstream.Malformed("upstream", err)
		}
		if len(er.Embeddings) != len(batch) {
			return nil, upstream.Malformed("upstream", fmt.Errorf("gemini: got %d embeddings for %d inputs", len(er.Embeddings), len(batch)))
		}
		for _, e := range er.Embeddings {
			out.Data = append(out.Data, switchboard.Embedding{Object: "embedding", Index: len(out.Data), Embedding: e.Values})
		}
	}
	out.Usage = &switchboard.Usage{PromptTokens: tokens, TotalTokens: tokens}
	return out, nil
}

// embeddingTexts returns the inputs, which must be text: Gemini takes no
// token ids.
func embeddingTexts(input json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(input, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if json.Unmarshal(input, &many) == nil && len(many) > 0 {
		return many, nil
	}
	return nil, switchboard.InvalidParam("input", "gemini embeds text: 'input' must be a string or a non-empty array of strings, not token ids")
}

// maxModelPages bounds the pages of the model list Models reads.
const maxModelPages = 10

// Models implements switchboard.ModelLister with GET models, following up
// to ten pages. IDs lose Gemini's "models/" prefix.
func (c *Client) Models(ctx context.Context) ([]switchboard.Model, error) {
	var out []switchboard.Model
	token := ""
	for range maxModelPages {
		u := c.root + "/models?pageSize=1000"
		if token != "" {
			u += "&pageToken=" + url.QueryEscape(token)
		}
		resp, err := c.do(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		var list modelList
		err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&list)
		resp.Body.Close()
		if err != nil {
			return nil, upstream.Malformed("upstream", err)
		}
		for _, m := range list.Models {
			out = append(out, switchboard.Model{ID: strings.TrimPrefix(m.Name, "models/"), Object: "model", OwnedBy: "google"})
		}
		if token = list.NextPageToken; token == "" {
			break
		}
	}
	return out, nil
}

// randomID returns prefix and 24 random hex digits (ids, not secrets).
func randomID(prefix string) string {
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
