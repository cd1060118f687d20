package httpapi

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"

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
