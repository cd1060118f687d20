package embed

// The word lists below are small and fixed on purpose: the local embedder
// must work offline with no data files. They change the weight of a token,
// never whether two texts are compared, so a missing word costs a little
// precision or recall, not correctness.

// stopwords are function words and politeness fillers. They keep a small
// weight (stopWeight) so that a text made only of them still has a vector.
var stopwords = setOf(
	// articles, pronouns, auxiliaries
	"a", "an", "the", "this", "that", "these", "those", "it", "its", "i", "me", "my",
	"mine", "we", "us", "our", "you", "your", "yours", "he", "him", "his", "she", "her",
	"they", "them", "their", "is", "are", "am", "was", "were", "be", "been", "being",
	"do", "does", "did", "doing", "have", "has", "had", "having", "will", "would",
	"shall", "should", "can", "could", "may", "might", "must", "s", "m", "re", "ve",
	"ll", "d",
	// question words and connectives
	"what", "whats", "which", "who", "whom", "whose", "how", "why", "when", "where",
	"and", "or", "but", "if", "so", "then", "also", "as", "because", "while",
	// prepositions (direction markers are listed again in directionWords)
	"of", "in", "on", "at", "by", "for", "with", "about", "to", "into", "from",
	"up", "down", "out", "over", "under", "than", "between", "through", "per",
	// politeness and fillers
	"please", "pls", "plz", "thanks", "thank", "thx", "hi", "hello", "hey",
	"kindly", "just", "there", "some", "any", "here", "tell", "know", "wondering",
	"want", "like", "need", "help", "give", "show", "actually", "basically",
	"honestly", "really",
)

// infinitiveCues are words after which "to" starts an infinitive ("how to
// center a div", "want to learn"), not a direction.
var infinitiveCues = setOf(
	"how", "want", "wants", "need", "needs", "like", "try", "trying", "able",
	"going", "have", "has", "had", "ought", "used", "what", "where", "when",
)

// directionWords mark which way a relation goes ("5 km to miles", "from
// English", "harder than Spanish"). They are stopwords for the bag-of-words
// blocks but stay in the token sequence that the order block reads, so
// swapping the two sides of one of them changes the vector. The value is the
// canonical form.
var directionWords = map[string]string{
	"to": "to", "into": "to", "from": "from", "than": "than",
	"vs": "vs", "versus": "vs", "before": "before", "after": "after",
	"per": "per",
}

// negations flip the meaning of a question; they are guard tokens, so texts
// that differ in them never match.
var negations = setOf(
	"not", "no", "never", "without", "none", "nothing", "nobody", "nor",
	"neither", "nowhere", "cannot",
)

// numberWords maps spelled numbers to digits, so "five km" and "5 km" get the
// same guard token. "one" is left out: it is mostly a pronoun ("which one").
var numberWords = map[string]string{
	"zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
	"seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11",
	"twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
	"sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
	"twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
	"seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100",
	"thousand": "1000", "million": "1000000", "billion": "1000000000",
}

// contractionStems maps the stem left after cutting "n't" to the full word:
// "can't" → "can not", "won't" → "will not".
var contractionStems = map[string]string{
	"ca": "can", "wo": "will", "sha": "shall", "ai": "is",
}

func setOf(words ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(words))
	for _, w := range words {
		m[w] = struct{}{}
	}
	return m
}
