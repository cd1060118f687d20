package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/budget"
	"github.com/switchboard-ai/switchboard/limits"
	"github.com/switchboard-ai/switchboard/quota"
	"github.com/switchboard-ai/switchboard/tenancy"
)

// buildTenancy loads tenants and keys, and builds the rate limiter, the
// budget ledger and the quota in front of the router. base lives as long as
// the server: the directory polls the store under it.
func (m *Main) buildTenancy(ctx, base context.Context) error {
	cfg := m.Config
	dir, err := tenancy.NewDirectory(ctx, m.store, configTenants(cfg), m.Log)
	if err != nil {
		return fmt.Errorf("load tenants and keys: %w", err)
	}
	m.dir, m.tenants = dir, tenancy.NewService(m.store, dir)
	go dir.Run(base, 500*time.Millisecond)

	var lim limits.Limiter = limits.NewMemory()
	var ledger *budget.Ledger
	bopts := budget.Options{Location: cfg.Budgets.Location(), Seed: m.seedSpend, Log: m.Log}
	for _, n := range cfg.Budgets.Notifiers {
		bopts.Notifiers = append(bopts.Notifiers, countingNotifier{m, newNotifier(m, n.Type, n.URL.Reveal(), revealAll(n.Headers))})
	}
	if u := cfg.Redis.URL.Reveal(); u != "" {
		o, err := goredis.ParseURL(u)
		if err != nil {
			return fmt.Errorf("redis.url: %v", redactErr(err, u))
		}
		m.redis = goredis.NewClient(o)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = m.redis.Ping(pctx).Err()
		cancel()
		if err != nil {
			return fmt.Errorf("redis (redis.url): %v", redactErr(err, u))
		}
		lim = limits.NewRedis(m.redis, cfg.Redis.Prefix+":rl")
		ledger = budget.NewRedis(m.redis, cfg.Redis.Prefix+":budget", bopts)
	} else {
		ledger = budget.NewMemory(bopts)
	}
	m.ledger = ledger
	models := map[string]switchboard.Limits{}
	countFallbacks := map[string]bool{}
	for _, mc := range cfg.Models {
		if !mc.Limits.IsZero() {
			models[mc.Name] = mc.Limits
			if mc.CountFallbacks {
				countFallbacks[mc.Name] = true
			}
		}
	}
	ups := map[string]quota.Upstream{}
	for _, pc := range cfg.Providers {
		if !pc.Limits.IsZero() {
			ups[pc.Name] = quota.Upstream{Limits: pc.Limits, Queue: pc.Queue}
		}
	}
	w := cfg.Limits.TokenWeights
	m.quota = quota.New(quota.Options{
		Limiter: lim, Ledger: ledger, Prices: m.prices,
		Candidates: func(model string) ([]quota.Target, error) {
			ts, err := m.engine.Candidates(model)
			out := make([]quota.Target, len(ts))
			for i, t := range ts {
				out[i] = quota.Target{Provider: t.Provider, Model: t.Model}
			}
			return out, err
		},
		Global: cfg.Limits.Global, GlobalBudget: cfg.Budgets.Global, Models: models, CountFallbacks: countFallbacks, Upstreams: ups,
		Weights:        quota.Weights{Input: w.Input, Cached: w.Cached, Output: w.Output},
		RejectUnpriced: cfg.Pricing.RejectUnpriced, Unpriced: m.unpriced,
		Budgets: m.budgetScopes, Metrics: m.metrics, Log: m.Log,
	})
	m.engine.SetGate(m.quota)
	return nil
}

// budgetScopes lists the budgets of tenants and keys (of one, with kind and id).
func (m *Main) budgetScopes(kind, id string) []budget.Scope {
	var out []budget.Scope
	if kind == "" || kind == budget.KindTenant {
		for _, t := range m.dir.Tenants() {
			if !t.Budget.IsZero() && (id == "" || t.Name == id) {
				out = append(out, budget.Scope{Kind: budget.KindTenant, ID: t.Name, Budget: t.Budget})
			}
		}
	}
	if kind == "" || kind == budget.KindKey {
		for _, k := range m.dir.Keys() {
			if !k.Budget.IsZero() && (id == "" || k.ID == id) {
				out = append(out, budget.Scope{Kind: budget.KindKey, ID: k.ID, Budget: k.Budget})
			}
		}
	}
	return out
}

// seedSpend sums the recorded cost of a budget's scope since a window
// began: how spend survives a restart on a single node (Redis keeps it
// across replicas).
func (m *Main) seedSpend(ctx context.Context, s budget.Scope, since time.Time) (float64, error) {
	f := switchboard.InferenceFilter{Since: since}
	switch s.Kind {
	case budget.KindTenant:
		f.TenantID = s.ID
	case budget.KindKey:
		f.KeyID = s.ID
	}
	rows, err := m.store.SumInferences(ctx, f, nil)
	if err != nil {
		return 0, err
	}
	var usd float64
	for _, r := range rows {
		usd += r.CostUSD
	}
	return usd, nil
}

func newNotifier(m *Main, typ, url string, headers map[string]string) budget.Notifier {
	client := &http.Client{Timeout: 10 * time.Second}
	switch typ {
	case "webhook":
		return budget.NewWebhook(url, headers, client)
	case "slack":
		return budget.NewSlack(url, client)
	}
	return budget.NewLogNotifier(m.Log)
}

// countingNotifier counts alerts in /metrics.
type countingNotifier struct {
	m *Main
	n budget.Notifier
}

func (c countingNotifier) Notify(ctx context.Context, a budget.Alert) error {
	err := c.n.Notify(ctx, a)
	result := "sent"
	if err != nil {
		result = "failed"
	}
	if c.m.metrics != nil {
		c.m.metrics.BudgetAlerts.WithLabelValues(result).Inc()
	}
	return err
}

// redactErr keeps a URL's password out of an error message.
func redactErr(err error, url string) string {
	msg := err.Error()
	if i := strings.Index(url, "://"); i >= 0 {
		if j := strings.LastIndexByte(url, '@'); j > i {
			msg = strings.ReplaceAll(msg, url[i+3:j], "REDACTED")
		}
	}
	return msg
}
