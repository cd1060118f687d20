package experiment

import (
	"math/rand/v2"

	"github.com/switchboard-ai/switchboard"
)

// Assignment is the variant an experiment gave one request. Its strings
// point into the experiment; it allocates nothing.
type Assignment struct {
	Experiment string
	// Variant, PromptVersion and Model are the assigned variant's.
	Variant       string
	PromptVersion string
	Model         string
	// Index is the variant's position in the experiment's Variants.
	Index int
	// Bucket is the unit's position in [0, 1) that picked the variant.
	Bucket float64
	// UnitHash is the salted hash of the unit that is recorded instead of
	// the unit (0 when Random).
	UnitHash uint64
	// Random reports that the request had no unit and was assigned at
	// random: it is its own unit in the analysis.
	Random bool
}

// Assign returns the variant of e for unit: the bucket hash(salt, unit) in
// [0, 1) falls in the variant whose cumulative share of the weights covers
// it, in the order of e.Variants. The same unit gets the same variant as
// long as the salt and the weights are unchanged; a new salt reshuffles
// every unit; raising the weight of the last variant only moves units into
// it. An empty unit gets a random bucket and Random is set. e must have a
// positive total weight (Validate checks it).
//
// Assign is the hot path of every request in an experiment: it hashes the
// salt and the unit (FNV-1a with a murmur3 finaliser) and allocates nothing.
func Assign(e *switchboard.Experiment, unit string) Assignment {
	a := Assignment{Experiment: e.Name}
	var h uint64
	if unit == "" {
		h, a.Random = rand.Uint64(), true
	} else {
		h = unitHash(e.Salt, unit)
		a.UnitHash = h
	}
	a.Bucket = float64(h>>11) / (1 << 53)
	total := 0.0
	for _, v := range e.Variants {
		total += v.Weight
	}
	target, cum := a.Bucket*total, 0.0
	a.Index = -1
	for i, v := range e.Variants {
		if v.Weight <= 0 {
			continue
		}
		cum += v.Weight
		a.Index = i
		if target < cum {
			break
		}
	}
	if a.Index < 0 { // no positive weight: an invalid experiment
		a.Index = 0
	}
	v := &e.Variants[a.Index]
	a.Variant, a.PromptVersion, a.Model = v.Name, v.PromptVersion, v.Model
	return a
}

// Unit returns the randomisation unit of a request of tenant: the
// x-switchboard-unit header when set, else the request's user field, scoped
// to the tenant so that equal IDs of two tenants are two units. It returns
// "" when the request names no unit.
func Unit(tenant, header, user string) string {
	id := header
	if id == "" {
		id = user
	}
	if id == "" {
		return ""
	}
	return tenant + "\x00" + id
}

// Record writes the exposure of a into the inference record: the
// experiment, the variant and the unit hash (empty for a random
// assignment). The raw unit is never recorded.
func (a Assignment) Record(in *switchboard.Inference) {
	in.Experiment, in.Variant = a.Experiment, a.Variant
	in.Unit = ""
	if !a.Random {
		in.Unit = UnitHashString(a.UnitHash)
	}
}

// UnitHashString formats a unit hash as it is recorded: 16 hex digits.
func UnitHashString(h uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[h&0xf]
		h >>= 4
	}
	return string(b[:])
}

// FNV-1a parameters (64-bit).
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// unitHash hashes salt and unit, separated by the salt's length so that
// ("ab", "c") and ("a", "bc") differ, and mixes the result with murmur3's
// 64-bit finaliser so that every bit depends on every input bit.
func unitHash(salt, unit string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(salt); i++ {
		h = (h ^ uint64(salt[i])) * fnvPrime
	}
	h = (h ^ uint64(len(salt))) * fnvPrime
	for i := 0; i < len(unit); i++ {
		h = (h ^ uint64(unit[i])) * fnvPrime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// variantIndex returns the index of the variant named name in e, or -1.
func variantIndex(e *switchboard.Experiment, name string) int {
	for i, v := range e.Variants {
		if v.Name == name {
			return i
		}
	}
	return -1
}
