package config

import (
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want ByteSize
		err  string
	}{
		{in: "1048576", want: 1 << 20},
		{in: "0", want: 0},
		{in: "100B", want: 100},
		{in: "8MiB", want: 8 << 20},
		{in: "512KiB", want: 512 << 10},
		{in: "1MB", want: 1_000_000},
		{in: "1kb", want: 1000},
		{in: "2GiB", want: 2 << 30},
		{in: "1TiB", want: 1 << 40},
		{in: "3TB", want: 3e12},
		{in: "8 MiB", want: 8 << 20},
		{in: " 8mib ", want: 8 << 20},
		{in: "1.5KiB", want: 1536},
		{in: "0.5GB", want: 500_000_000},
		{in: "1_000", want: 1000},
		{in: "-1", want: -1}, // Validate rejects it with a clearer message
		{in: "", err: `invalid byte size ""`},
		{in: "MiB", err: `invalid byte size "MiB"`},
		{in: "8XB", err: `invalid byte size "8XB" (want a number of bytes or a size like "512KiB", "8MiB", "1GB")`},
		{in: "8M", err: `invalid byte size "8M"`},
		{in: "1e6", err: `invalid byte size "1e6"`},
		{in: "1.2.3MB", err: `invalid byte size "1.2.3MB"`},
		{in: "9999999TiB", err: `byte size "9999999TiB" is out of range`},
		{in: "99999999999999999999", err: `byte size "99999999999999999999" is out of range`},
		{in: "4096000", want: 4000 * KiB},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseByteSize(tc.in)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Errorf("got %v, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestByteSizeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   ByteSize
		want string
	}{
		{0, "0B"},
		{1234, "1234B"},
		{1024, "1KiB"},
		{8 << 20, "8MiB"},
		{1_000_000, "1MB"},
		{1536, "1536B"},
		{3 << 30, "3GiB"},
		{5 << 40, "5TiB"},
		{2e12, "2TB"},
		{4096000, "4000KiB"},
		{-2048, "-2KiB"},
	}
	for _, tc := range tests {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("ByteSize(%d).String(): got %q, want %q", int64(tc.in), got, tc.want)
		}
		back, err := ParseByteSize(tc.in.String())
		if err != nil || back != tc.in {
			t.Errorf("ParseByteSize(%q): got %d, %v; want %d", tc.in.String(), back, err, tc.in)
		}
	}
}

func TestByteSizeText(t *testing.T) {
	t.Parallel()
	var b ByteSize
	if err := b.UnmarshalText([]byte("2MiB")); err != nil || b != 2*MiB {
		t.Errorf("UnmarshalText: got %d, %v; want %d", b, err, 2*MiB)
	}
	if got, _ := b.MarshalText(); string(got) != "2MiB" {
		t.Errorf("MarshalText: got %q, want %q", got, "2MiB")
	}
}
