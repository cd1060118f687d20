package experiment

import (
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/stats"
)

func weighted(salt string, weights ...float64) *switchboard.Experiment {
	e := &switchboard.Experiment{Name: "e", Salt: salt, Control: "v0"}
	for i, w := range weights {
		e.Variants = append(e.Variants, switchboard.Variant{Name: fmt.Sprint("v", i), PromptVersion: strconv.Itoa(i + 1), Weight: w})
	}
	return e
}

// TestAssignKnownAnswers pins the hash: changing it would reshuffle every
// running experiment's units on upgrade.
func TestAssignKnownAnswers(t *testing.T) {
	t.Parallel()
	// Computed independently (Python: FNV-1a 64 over salt, len(salt), unit;
	// murmur3 fmix64).
	golden := map[[2]string]uint64{
		{"salt-1", "acme\x00alice"}: 0x6a68d4d6b9776b79,
		{"salt-1", "acme\x00bob"}:   0x61672a270c9dc10e,
		{"salt-2", "acme\x00alice"}: 0x71b4db859c3d9532,
		{"ab", "c"}:                 0xaebfc557cc07b223,
		{"a", "bc"}:                 0x28ce6b9f93d870fa,
	}
	for k, want := range golden {
		if got := unitHash(k[0], k[1]); got != want {
			t.Errorf("unitHash(%q, %q) = %#x, want %#x", k[0], k[1], got, want)
		}
	}
}

func TestAssignSticky(t *testing.T) {
	t.Parallel()
	e := weighted("sticky", 1, 1, 1)
	other := *e
	other.Name, other.Description = "renamed", "other fields do not matter"
	for u := range 1000 {
		unit := fmt.Sprint("user-", u)
		a := Assign(e, unit)
		for range 3 {
			if b := Assign(e, unit); b.Variant != a.Variant || b.Bucket != a.Bucket || b.UnitHash != a.UnitHash {
				t.Fatalf("unit %q: got %s then %s", unit, a.Variant, b.Variant)
			}
		}
		if b := Assign(&other, unit); b.Variant != a.Variant {
			t.Fatalf("unit %q: variant changed with fields other than salt and weights: %s → %s", unit, a.Variant, b.Variant)
		}
		if a.Random || a.UnitHash == 0 || a.Bucket < 0 || a.Bucket >= 1 {
			t.Fatalf("unit %q: got %+v", unit, a)
		}
	}
}

// TestAssignProportions checks the shares over 100,000 units: each within
// 4.5 binomial standard errors, and jointly by the chi-square SRM test.
func TestAssignProportions(t *testing.T) {
	t.Parallel()
	const units = 100_000
	for _, tc := range []struct {
		name    string
		weights []float64
	}{
		{"50/50", []float64{50, 50}},
		{"canary 90/10", []float64{90, 10}},
		{"1:2:3:4", []float64{1, 2, 3, 4}},
		{"tiny canary", []float64{99, 1}},
		{"zero weight", []float64{1, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := weighted("prop-"+tc.name, tc.weights...)
			counts := make([]int, len(tc.weights))
			for u := range units {
				counts[Assign(e, fmt.Sprintf("tenant\x00user-%d", u)).Index]++
			}
			total := 0.0
			for _, w := range tc.weights {
				total += w
			}
			var obs []int
			var ws []float64
			for i, w := range tc.weights {
				p := w / total
				got := float64(counts[i]) / units
				if se := math.Sqrt(p * (1 - p) / units); math.Abs(got-p) > 4.5*se {
					t.Errorf("variant %d: share %.4f, want %.4f ± %.4f", i, got, p, 4.5*se)
				}
				if w > 0 {
					obs, ws = append(obs, counts[i]), append(ws, w)
				}
			}
			if srm, err := stats.SRMChiSq(stats.SRMChiSqInput{Counts: obs, Weights: ws}); err != nil || srm.PValue < 1e-4 {
				t.Errorf("counts %v for weights %v: chi-square p = %g (%v), want ≥ 1e-4", counts, tc.weights, srm.PValue, err)
			}
		})
	}
}

func TestAssignSaltReshuffles(t *testing.T) {
	t.Parallel()
	a, b := weighted("salt-a", 1, 1), weighted("salt-b", 1, 1)
	const units = 20_000
	moved := 0
	for u := range units {
		unit := fmt.Sprint("user-", u)
		if Assign(a, unit).Variant != Assign(b, unit).Variant {
			moved++
		}
	}
	// Independent 50/50 assignments disagree half the time.
	if frac := float64(moved) / units; math.Abs(frac-0.5) > 0.02 {
		t.Errorf("a new salt moved %.3f of units, want ≈ 0.5", frac)
	}
}

// TestAssignRamp: raising the canary's (last variant's) weight only moves
// units into it; nobody leaves the canary.
func TestAssignRamp(t *testing.T) {
	t.Parallel()
	before, after := weighted("ramp", 90, 10), weighted("ramp", 80, 20)
	in, out := 0, 0
	for u := range 20_000 {
		unit := fmt.Sprint("user-", u)
		b, a := Assign(before, unit).Index, Assign(after, unit).Index
		switch {
		case b == 1 && a == 0:
			out++
		case b == 0 && a == 1:
			in++
		}
	}
	if out != 0 || in == 0 {
		t.Errorf("ramp 10%% → 20%%: %d units left the canary (want 0), %d joined (want > 0)", out, in)
	}
}

func TestAssignRandom(t *testing.T) {
	t.Parallel()
	e := weighted("r", 3, 1)
	counts := [2]int{}
	for range 40_000 {
		a := Assign(e, "")
		if !a.Random || a.UnitHash != 0 {
			t.Fatalf("no unit: got %+v, want Random and no hash", a)
		}
		counts[a.Index]++
	}
	if got := float64(counts[1]) / 40_000; math.Abs(got-0.25) > 0.01 {
		t.Errorf("random assignment share %.3f, want 0.25", got)
	}
}

func TestAssignmentRecord(t *testing.T) {
	t.Parallel()
	e := weighted("rec", 1, 1)
	var in switchboard.Inference
	a := Assign(e, Unit("acme", "", "alice"))
	a.Record(&in)
	if in.Experiment != "e" || in.Variant != a.Variant || in.Unit != UnitHashString(a.UnitHash) || len(in.Unit) != 16 {
		t.Errorf("Record: got %+v", in)
	}
	if in.Unit == "alice" || in.Unit == "acme\x00alice" {
		t.Errorf("Record stored the raw unit %q", in.Unit)
	}
	Assign(e, "").Record(&in)
	if in.Unit != "" {
		t.Errorf("Record of a random assignment: unit %q, want empty", in.Unit)
	}
	if got := UnitHashString(0xabc); got != "0000000000000abc" {
		t.Errorf("UnitHashString(0xabc) = %q", got)
	}
}

func TestUnit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ tenant, header, user, want string }{
		{"acme", "h1", "u1", "acme\x00h1"},
		{"acme", "", "u1", "acme\x00u1"},
		{"acme", "", "", ""},
		{"", "", "u1", "\x00u1"},
	} {
		if got := Unit(tc.tenant, tc.header, tc.user); got != tc.want {
			t.Errorf("Unit(%q, %q, %q) = %q, want %q", tc.tenant, tc.header, tc.user, got, tc.want)
		}
	}
	// Equal user IDs of two tenants are two units.
	e := weighted("t", 1, 1)
	if Assign(e, Unit("a", "", "x")).UnitHash == Assign(e, Unit("b", "", "x")).UnitHash {
		t.Error("units of two tenants hash alike")
	}
}
