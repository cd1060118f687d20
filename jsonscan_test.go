package switchboard

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestAppendCanonicalJSON(t *testing.T) {
	t.Parallel()
	tests := []struct{ a, b string }{
		{`{"b":1,"a":[1, 2.0, {"y":true,"x":null}]}`, `{ "a" : [ 1.0 , 2 , {"x":null , "y":true} ] , "b" : 1e0 }`},
		{`{"s":"hé\"llo","skip":1}`, `{"s":"hé\"llo"}`},
	}
	for _, tc := range tests {
		skip := func(k string) bool { return k == "skip" }
		a, err := AppendCanonicalJSON(nil, []byte(tc.a), skip)
		if err != nil {
			t.Fatal(err)
		}
		b, err := AppendCanonicalJSON(nil, []byte(tc.b), skip)
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Errorf("got %s and %s, want equal", a, b)
		}
	}
}

func FuzzAppendCanonicalJSON(f *testing.F) {
	f.Add([]byte(`{"b":1,"a":[1,2.5,{"y":"x"}]}`))
	f.Add([]byte(`[1e400]`))
	f.Fuzz(func(t *testing.T, src []byte) {
		if !json.Valid(src) {
			return
		}
		out, err := AppendCanonicalJSON(nil, src, nil)
		if err != nil {
			return // numbers out of float64 range
		}
		// The canonical form decodes to the same value.
		var x, y any
		if json.Unmarshal(src, &x) != nil {
			return
		}
		if err := json.Unmarshal(out, &y); err != nil {
			t.Fatalf("canonical form %s is not JSON: %v", out, err)
		}
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("canonical %s decodes differently from %s", out, src)
		}
		again, err := AppendCanonicalJSON(nil, out, nil)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not idempotent: %s then %s", out, again)
		}
	})
}
