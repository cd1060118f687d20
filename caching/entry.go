package caching

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// entry is a cached chat answer: the complete OpenAI chat completion, and
// which deployment produced it. A streamed answer is stored in the same
// form, assembled from its chunks, so either kind of client can replay it.
type entry struct {
	V        int             `json:"v"`
	Created  int64           `json:"created"` // unix nanoseconds
	Provider string          `json:"provider"`
	Model    string          `json:"model"`
	Response json.RawMessage `json:"response"`
}

func (e *entry) age(now time.Time) time.Duration { return now.Sub(time.Unix(0, e.Created)) }

func decodeEntry(b []byte) (*entry, error) {
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	if e.V != 1 || len(e.Response) == 0 {
		return nil, errors.New("caching: unknown entry version")
	}
	return &e, nil
}

// encodeVector stores an embedding as its creation time and little-endian
// float32s: compact, and decoded without parsing.
func encodeVector(created time.Time, v []float32) []byte {
	b := make([]byte, 8+4*len(v))
	binary.LittleEndian.PutUint64(b, uint64(created.UnixNano()))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[8+4*i:], math.Float32bits(f))
	}
	return b
}

func decodeVector(b []byte) (time.Time, []float32, bool) {
	if len(b) < 8 || (len(b)-8)%4 != 0 {
		return time.Time{}, nil, false
	}
	created := time.Unix(0, int64(binary.LittleEndian.Uint64(b)))
	v := make([]float32, (len(b)-8)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[8+4*i:]))
	}
	return created, v, true
}

// complete reports whether a response is whole enough to cache: every
// choice finished (a content filter or a missing finish reason is not cached).
func complete(r *switchboard.ChatResponse) bool {
	if r == nil || len(r.Choices) == 0 {
		return false
	}
	for _, c := range r.Choices {
		switch c.FinishReason {
		case "stop", "length", "tool_calls", "function_call":
		default:
			return false
		}
	}
	return true
}
