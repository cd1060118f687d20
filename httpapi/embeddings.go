package httpapi

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"strings"

	"github.com/switchboard-ai/switchboard"
)

func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) (err error) {
	e := entryFrom(r.Context())
	body, err := s.readJSON(w, r)
	if err != nil {
		return err
	}
	req, err := switchboard.DecodeEmbeddingRequest(body)
	if err != nil {
		return err
	}
	e.endpoint, e.model = "embeddings", req.Model
	emb, ok := s.p.(switchboard.Embedder)
	if !ok {
		return &switchboard.Error{Code: switchboard.CodeNotFound, Message: "this gateway serves no embeddings"}
	}
	ctx, span := s.startInference(r, e, "embeddings")
	defer func() { s.endSpan(span, e, err) }()
	if ctx, err = s.admit(ctx, w, e, Admission{Endpoint: "embeddings", Model: req.Model, Embed: req}); err != nil {
		return err
	}
	resp, err := emb.Embed(ctx, req.Model, req)
	if err != nil {
		return err
	}
	if resp.Usage != nil {
		e.usage, e.hasUsage = *resp.Usage, true
	}
	s.setServedHeaders(w, e)
	return writeJSON(w, encodeEmbeddings(resp, req.EncodingFormat == "base64"))
}

type embeddingOut struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

type embeddingsOut struct {
	Object string             `json:"object"`
	Data   []embeddingOut     `json:"data"`
	Model  string             `json:"model"`
	Usage  *switchboard.Usage `json:"usage,omitempty"`
}

// encodeEmbeddings renders vectors as float arrays or, for base64, as the
// little-endian float32 bytes OpenAI's SDKs decode.
func encodeEmbeddings(resp *switchboard.EmbeddingResponse, b64 bool) embeddingsOut {
	out := embeddingsOut{Object: "list", Model: resp.Model, Usage: resp.Usage, Data: make([]embeddingOut, len(resp.Data))}
	for i, d := range resp.Data {
		var v any = d.Embedding
		if d.Embedding == nil {
			v = []float32{}
		}
		if b64 {
			raw := make([]byte, 4*len(d.Embedding))
			for j, f := range d.Embedding {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			v = base64.StdEncoding.EncodeToString(raw)
		}
		out.Data[i] = embeddingOut{Object: "embedding", Index: d.Index, Embedding: v}
	}
	return out
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	models := []switchboard.Model{}
	if l, ok := s.p.(switchboard.ModelLister); ok {
		ms, err := l.Models(r.Context())
		if err != nil {
			return err
		}
		c := callerOf(r)
		for _, m := range ms {
			if c == nil || c.MayUse(m.ID) {
				models = append(models, m)
			}
		}
	}
	return writeJSON(w, struct {
		Object string              `json:"object"`
		Data   []switchboard.Model `json:"data"`
	}{"list", models})
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("model")
	if c := callerOf(r); c != nil && !c.MayUse(id) {
		return modelNotFound(id)
	}
	if g, ok := s.p.(switchboard.ModelGetter); ok {
		m, err := g.Model(r.Context(), id)
		if err != nil {
			return modelNotFound(id)
		}
		return writeJSON(w, m)
	}
	if l, ok := s.p.(switchboard.ModelLister); ok {
		ms, err := l.Models(r.Context())
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.ID == id && (callerOf(r) == nil || callerOf(r).MayUse(id)) {
				return writeJSON(w, m)
			}
		}
	}
	return modelNotFound(id)
}

func modelNotFound(id string) error {
	return &switchboard.Error{Code: switchboard.CodeNotFound, Param: "model", VendorCode: "model_not_found",
		Message: "The model " + quote(strings.TrimSpace(id)) + " does not exist"}
}
