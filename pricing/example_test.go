package pricing_test

import (
	"fmt"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/pricing"
)

func ExampleTable_Cost() {
	u := switchboard.Usage{
		PromptTokens:        1000,
		CompletionTokens:    500,
		PromptTokensDetails: &switchboard.PromptTokensDetails{CachedTokens: 400},
	}
	// 600 uncached prompt tokens at $2.50/M, 400 cached at $1.25/M, 500
	// completion tokens at $10/M.
	usd, ok := pricing.Default().Cost("openai/gpt-4o-2024-08-06", u)
	fmt.Println(usd, ok)

	_, ok = pricing.Default().Cost("my-fine-tune", u)
	fmt.Println(ok)
	// Output:
	// 0.007 true
	// false
}

func ExampleTable_With() {
	tbl := pricing.Default().With(map[string]pricing.Price{
		"my-model": {Input: 1, Output: 2, CachedInput: 0.5},
	})
	usd, ok := tbl.MaxCost("my-model", 1000, 500)
	fmt.Println(usd, ok)
	// Output: 0.002 true
}
