package switchboard

// ExperimentStore persists experiments and feedback (issue 6). Its methods
// are added with the experiment engine.
type ExperimentStore interface{}
