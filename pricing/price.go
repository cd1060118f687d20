// Package pricing knows what models cost: a price table shipped in the binary
// (prices.yaml, embedded), overridable from config, and the arithmetic that
// turns a switchboard.Usage into US dollars.
//
// A cost is computed only for a model the table prices. For anything else
// the answer is ok=false, and callers record the cost as unknown (NULL),
// never as 0: a free model is priced at zero explicitly.
//
// Costs are rounded to the nearest nano-dollar (1e-9 USD). Callers that store
// or sum costs exactly should convert with int64(math.Round(usd * 1e9)).
package pricing

import (
	"math"

	"github.com/switchboard-ai/switchboard"
)

// Price is what one model costs, in USD per 1,000,000 tokens.
type Price struct {
	// Input is the price of a prompt token.
	Input float64
	// Output is the price of a completion token (reasoning tokens included).
	Output float64
	// CachedInput is the price of a prompt token served from the vendor's
	// prompt cache. In a Table it is always set: a model without a cache
	// price charges cached tokens at Input.
	CachedInput float64
	// MaxOutputTokens is the most completion tokens one request can
	// produce, 0 if unknown.
	MaxOutputTokens int
	// ContextWindow is the prompt plus completion tokens the model accepts,
	// 0 if unknown.
	ContextWindow int
	// LongContext, when its Above is set, replaces the prices above for a
	// whole request whose prompt is longer than Above tokens.
	LongContext Tier
}

// Tier is a set of prices that applies to a whole request once its prompt is
// longer than Above tokens, the way Anthropic, Google and OpenAI bill long
// prompts (Gemini 2.5 Pro above 200K, GPT-5.4 above 272K).
type Tier struct {
	// Above is the prompt length in tokens past which the tier applies; 0
	// means the model has no such tier.
	Above int
	// Input is the price of a prompt token in this tier.
	Input float64
	// Output is the price of a completion token in this tier.
	Output float64
	// CachedInput is the price of a cached prompt token in this tier; in a
	// Table it is always set (Input when the vendor publishes none).
	CachedInput float64
}

// Cost returns the price of usage u in USD, rounded to the nearest 1e-9:
//
//	((prompt - cached)·Input + cached·CachedInput + completion·Output) / 1e6
//
// where prompt and completion are u.PromptTokens and u.CompletionTokens, and
// cached is u.CachedTokens() (prompt tokens that include the cached ones, as
// OpenAI reports them). Negative counts count as 0 and cached is capped at
// prompt. A prompt longer than LongContext.Above is billed at the tier.
func (p Price) Cost(u switchboard.Usage) float64 {
	prompt := max(u.PromptTokens, 0)
	cached := min(max(u.CachedTokens(), 0), prompt)
	completion := max(u.CompletionTokens, 0)
	in, cin, out := p.rates(prompt)
	usd := float64(prompt-cached)*in + float64(cached)*cin + float64(completion)*out
	return roundNano(usd / 1e6)
}

// MaxCost returns the most a request with promptTokens prompt tokens can
// cost, for reserving budget before the call: no prompt token is assumed to
// be cached, and the completion is as long as it can be. That is
// maxOutputTokens (what the request asked for), capped at MaxOutputTokens;
// when the request sets no limit, MaxOutputTokens, or else what the context
// window leaves after the prompt. If none of these is known only the prompt
// is counted.
func (p Price) MaxCost(promptTokens, maxOutputTokens int) float64 {
	prompt := max(promptTokens, 0)
	out := max(maxOutputTokens, 0)
	switch {
	case out > 0 && p.MaxOutputTokens > 0:
		out = min(out, p.MaxOutputTokens)
	case out == 0 && p.MaxOutputTokens > 0:
		out = p.MaxOutputTokens
	case out == 0 && p.ContextWindow > prompt:
		out = p.ContextWindow - prompt
	}
	in, _, outRate := p.rates(prompt)
	return roundNano((float64(prompt)*in + float64(out)*outRate) / 1e6)
}

// rates returns the input, cached-input and output prices that apply to a
// request with a prompt of prompt tokens.
func (p Price) rates(prompt int) (in, cached, out float64) {
	if t := p.LongContext; t.Above > 0 && prompt > t.Above {
		return t.Input, t.CachedInput, t.Output
	}
	return p.Input, p.CachedInput, p.Output
}

// normalized returns p with the cached-input prices filled in: a price of 0
// means the vendor publishes none, so cached tokens cost as much as others.
func (p Price) normalized() Price {
	if p.CachedInput == 0 {
		p.CachedInput = p.Input
	}
	if p.LongContext.Above > 0 && p.LongContext.CachedInput == 0 {
		p.LongContext.CachedInput = p.LongContext.Input
	}
	if p.LongContext.Above <= 0 {
		p.LongContext = Tier{}
	}
	return p
}

// roundNano rounds usd to the nearest nano-dollar.
func roundNano(usd float64) float64 {
	return math.Round(usd*1e9) / 1e9
}
