package mock

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/switchboard-ai/switchboard"
)

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func TestVector(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"", "hello world", "!!!", "The quick brown fox"} {
		for _, dims := range []int{1, 3, 256, 3072} {
			v := Vector(text, dims)
			if len(v) != dims {
				t.Fatalf("Vector(%q, %d): got %d dims", text, dims, len(v))
			}
			if n := norm(v); math.Abs(n-1) > 1e-5 {
				t.Errorf("Vector(%q, %d): got norm %v, want 1", text, dims, n)
			}
		}
	}
	a, b := Vector("Hello world", 256), Vector("hello world", 256)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("case should not matter (-upper +lower):\n%s", diff)
	}
	near := cosine(Vector("the cat sat on the mat", 256), Vector("the cat sat on a mat", 256))
	far := cosine(Vector("the cat sat on the mat", 256), Vector("quarterly revenue grew", 256))
	if near < 0.6 || math.Abs(far) > 0.3 {
		t.Errorf("got similarity %.2f for similar texts and %.2f for unrelated ones, want > 0.6 and near 0", near, far)
	}
	// A shorter vector is the normalised prefix of a longer one.
	long, short := Vector("prefix property", 512), Vector("prefix property", 64)
	if c := cosine(long[:64], short); math.Abs(c-1) > 1e-5 {
		t.Errorf("got cosine %v between the 64-prefix and the 64-dim vector, want 1", c)
	}
}

func TestVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		wantN      int
		wantDims   int
		wantTokens int
		wantParam  string
	}{
		{"one string", `{"model":"e","input":"hello"}`, 1, DefaultDimensions, 2, ""},
		{"strings", `{"model":"e","input":["a","bcdef"]}`, 2, DefaultDimensions, 3, ""},
		{"tokens", `{"model":"e","input":[1,2,3]}`, 1, DefaultDimensions, 2, ""},
		{"dimensions", `{"model":"e","input":"x","dimensions":3072}`, 1, 3072, 1, ""},
		{"too many dimensions", `{"model":"e","input":"x","dimensions":3073}`, 0, 0, 0, "dimensions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := switchboard.DecodeEmbeddingRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := Vectors("", req)
			if tc.wantParam != "" {
				var e *switchboard.Error
				if !errors.As(err, &e) || e.Param != tc.wantParam {
					t.Fatalf("got %v, want invalid %s", err, tc.wantParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Data) != tc.wantN || len(resp.Data[0].Embedding) != tc.wantDims {
				t.Fatalf("got %d vectors of %d dims, want %d of %d", len(resp.Data), len(resp.Data[0].Embedding), tc.wantN, tc.wantDims)
			}
			if resp.Usage.PromptTokens != tc.wantTokens || resp.Usage.TotalTokens != tc.wantTokens {
				t.Errorf("got usage %+v, want %d tokens", resp.Usage, tc.wantTokens)
			}
			if resp.Model != "e" || resp.Object != "list" || resp.Data[len(resp.Data)-1].Index != tc.wantN-1 {
				t.Errorf("got model %q object %q, want e, list, indexes 0..n-1", resp.Model, resp.Object)
			}
		})
	}
}

func TestAppendEmbeddingJSON(t *testing.T) {
	t.Parallel()
	req, err := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":["one","two three"],"dimensions":8}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := Vectors("", req)
	if err != nil {
		t.Fatal(err)
	}
	var asFloats switchboard.EmbeddingResponse
	raw := AppendEmbeddingJSON(nil, resp, false)
	if err := json.Unmarshal(raw, &asFloats); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if diff := cmp.Diff(resp, &asFloats); diff != "" {
		t.Errorf("float encoding does not round-trip (-want +got):\n%s", diff)
	}
	// base64: the same float32s, little-endian.
	var asB64 struct {
		Data []struct {
			Embedding []byte `json:"embedding"`
		} `json:"data"`
	}
	raw = AppendEmbeddingJSON(nil, resp, true)
	if err := json.Unmarshal(raw, &asB64); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	for i, d := range asB64.Data {
		want := resp.Data[i].Embedding
		if len(d.Embedding) != 4*len(want) {
			t.Fatalf("vector %d: got %d bytes, want %d", i, len(d.Embedding), 4*len(want))
		}
		for j := range want {
			bits := uint32(d.Embedding[4*j]) | uint32(d.Embedding[4*j+1])<<8 | uint32(d.Embedding[4*j+2])<<16 | uint32(d.Embedding[4*j+3])<<24
			if got := math.Float32frombits(bits); got != want[j] {
				t.Errorf("vector %d[%d]: got %v, want %v", i, j, got, want[j])
			}
		}
	}
	if n := EmbeddingJSONSize(resp, true); n < len(raw) {
		t.Errorf("EmbeddingJSONSize = %d, less than the %d bytes written", n, len(raw))
	}
}
