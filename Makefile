# Whirl: make test is what the README and .ci/run call.
SHELL := /bin/bash
GO    ?= go
PKGS  ?= ./...

.PHONY: help deps test check fmt vet lint race bench build e2e-scaleout

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

deps: ## install what the tests need where it is missing (bubblewrap, redis, the runtime libraries)
	@./scripts/deps.sh

build: ## build bin/whirl (GET /api/v1 answers the build date as "build")
	$(GO) build -ldflags "-X github.com/whirlfaas/whirl/internal/controller.buildDate=$$(date -u +%Y-%m-%dT%H:%M:%SZ)" -o bin/whirl ./cmd/whirl

test: deps ## install what is missing, then run every test
	$(GO) test -count=1 -timeout 20m $(PKGS)

e2e-scaleout: deps build ## scale-out failures on network namespaces: kill -9, partition, NATS restart (root)
	WHIRL_E2E_BIN=$(CURDIR)/bin/whirl $(GO) test -tags e2e -count=1 -timeout 10m -v -run '^TestE2E' ./internal/app/ 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+e2e_)|THROUGHPUT|RECOVERY' ; test $${PIPESTATUS[0]} -eq 0

race: deps ## the tests under the race detector
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

vet: ## go vet
	$(GO) vet $(PKGS)

lint: ## staticcheck (CLI messages keep wsk's capitalised wording: ST1005 off)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -checks inherit,-ST1005 $(PKGS)

check: vet lint race ## vet, lint, then the tests with -race
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

bench: build ## the Go benchmarks and whirl bench
	$(GO) test -run '^$$' -bench . -benchtime 2s $(PKGS)
	./bin/whirl bench

.PHONY: e2e-kubernetes
e2e-kubernetes: ## Whirl on a real one-node Kubernetes in a network namespace (root; builds the cluster once into bin/kube)
	@./scripts/e2e-kubernetes.sh
