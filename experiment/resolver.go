package experiment

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/switchboard-ai/switchboard"
)

// Resolver finds the running experiment that splits a request's traffic,
// from a snapshot of the running experiments that Refresh reloads. Lookups
// never touch the database and allocate nothing.
type Resolver struct {
	store switchboard.ExperimentStore
	cur   atomic.Pointer[resolverIndex]
}

type resolverIndex struct {
	prompt map[[2]string]*switchboard.Experiment // (prompt, label)
	model  map[string]*switchboard.Experiment
}

// NewResolver returns a resolver over store, empty until Refresh.
func NewResolver(store switchboard.ExperimentStore) *Resolver {
	r := &Resolver{store: store}
	r.cur.Store(&resolverIndex{})
	return r
}

// Refresh reloads the running experiments.
func (r *Resolver) Refresh(ctx context.Context) error {
	exps, err := r.store.ListExperiments(ctx, switchboard.ExperimentFilter{Status: switchboard.ExperimentRunning})
	if err != nil {
		return fmt.Errorf("experiment: refresh resolver: %w", err)
	}
	idx := &resolverIndex{prompt: map[[2]string]*switchboard.Experiment{}, model: map[string]*switchboard.Experiment{}}
	for i := range exps {
		e := &exps[i]
		if e.Prompt != "" {
			idx.prompt[[2]string{e.Prompt, e.Label}] = e
		} else {
			idx.model[e.Model] = e
		}
	}
	r.cur.Store(idx)
	return nil
}

// ForPrompt returns the running experiment that splits label of prompt,
// or nil. The experiment is shared: do not modify it.
func (r *Resolver) ForPrompt(prompt, label string) *switchboard.Experiment {
	return r.cur.Load().prompt[[2]string{prompt, label}]
}

// ForModel returns the running experiment that splits the requested model
// name, or nil. The experiment is shared: do not modify it.
func (r *Resolver) ForModel(model string) *switchboard.Experiment {
	return r.cur.Load().model[model]
}
