package caching

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// entry is a cached chat answer: the complete OpenAI chat completion, and
// which deployment produced it. A streamed answer is stored in the same
// form, assembled from its chunks, so either kind of client can replay it.
// It is stored as a small binary header and the response's JSON as is, so a
// hit parses nothing but the response itself.
type entry struct {
	Created  int64 // unix nanoseconds
	Provider string
	Model    string
	Response []byte
}

func (e *entry) age(now time.Time) time.Duration { return now.Sub(time.Unix(0, e.Created)) }

// entryMagic starts every encoded entry (format version 1).
const entryMagic = "SBc1"

func (e *entry) encode() []byte {
	b := make([]byte, 0, len(entryMagic)+8+4+len(e.Provider)+len(e.Model)+len(e.Response))
	b = append(b, entryMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.Created))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(e.Provider)))
	b = append(b, e.Provider...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(e.Model)))
	b = append(b, e.Model...)
	return append(b, e.Response...)
}

func decodeEntry(b []byte) (*entry, error) {
	bad := errors.New("caching: malformed entry")
	if len(b) < len(entryMagic)+12 || string(b[:len(entryMagic)]) != entryMagic {
		return nil, bad
	}
	b = b[len(entryMagic):]
	e := &entry{Created: int64(binary.LittleEndian.Uint64(b))}
	b = b[8:]
	n := int(binary.LittleEndian.Uint16(b))
	if len(b) < 2+n+2 {
		return nil, bad
	}
	e.Provider, b = string(b[2:2+n]), b[2+n:]
	n = int(binary.LittleEndian.Uint16(b))
	if len(b) < 2+n+1 {
		return nil, bad
	}
	e.Model, e.Response = string(b[2:2+n]), b[2+n:]
	return e, nil
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
