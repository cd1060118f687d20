// Package builtin imports every built-in plugin so that it registers itself.
// cmd/switchboard imports this package; a new backend adds one line here.
package builtin

import (
	_ "github.com/switchboard-ai/switchboard/disk"                 // cache.disk
	_ "github.com/switchboard-ai/switchboard/inmem"                // cache.memory
	_ "github.com/switchboard-ai/switchboard/postgres"             // store.postgres
	_ "github.com/switchboard-ai/switchboard/provider/anthropic"   // provider.anthropic
	_ "github.com/switchboard-ai/switchboard/provider/azure"       // provider.azure-openai
	_ "github.com/switchboard-ai/switchboard/provider/gemini"      // provider.gemini
	_ "github.com/switchboard-ai/switchboard/provider/huggingface" // provider.huggingface
	_ "github.com/switchboard-ai/switchboard/provider/mock"        // provider.mock
	_ "github.com/switchboard-ai/switchboard/provider/ollama"      // provider.ollama
	_ "github.com/switchboard-ai/switchboard/provider/openai"      // provider.openai, provider.openai-compatible
	_ "github.com/switchboard-ai/switchboard/redis"                // cache.redis
	_ "github.com/switchboard-ai/switchboard/sqlite"               // store.sqlite
)
