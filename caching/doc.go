// Package caching is the response cache: a switchboard.Provider that sits in
// front of the router, answers repeated requests from a tiered byte cache
// (memory → disk → Redis), stores fresh answers under the deployment that
// actually produced them, collapses concurrent identical misses into one
// upstream call, replays cached answers to streaming and non-streaming
// clients alike, and caches embeddings per input item.
//
// What is in the key, and what is not, is documented in docs/caching.md and
// in key.go.
package caching
