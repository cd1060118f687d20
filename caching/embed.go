package caching

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Embed implements switchboard.Embedder with a cache per input item: a
// batch where some inputs are cached sends only the others upstream and
// reassembles the answer in order. Only string inputs are cached; token-id
// inputs pass through. Embeddings are deterministic, so no opt-in is needed
// (a model whose policy is "off" is not cached).
func (c *Cache) Embed(ctx context.Context, model string, req *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
	emb, ok := c.next.(switchboard.Embedder)
	if !ok {
		return nil, errors.New("caching: the next provider serves no embeddings")
	}
	inputs, isStrings := stringInputs(req.Input)
	cc := switchboard.CacheControlFromContext(ctx)
	targets, err := c.opts.Resolver.Candidates(model)
	if !isStrings || err != nil || len(targets) == 0 || c.policy(ctx, model).Mode == ModeOff {
		c.report(ctx, model, ResultBypass, "", nil, 0)
		return emb.Embed(ctx, model, req)
	}
	tenant := ""
	if pr, ok := switchboard.PrincipalFromContext(ctx); ok {
		tenant = pr.TenantID
	}
	dims := 0
	if req.Dimensions != nil {
		dims = *req.Dimensions
	}
	t := targets[0]
	vecs := make([][]float32, len(inputs))
	var missing []int
	tier := ""
	for i, in := range inputs {
		if cc.NoCache {
			missing = append(missing, i)
			continue
		}
		b, tr, ok := c.get(ctx, embeddingKey(tenant, cc.Namespace, t, dims, in))
		created, v, vok := decodeVector(b)
		if !ok || !vok || (cc.MaxAge != nil && c.now().Sub(created) > *cc.MaxAge) {
			missing = append(missing, i)
			continue
		}
		vecs[i], tier = v, tr
	}
	result := ResultHit
	switch {
	case len(missing) == len(inputs):
		result, tier = ResultMiss, ""
	case len(missing) > 0:
		result = "partial"
	}
	c.report(ctx, model, result, tier, nil, 0)
	resp := &switchboard.EmbeddingResponse{Object: "list", Model: t.Model, Usage: &switchboard.Usage{}}
	if len(missing) > 0 {
		sub := *req
		sub.Raw = nil
		texts := make([]string, len(missing))
		for j, i := range missing {
			texts[j] = inputs[i]
		}
		sub.Input, _ = json.Marshal(texts)
		up, err := emb.Embed(ctx, model, &sub)
		if err != nil {
			return nil, err
		}
		if len(up.Data) != len(missing) {
			return nil, &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream returned a different number of embeddings than inputs"}
		}
		resp.Model = up.Model
		if up.Usage != nil {
			resp.Usage = up.Usage
		}
		served := t
		if out := switchboard.OutcomeFromContext(ctx); out != nil && out.Provider != "" {
			served = Target{Provider: out.Provider, Model: out.UpstreamModel}
		}
		now := c.now()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, d := range up.Data {
			if d.Index < 0 || d.Index >= len(missing) {
				return nil, &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream returned an embedding index out of range"}
			}
			i := missing[d.Index]
			vecs[i] = d.Embedding
			if !cc.NoStore && served == t {
				if err := c.opts.Store.Set(sctx, embeddingKey(tenant, cc.Namespace, t, dims, inputs[i]), encodeVector(now, d.Embedding), c.policy(ctx, model).TTL); err != nil {
					c.log.Warn("cache write failed", "err", err)
				}
			}
		}
	} else if out := switchboard.OutcomeFromContext(ctx); out != nil {
		out.Provider, out.UpstreamModel, out.Model = t.Provider, t.Model, model
	}
	resp.Data = make([]switchboard.Embedding, len(vecs))
	for i, v := range vecs {
		resp.Data[i] = switchboard.Embedding{Object: "embedding", Index: i, Embedding: v}
	}
	return resp, nil
}

// stringInputs returns the inputs of an embeddings request when they are a
// string or an array of strings.
func stringInputs(raw json.RawMessage) ([]string, bool) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many, true
	}
	return nil, false
}
