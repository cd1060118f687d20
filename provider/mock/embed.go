package mock

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/switchboard-ai/switchboard"
)

// Embedding sizes.
const (
	// DefaultDimensions is the length of a vector when the request sets no dimensions.
	DefaultDimensions = 256
	// MaxDimensions is the largest dimensions a request may ask for.
	MaxDimensions = 3072
)

// maxVectorWords bounds the words of one input that shape its vector.
const maxVectorWords = 4096

// Vectors returns the embeddings of req's inputs (see Vector), with usage
// prompt_tokens estimated as ceil(bytes/4) per input.
func Vectors(model string, req *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
	if model == "" {
		model = req.Model
	}
	texts := req.Texts()
	if len(texts) == 0 {
		return nil, switchboard.InvalidParam("input", "'input' must be a string, an array of strings, an array of token ids or an array of token-id arrays")
	}
	dims := DefaultDimensions
	if req.Dimensions != nil {
		dims = *req.Dimensions
		if dims < 1 || dims > MaxDimensions {
			return nil, switchboard.InvalidParam("dimensions", "'dimensions' must be between 1 and %d, got %d", MaxDimensions, dims)
		}
	}
	resp := &switchboard.EmbeddingResponse{
		Object: "list",
		Model:  model,
		Data:   make([]switchboard.Embedding, len(texts)),
	}
	tokens := 0
	for i, t := range texts {
		resp.Data[i] = switchboard.Embedding{Object: "embedding", Index: i, Embedding: Vector(t, dims)}
		tokens += EstimateTokens(len(t))
	}
	resp.Usage = &switchboard.Usage{PromptTokens: tokens, TotalTokens: tokens}
	return resp, nil
}

// Vector returns the deterministic unit vector of text: the normalised sum
// of one pseudo-random vector per word (ASCII case folded), each seeded by a
// hash of the word. Texts that share words point in similar directions, and a
// shorter vector is the normalised prefix of a longer one, as with OpenAI's
// text-embedding-3 models.
func Vector(text string, dims int) []float32 {
	acc := make([]float64, dims)
	words := 0
	for i := 0; i < len(text) && words < maxVectorWords; {
		if !isWordByte(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isWordByte(text[j]) {
			j++
		}
		addWord(acc, hashWord(text[i:j]))
		words++
		i = j
	}
	if words == 0 {
		addWord(acc, hashWord(text))
	}
	var norm float64
	for _, x := range acc {
		norm += x * x
	}
	out := make([]float32, dims)
	if norm == 0 {
		out[0] = 1
		return out
	}
	norm = math.Sqrt(norm)
	for i, x := range acc {
		out[i] = float32(x / norm)
	}
	return out
}

// hashWord is FNV-1a over the ASCII-lower-cased word.
func hashWord(w string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// addWord adds the word's vector, values in [-1, 1) from splitmix64.
func addWord(acc []float64, seed uint64) {
	for i := range acc {
		seed += 0x9e3779b97f4a7c15
		z := seed
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		z ^= z >> 31
		acc[i] += float64(int64(z)) / (1 << 63)
	}
}

// AppendEmbeddingJSON appends resp as OpenAI's embeddings response. With
// asBase64 each vector is a base64 string of its little-endian float32s, as
// OpenAI sends for encoding_format "base64".
func AppendEmbeddingJSON(b []byte, resp *switchboard.EmbeddingResponse, asBase64 bool) []byte {
	var scratch []byte
	b = append(b, `{"object":"list","data":[`...)
	for i := range resp.Data {
		e := &resp.Data[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(e.Index), 10)
		b = append(b, `,"embedding":`...)
		if asBase64 {
			scratch = scratch[:0]
			for _, f := range e.Embedding {
				scratch = binary.LittleEndian.AppendUint32(scratch, math.Float32bits(f))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, scratch)
			b = append(b, '"')
		} else {
			b = append(b, '[')
			for j, f := range e.Embedding {
				if j > 0 {
					b = append(b, ',')
				}
				// The float32's exact value, shortest as a float64, as OpenAI prints it:
				// float and base64 clients then decode the same numbers.
				b = strconv.AppendFloat(b, float64(f), 'g', -1, 64)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendString(b, resp.Model)
	tokens := 0
	if resp.Usage != nil {
		tokens = resp.Usage.PromptTokens
	}
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	return append(b, "}}"...)
}

// EmbeddingJSONSize estimates the bytes AppendEmbeddingJSON writes, to size its buffer.
func EmbeddingJSONSize(resp *switchboard.EmbeddingResponse, asBase64 bool) int {
	n := 128 + len(resp.Model)
	for i := range resp.Data {
		d := len(resp.Data[i].Embedding)
		if asBase64 {
			n += 64 + (d*4+2)/3*4
		} else {
			n += 64 + d*22
		}
	}
	return n
}
