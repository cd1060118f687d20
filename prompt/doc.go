// Package prompt is the prompt registry: prompts defined in YAML files in a
// folder (GitOps) and through the admin API, kept as immutable,
// content-addressed versions in a switchboard.PromptStore, with labels
// (production, staging, any name) that move by promotion and rollback and
// keep their history; Jinja2 templates (github.com/nikolalohinski/gonja/v2)
// rendered into chat messages with typed, validated variables; and prompt
// tests run against any model with table and JUnit XML reports.
//
// A Registry serves everything from an in-memory snapshot, so resolving and
// rendering a prompt on the request path never waits on the database. The
// snapshot is rebuilt when the folder's files change (a bad file is
// rejected with file:line and the last good set stays live) or when the
// store's PromptsVersion changes (another replica promoted a label).
//
// Errors meant for clients are *switchboard.Error values: invalid_request
// naming the parameter at fault (a *VarError for a variable, param
// "prompt.variables.<name>"), not_found for an unknown prompt, version or
// label (wrapping switchboard.ErrNotFound), conflict for a version string
// taken by other content or nothing to roll back to.
package prompt
