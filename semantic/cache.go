// Package semantic is the semantic tier of the response cache: it finds a
// stored prompt that is a near-duplicate of a new one, so the caching layer
// can serve the stored response under its key. It is off unless configured.
//
// A hit needs three things to agree:
//
//  1. The namespace. The caller builds it from everything that must be
//     equal for a stored response to be valid: tenant, model, sampling
//     parameters, system prompt, tools, and a hash of the earlier turns.
//     Only the last user message is compared by meaning; an item never
//     matches across namespaces.
//  2. The vector similarity of the two prompts, at least the threshold.
//  3. Exact checks on the text (see embed.SameGuards and embed.SameWords):
//     the same numbers and negations always, and, unless AllowRewording is
//     set, the same content words up to typos and the same direction
//     ("5 km to miles" is not "5 miles to km").
//
// The index lives in memory only: after a restart it is rebuilt from
// traffic, and the caching layer's exact tier still serves what it holds.
// Precision on a labelled set of look-alike prompts is in PRECISION.md.
package semantic

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchboard-ai/switchboard/embed"
)

// DefaultThreshold is the similarity a semantic hit needs by default with
// the local embedder. Chosen on testdata/pairs.jsonl (PRECISION.md): no
// false hit there from 0.85 up with the exact checks, and 0.92 leaves a
// margin above the closest look-alikes the checks let through (0.80).
// Other embedders need their own measurement.
const DefaultThreshold = 0.92

// ErrThreshold is returned by New for a threshold outside (0, 1].
var ErrThreshold = errors.New("threshold must be in (0, 1]")

// Config configures a Cache.
type Config struct {
	// Threshold is the least similarity of a hit (0 = DefaultThreshold).
	// It is a floor: a request may ask for more, never for less.
	Threshold float32
	// AllowRewording drops the word-level check and keeps only the
	// numbers-and-negations one, for an embedder that knows paraphrases
	// (a provider's); with the local embedder it only adds false hits.
	AllowRewording bool
}

// Cache finds near-duplicate prompts: Store records a prompt under the key
// of its cached response, Lookup finds the key of a stored near-duplicate.
// It holds keys only; the responses stay in the cache tiers. Cache is safe
// for concurrent use.
type Cache struct {
	emb       embed.Embedder
	idx       *Index
	threshold float32
	rewording bool
}

// New returns a cache that embeds with emb and keeps its items in idx.
func New(emb embed.Embedder, idx *Index, cfg Config) (*Cache, error) {
	t := cfg.Threshold
	if t == 0 {
		t = DefaultThreshold
	}
	if !(t > 0 && t <= 1) {
		return nil, fmt.Errorf("semantic: threshold %v: %w", t, ErrThreshold)
	}
	return &Cache{emb: emb, idx: idx, threshold: t, rewording: cfg.AllowRewording}, nil
}

// Threshold returns the configured floor of the similarity of a hit.
func (c *Cache) Threshold() float32 { return c.threshold }

// candidates is how many nearest items Lookup checks, best first, before
// it gives up: the most similar one may fail the exact checks when a
// look-alike with another number is stored too.
const candidates = 4

// Lookup returns the key stored with the prompt of namespace ns most
// similar to text that passes the exact checks, with its similarity, if
// that is at least max(Threshold, minSimilarity). A miss is ("", 0, false,
// nil); an error means the embedder failed.
func (c *Cache) Lookup(ctx context.Context, ns, text string, minSimilarity float32) (key string, sim float32, ok bool, err error) {
	v, err := c.embed(ctx, text)
	if err != nil {
		return "", 0, false, err
	}
	for _, m := range c.idx.search(ns, v, max(c.threshold, min(minSimilarity, 1)), candidates) {
		if c.rewording && embed.SameGuards(text, m.text) || !c.rewording && embed.SameWords(text, m.text) {
			return m.key, m.sim, true, nil
		}
	}
	return "", 0, false, nil
}

// Store records text in namespace ns under key, the key of the cached
// response; storing a key again replaces it.
func (c *Cache) Store(ctx context.Context, ns, key, text string) error {
	v, err := c.embed(ctx, text)
	if err != nil {
		return err
	}
	return c.idx.Add(ns, key, text, v)
}

// Delete forgets key, when its response leaves the cache.
func (c *Cache) Delete(key string) { c.idx.Delete(key) }

func (c *Cache) embed(ctx context.Context, text string) ([]float32, error) {
	vs, err := c.emb.Embed(ctx, []string{text})
	if err != nil {
		return nil, fmt.Errorf("semantic: embed: %w", err)
	}
	if len(vs) != 1 {
		return nil, fmt.Errorf("semantic: embed: got %d vectors for 1 text", len(vs))
	}
	return vs[0], nil
}
