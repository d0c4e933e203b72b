# Ward build, test and benchmark targets. See README.md.
GO        ?= go
BIN       ?= bin/ward
PKGS      := ./...
# Packages where goroutines live run under the race detector.
RACE_PKGS ?= $(shell $(GO) list ./... | grep -E '/(coordinator|node|netstack|e2e|web)(/|$$)' || true)

.PHONY: build test vet lint bench run fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/ward

vet:
	$(GO) vet $(PKGS)

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# test: vet, gofmt, unit and e2e tests; the race detector on concurrent packages;
# every benchmark once so none rots.
test: lint
	$(GO) test -count=1 -timeout 20m $(PKGS)
	@if [ -n "$(RACE_PKGS)" ]; then $(GO) test -race -count=1 -timeout 20m $(RACE_PKGS); fi
	$(GO) test -count=1 -run '^$$' -bench . -benchtime=1x $(PKGS) >/dev/null

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

fuzz:
	$(GO) test ./acl -run '^$$' -fuzz FuzzParse -fuzztime 30s
	$(GO) test ./acl -run '^$$' -fuzz FuzzCompileMatch -fuzztime 30s

run: build
	$(BIN) acl check examples/policy.hujson

clean:
	rm -rf bin
