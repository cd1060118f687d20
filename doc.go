// Package switchboard is the vocabulary of the Switchboard LLM gateway: the
// OpenAI-shaped request and response types every part of the pipeline speaks,
// the small interfaces that backends implement (Provider, Store, …), the error
// type whose codes become HTTP statuses, and the plugin registries.
//
// It imports only the standard library. Backends live in packages named after
// the thing they adapt (provider/openai, sqlite, postgres) and register
// themselves in init; cmd/switchboard picks them with imports of builtin.
package switchboard
