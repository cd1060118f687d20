package config

import (
	"fmt"
	"io"
	"net/url"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// Print writes the effective configuration as YAML that Load accepts again:
// every section with its defaults filled in, and providers and models as
// mappings with their plugin-specific keys. Secrets are masked as "REDACTED"
// (an empty one stays empty): every Secret, the values of plugin keys whose
// name contains key, secret, token, password, passwd, authorization or
// credential (case-insensitive), and passwords inside URLs and DSNs.
// Comments of the source files are not printed.
func (c *Config) Print(w io.Writer) error {
	tracing := c.Tracing
	tracing.Endpoint = redactString(tracing.Endpoint)

	root := mapping()
	for _, s := range []struct {
		key string
		v   any
	}{{"server", c.Server}, {"storage", nil}, {"log", c.Log}, {"tracing", tracing}, {"recorder", c.Recorder}, {"cache", nil}} {
		if s.key == "cache" {
			n, err := encode(c.Cache)
			if err != nil {
				return fmt.Errorf("config: print cache: %w", err)
			}
			for _, t := range c.Cache.Tiers {
				tn := mapping()
				if t.node != nil && !isNull(t.node) {
					tn = masked(t.node, false)
				}
				addPair(n, t.Type, tn)
			}
			addPair(root, s.key, n)
			continue
		}
		if s.key == "storage" {
			addPair(root, s.key, c.Storage.printNode())
			continue
		}
		n, err := encode(s.v)
		if err != nil {
			return fmt.Errorf("config: print %s: %w", s.key, err)
		}
		addPair(root, s.key, n)
	}

	providers := mapping()
	for _, p := range c.Providers {
		b := mapping()
		addPair(b, "type", str(p.Type))
		t, err := encode(p.Timeouts)
		if err != nil {
			return fmt.Errorf("config: print providers.%s.timeouts: %w", p.Name, err)
		}
		addPair(b, "timeouts", t)
		if !p.Limits.IsZero() {
			ln, err := encode(p.Limits)
			if err != nil {
				return fmt.Errorf("config: print providers.%s.limits: %w", p.Name, err)
			}
			addPair(b, "limits", ln)
		}
		if p.Queue > 0 {
			addPair(b, "queue", str(p.Queue.String()))
		}
		if p.Breaker != (Breaker{}) {
			bn, err := encode(p.Breaker)
			if err != nil {
				return fmt.Errorf("config: print providers.%s.breaker: %w", p.Name, err)
			}
			addPair(b, "breaker", bn)
		}
		b.Content = append(b.Content, masked(withoutKeys(p.node, providerKeys...), false).Content...)
		addPair(providers, p.Name, b)
	}
	for _, s := range []struct {
		key  string
		v    any
		show bool
	}{
		{"redis", c.Redis, c.Redis.URL != ""},
		{"limits", c.Limits, !c.Limits.Global.IsZero() || c.Limits.TokenWeights != (TokenWeights{1, 1, 1})},
		{"budgets", c.Budgets, !c.Budgets.Global.IsZero() || c.Budgets.Timezone != "" || len(c.Budgets.Notifiers) > 0},
		{"tenants", c.Tenants, len(c.Tenants) > 0},
		{"prompts", c.Prompts, c.Prompts != Default().Prompts},
		{"experiments", c.Experiments, c.Experiments.Interval != Default().Experiments.Interval ||
			c.Experiments.Refresh != Default().Experiments.Refresh || len(c.Experiments.Notifiers) > 0},
	} {
		if !s.show {
			continue
		}
		n, err := encode(s.v)
		if err != nil {
			return fmt.Errorf("config: print %s: %w", s.key, err)
		}
		addPair(root, s.key, n)
	}
	if len(c.Pricing.Models) > 0 || c.Pricing.RejectUnpriced {
		n, err := encode(c.Pricing)
		if err != nil {
			return fmt.Errorf("config: print pricing: %w", err)
		}
		addPair(root, "pricing", n)
	}
	addPair(root, "providers", providers)

	models := mapping()
	for _, m := range c.Models {
		b, err := encode(m)
		if err != nil {
			return fmt.Errorf("config: print models.%s: %w", m.Name, err)
		}
		addPair(models, m.Name, b)
	}
	addPair(root, "models", models)

	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("config: print: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("config: print: %w", err)
	}
	return nil
}

// printNode is the storage block as printed: driver, dsn, then the plugin's
// own keys, masked.
func (s *Storage) printNode() *yaml.Node {
	n := mapping()
	addPair(n, "driver", str(s.Driver))
	addPair(n, "dsn", str(redactString(s.DSN)))
	n.Content = append(n.Content, masked(withoutKeys(s.node, "driver", "dsn"), false).Content...)
	return n
}

// masked deep-copies n without comments or anchors, masking the values of
// sensitive keys (secret: n is one) and the passwords in URLs and DSNs.
func masked(n *yaml.Node, secret bool) *yaml.Node {
	c := &yaml.Node{Kind: n.Kind, Tag: n.Tag, Value: n.Value, Style: n.Style}
	switch n.Kind {
	case yaml.ScalarNode:
		switch {
		case isNull(n) || n.Value == "":
		case secret:
			return str(redacted)
		case n.ShortTag() == "!!str":
			c.Value = redactString(n.Value)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			c.Content = append(c.Content, masked(k, false),
				masked(n.Content[i+1], secret || k.Kind == yaml.ScalarNode && sensitiveKey(k.Value)))
		}
	default:
		for _, x := range n.Content {
			c.Content = append(c.Content, masked(x, secret))
		}
	}
	return c
}

// dsnPassword matches a password in a key=value DSN (password=… or
// password='…').
var dsnPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']+)`)

// redactString masks the password of a URL (scheme://user:pass@host) and of
// a key=value DSN.
func redactString(s string) string {
	s = redactURL(s)
	return dsnPassword.ReplaceAllString(s, "${1}"+redacted)
}

// redactURL masks the password in a URL's user info, if it has one.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	u.User = url.UserPassword(u.User.Username(), redacted)
	return u.String()
}

// encode turns v into a node with yaml.v3's encoder (Secret, ByteSize and
// time.Duration print as strings).
func encode(v any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return &n, nil
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func addPair(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, str(key), v)
}
