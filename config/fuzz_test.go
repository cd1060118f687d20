package config

import (
	"bytes"
	"testing"
)

// FuzzLoad loads arbitrary bytes as a config file. Load may reject them but
// must never panic, and whatever it accepts must print as YAML that loads
// again. Seeds are in testdata/fuzz/FuzzLoad; run with
//
//	go test -fuzz=FuzzLoad ./config/
func FuzzLoad(f *testing.F) {
	f.Add([]byte(exampleYAML))
	f.Add([]byte(pluginYAML))
	env := envOf(map[string]string{"OPENAI_API_KEY": "sk-fuzz", "HOST": "127.0.0.1"})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := mustWrite(t, dir, "fuzz.yaml", string(data))
		c, err := Load([]string{file}, []string{"log.content=true"}, env)
		if err != nil {
			return
		}
		_ = c.Validate(knownTypes)
		for _, p := range c.Providers {
			var m map[string]any
			_ = p.Decoder()(&m)
		}
		var b bytes.Buffer
		if err := c.Print(&b); err != nil {
			t.Fatalf("Print: %v", err)
		}
		again := mustWrite(t, dir, "printed.yaml", b.String())
		if _, err := Load([]string{again}, nil, env); err != nil {
			t.Fatalf("Load(Print(c)): %v\nprinted:\n%s", err, b.String())
		}
	})
}
