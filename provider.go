package switchboard

import (
	"context"
	"fmt"
	"time"
)

// Provider is an upstream that serves chat completions: a vendor API, a local
// server or the built-in mock. Implementations translate to their wire format
// and map vendor errors to *Error codes (400 → invalid_request, 401/403 →
// upstream_error, 429 → rate_limited, 5xx → unavailable).
type Provider interface {
	// Chat returns a whole completion. model is the upstream's own model name.
	Chat(ctx context.Context, model string, req *ChatRequest) (*ChatResponse, error)
	// ChatStream starts a streamed completion. The stream is closed by the caller.
	ChatStream(ctx context.Context, model string, req *ChatRequest) (ChatStream, error)
}

// ChatStream yields the chunks of a streamed completion.
type ChatStream interface {
	// Recv returns the next chunk, or io.EOF after the last one.
	Recv() (*Chunk, error)
	// Close releases the stream; closing early cancels the upstream request.
	Close() error
}

// Embedder is a Provider that also serves embeddings.
type Embedder interface {
	Embed(ctx context.Context, model string, req *EmbeddingRequest) (*EmbeddingResponse, error)
}

// ModelLister is a Provider that can list the models it serves.
type ModelLister interface {
	Models(ctx context.Context) ([]Model, error)
}

// ModelGetter is a ModelLister that can also describe a model it serves
// without listing it (a "provider/model" name). An unknown id is an *Error
// with CodeNotFound.
type ModelGetter interface {
	Model(ctx context.Context, id string) (Model, error)
}

// FindModel describes id as p serves it: through ModelGetter when p has it,
// else by looking id up in p's list. An unknown id is a CodeNotFound error.
func FindModel(ctx context.Context, p Provider, id string) (Model, error) {
	if g, ok := p.(ModelGetter); ok {
		return g.Model(ctx, id)
	}
	if l, ok := p.(ModelLister); ok {
		ms, err := l.Models(ctx)
		if err != nil {
			return Model{}, err
		}
		for _, m := range ms {
			if m.ID == id {
				return m, nil
			}
		}
	}
	return Model{}, ModelNotFound(id)
}

// ModelNotFound is the error for a model name nobody serves (or the caller
// may not use), as OpenAI words it; a long id is cut to 100 bytes.
func ModelNotFound(id string) *Error {
	if len(id) > 100 {
		id = id[:100]
	}
	return &Error{Code: CodeNotFound, Param: "model", VendorCode: "model_not_found",
		Message: fmt.Sprintf("The model %q does not exist", id)}
}

// Pinger is a Provider that can tell whether it is usable right now.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Model is an entry of GET /v1/models.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// Timeouts bound one upstream call. Zero means no bound.
type Timeouts struct {
	// Connect bounds dialing and the TLS handshake.
	Connect time.Duration `yaml:"connect"`
	// FirstByte bounds the wait for response headers (and, streaming, the first event).
	FirstByte time.Duration `yaml:"first_byte"`
	// Idle bounds the gap between two stream events.
	Idle time.Duration `yaml:"idle"`
	// Total bounds the whole call.
	Total time.Duration `yaml:"total"`
}
