// Package azure is the provider for Azure OpenAI, registered as type
// "azure-openai". Azure speaks OpenAI's wire format at per-deployment URLs
// ({endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…)
// and authenticates with an api-key header or a Microsoft Entra ID token, so
// the client is the openai provider's with Azure's URLs and headers.
package azure

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/provider/openai"
)

// DefaultAPIVersion is the api-version sent when the config sets none: the
// latest generally available version of the data-plane API.
const DefaultAPIVersion = "2024-10-21"

// Config is the `providers.NAME` block of a provider of type azure-openai.
type Config struct {
	// Endpoint is the resource's endpoint, https://NAME.openai.azure.com. Required.
	Endpoint string `yaml:"endpoint" json:"endpoint"`
	// APIKey is sent as the api-key header. One of APIKey and ADToken is required.
	APIKey string `yaml:"api_key" json:"api_key"`
	// ADToken is a Microsoft Entra ID (Azure AD) token, sent as a bearer token.
	ADToken string `yaml:"ad_token" json:"ad_token"`
	// APIVersion is the api-version query parameter. Default DefaultAPIVersion.
	APIVersion string `yaml:"api_version" json:"api_version"`
	// Deployments maps a model name (a route's model) to the deployment that
	// serves it; a model not listed is taken as the deployment's name.
	Deployments map[string]string `yaml:"deployments" json:"deployments"`
	// Headers are added to every upstream request.
	Headers map[string]string `yaml:"headers" json:"headers"`
	// MaxConns caps connections to the upstream (0 = unlimited).
	MaxConns int `yaml:"max_conns" json:"max_conns"`
}

// Validate reports what is wrong with c, each problem prefixed by its key.
func (c *Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.Endpoint)
	switch {
	case c.Endpoint == "":
		errs = append(errs, errors.New("endpoint: required (https://NAME.openai.azure.com)"))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, fmt.Errorf("endpoint: must be an absolute http(s) URL without query, such as https://NAME.openai.azure.com, got %q", c.Endpoint))
	case strings.Contains(u.Path, "/openai/"):
		errs = append(errs, fmt.Errorf("endpoint: must be the resource's root (https://NAME.openai.azure.com), not an API URL, got %q", c.Endpoint))
	}
	switch {
	case strings.TrimSpace(c.APIKey) == "" && strings.TrimSpace(c.ADToken) == "":
		errs = append(errs, errors.New("api_key: required unless ad_token is set"))
	case c.APIKey != "" && c.ADToken != "":
		errs = append(errs, errors.New("ad_token: set either api_key or ad_token, not both"))
	}
	if c.APIVersion == "" || strings.ContainsAny(c.APIVersion, "&#/? ") {
		errs = append(errs, fmt.Errorf("api_version: must be an Azure OpenAI API version such as %q, got %q", DefaultAPIVersion, c.APIVersion))
	}
	for _, m := range slices.Sorted(maps.Keys(c.Deployments)) {
		if m == "" || c.Deployments[m] == "" || strings.ContainsAny(c.Deployments[m], "/?#") {
			errs = append(errs, fmt.Errorf("deployments.%s: must map a model name to a deployment name, got %q", m, c.Deployments[m]))
		}
	}
	if c.MaxConns < 0 {
		errs = append(errs, errors.New("max_conns: must not be negative"))
	}
	return errors.Join(errs...)
}

// Client is a Provider for an Azure OpenAI resource. It is safe for concurrent use.
type Client struct {
	oc          *openai.Client
	deployments map[string]string
}

var (
	_ switchboard.Provider    = (*Client)(nil)
	_ switchboard.Embedder    = (*Client)(nil)
	_ switchboard.ModelLister = (*Client)(nil)
)

func init() { switchboard.Providers.Register("azure-openai", factory) }

func factory(_ context.Context, dec switchboard.Decoder, deps switchboard.Deps) (switchboard.Provider, error) {
	var cfg Config
	if err := dec(&cfg); err != nil {
		return nil, err
	}
	return New(cfg, deps)
}

// New returns a client for the Azure OpenAI resource cfg describes.
func New(cfg Config, deps switchboard.Deps) (*Client, error) {
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("azure-openai: %w", err)
	}
	root := strings.TrimRight(cfg.Endpoint, "/") + "/openai"
	query := "?api-version=" + url.QueryEscape(cfg.APIVersion)
	c := &Client{deployments: cfg.Deployments}
	headers := make(map[string]string, len(cfg.Headers)+1)
	if cfg.APIKey != "" {
		headers["api-key"] = cfg.APIKey
	}
	for k, v := range cfg.Headers {
		headers[k] = v
	}
	oc, err := openai.NewWithOptions(openai.Config{
		BaseURL:  root,
		APIKey:   cfg.ADToken, // sent as a bearer token; empty sends none
		Headers:  headers,
		MaxConns: cfg.MaxConns,
	}, deps, openai.Options{URL: func(op, model string) string {
		if op == "models" {
			return root + "/models" + query
		}
		return root + "/deployments/" + url.PathEscape(c.deployment(model)) + "/" + op + query
	}})
	if err != nil {
		return nil, fmt.Errorf("azure-openai: %w", err)
	}
	c.oc = oc
	return c, nil
}

// deployment returns the deployment that serves model.
func (c *Client) deployment(model string) string {
	if d, ok := c.deployments[model]; ok {
		return d
	}
	return model
}

// Chat implements switchboard.Provider. The body is forwarded as the client
// sent it, with only the model replaced; Azure serves the deployment of
// the URL whatever the body's model says.
func (c *Client) Chat(ctx context.Context, model string, r *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
	return c.oc.Chat(ctx, model, r)
}

// ChatStream implements switchboard.Provider.
func (c *Client) ChatStream(ctx context.Context, model string, r *switchboard.ChatRequest) (switchboard.ChatStream, error) {
	return c.oc.ChatStream(ctx, model, r)
}

// Embed implements switchboard.Embedder.
func (c *Client) Embed(ctx context.Context, model string, r *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
	return c.oc.Embed(ctx, model, r)
}

// Models implements switchboard.ModelLister: the model names of the
// deployments map, sorted. Azure's data plane cannot list deployments, so a
// config without the map lists none (routes then name deployments directly).
func (c *Client) Models(ctx context.Context) ([]switchboard.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(c.deployments))
	out := make([]switchboard.Model, len(names))
	for i, n := range names {
		out[i] = switchboard.Model{ID: n, Object: "model", OwnedBy: "azure-openai"}
	}
	return out, nil
}

// Close releases idle connections.
func (c *Client) Close() error { return c.oc.Close() }
