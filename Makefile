# Switchboard — `make` lists the targets.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GO ?= go
FUZZ ?= FuzzDecodeChatRequest
FUZZTIME ?= 30s

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## Build a static binary into bin/switchboard
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/switchboard ./cmd/switchboard

run: ## Start the gateway with zero config (SQLite in ./data, mock provider, 127.0.0.1:8080)
	$(GO) run ./cmd/switchboard serve $(ARGS)

test: ## Run every test (PostgreSQL/Redis tests need SWITCHBOARD_TEST_POSTGRES_URL / SWITCHBOARD_TEST_REDIS_URL)
	$(GO) test -count=1 -timeout 15m ./...

race: ## Run every test with the race detector
	$(GO) test -race -count=1 -timeout 20m ./...

bench: ## Run the Go benchmarks (bench/README.md has the load tests)
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz: ## Fuzz one target: make fuzz FUZZ=FuzzDecodeChatRequest FUZZTIME=1m
	@pkg=$$(grep -rl --include='*_test.go' 'func $(FUZZ)(' . | head -1 | xargs dirname); \
	$(GO) test -run '^$$' -fuzz '^$(FUZZ)$$' -fuzztime $(FUZZTIME) $$pkg

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || (gofmt -l .; echo 'gofmt: the files above need formatting'; exit 1)
	$(GO) vet ./...

generate: ## Run go generate
	$(GO) generate ./...

.PHONY: help build run test race bench fuzz lint generate
