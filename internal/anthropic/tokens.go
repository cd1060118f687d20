package anthropic

import (
	"encoding/json"

	"github.com/switchboard-ai/switchboard"
)

// The constants of EstimateInputTokens.
const (
	// BytesPerToken is the average size of a token of English text or code.
	BytesPerToken = 4
	// MessageOverheadTokens is added per message for its role and framing.
	MessageOverheadTokens = 4
	// RequestOverheadTokens is added once per request.
	RequestOverheadTokens = 3
	// ImageTokens is counted per image: Anthropic's cost of an image at the
	// largest size it processes unscaled (about 1.15 megapixels ≈ 1,600
	// tokens), since the gateway does not decode images to measure them.
	ImageTokens = 1600
)

// EstimateInputTokens estimates the input tokens of a chat request without
// a tokenizer: one token per BytesPerToken bytes of text (message text, tool
// call names and arguments, tool names, descriptions and schemas), plus
// MessageOverheadTokens per message and RequestOverheadTokens, plus
// ImageTokens per image. It is what count_tokens answers when the provider
// serving the model cannot count; expect it within about 20% of a real
// tokenizer for English prose, less accurate for other languages.
func EstimateInputTokens(req *switchboard.ChatRequest) int {
	bytes, images := 0, 0
	for i := range req.Messages {
		m := &req.Messages[i]
		bytes += len(m.Text())
		images += countImages(m.Content)
		for _, tc := range m.ToolCalls {
			bytes += len(tc.Function.Name) + len(tc.Function.Arguments)
		}
	}
	for _, t := range req.Tools {
		bytes += len(t.Function.Name) + len(t.Function.Description) + len(t.Function.Parameters)
	}
	return RequestOverheadTokens + len(req.Messages)*MessageOverheadTokens +
		(bytes+BytesPerToken-1)/BytesPerToken + images*ImageTokens
}

// countImages counts the image parts of an array content.
func countImages(content json.RawMessage) int {
	if len(content) == 0 || content[0] != '[' {
		return 0
	}
	var parts []struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(content, &parts) != nil {
		return 0
	}
	n := 0
	for _, p := range parts {
		if p.Type == "image_url" {
			n++
		}
	}
	return n
}
