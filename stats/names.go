package stats

// Other spellings of the §14 names, for callers who derive the Go name from
// the snake_case one word by word (srm_chisq → SRMChisq, ks_2samp_asymp →
// KS2sampAsymp). They are the same functions.
var (
	SRMChisq     = SRMChiSq
	KS2sampAsymp = KS2SampAsymp
)
