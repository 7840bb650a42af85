# drsctl — `make demo` runs the main job end to end; `make test` runs every test.
GO      ?= go
BIN     := bin
PKGS    := ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build test unit soak stress fuzz check demo demo-postgres bench bench-smb clean testenv-up testenv-down

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/drsctl ./cmd/drsctl
	$(GO) build -o $(BIN)/sqlsim ./cmd/sqlsim

# Every test: starts the real test servers (smbd, Azurite, an S3 server) on
# loopback, runs the whole suite with the race detector, stops the servers.
test:
	./scripts/test.sh

# Unit tests only, no servers (fast inner loop; integration tests skip).
unit:
	$(GO) test -race -count=1 $(PKGS)

# The scenario suite at length: 10,000 random operator-world histories
# (about an hour on 2 cores). SOAK_FIRST picks the first seed, to cover new
# ground: make soak SOAK_FIRST=20001
SOAK_HISTORIES ?= 10000
SOAK_FIRST     ?= 1
soak:
	$(GO) test -count=1 -timeout 12h ./internal/scenario -scenario.histories=$(SOAK_HISTORIES) -scenario.first=$(SOAK_FIRST)

# The crash harness at length: STRESS_TRIALS applies SIGKILLed at random
# moments against the simulators and real storage servers, each run until
# it converges and checked (see internal/stress/doc.go), plus every
# failpoint. A failing trial prints its seed: make stress STRESS_FIRST=<seed>
# STRESS_TRIALS=1 replays it.
STRESS_TRIALS ?= 100
STRESS_FIRST  ?= 1
stress:
	./scripts/testenv.sh up
	set -a; . ./.testenv/env; set +a; \
	$(GO) test -count=1 -timeout 60m -v ./internal/stress -run 'TestCrash|TestFailpoints' \
		-stress.trials=$(STRESS_TRIALS) -stress.first=$(STRESS_FIRST)

# Every fuzz target for FUZZTIME each (make test runs them for 3s).
FUZZTIME ?= 2m
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run go mod tidy"; $(GO) mod tidy -diff; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

demo:
	./scripts/demo.sh

# The PostgreSQL engine end to end: a throwaway primary and the hot standby
# drsctl builds from it (needs PostgreSQL's server binaries; as root it
# installs the Debian package postgresql when missing).
demo-postgres:
	./examples/postgres/demo.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/plan/

# SMB shipping paired against smbclient (see bench/README.md).
bench-smb:
	./bench/smb.sh

testenv-up:
	./scripts/testenv.sh up

testenv-down:
	./scripts/testenv.sh down

clean:
	rm -rf $(BIN)
