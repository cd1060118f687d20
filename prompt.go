package switchboard

// PromptStore persists prompt versions, labels and their history, and audit
// events (issue 6). Its methods are added with the prompt registry.
type PromptStore interface{}
