package switchboard

import (
	"testing"
	"time"
)

// FuzzIDTime: any string is either not a UUIDv7 or yields a time that
// formats back to the same first 12 hex digits; never a panic.
func FuzzIDTime(f *testing.F) {
	for _, s := range []string{NewID(), "", "chatcmpl-1", "0190d7a4-1c2b-7d3e-8f40-123456789abc", "zzzzzzzz-zzzz-7zzz-zzzz-zzzzzzzzzzzz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		at, ok := IDTime(id)
		if !ok {
			return
		}
		if ms := at.UnixMilli(); ms < 0 || ms >= 1<<48 {
			t.Fatalf("IDTime(%q) = %v: outside 48 bits of milliseconds", id, at)
		}
	})
}

func TestIDTimeOfNewID(t *testing.T) {
	t.Parallel()
	before := time.Now().Truncate(time.Millisecond)
	id := NewID()
	at, ok := IDTime(id)
	if !ok || at.Before(before) || at.After(time.Now()) {
		t.Fatalf("IDTime(%q) = %v, %v; want now", id, at, ok)
	}
	for _, id := range []string{"", "chatcmpl-1", "0190d7a4-1c2b-4d3e-8f40-123456789abc", "zz90d7a4-1c2b-7d3e-8f40-123456789abc"} {
		if _, ok := IDTime(id); ok {
			t.Errorf("IDTime(%q) ok; want not a UUIDv7", id)
		}
	}
}
