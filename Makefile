# Build and test Kappa. `make build` leaves every binary in bin/.
GO ?= go

.PHONY: build test test-short chaos demo proto vet fmt clean bench

# The binaries are listed once, in internal/binaries/binaries.txt; each is
# named after its package's folder, as `go install ./...` names it too.
build:
	@mkdir -p bin
	$(GO) build -o bin/ $$(grep -v '^#' internal/binaries/binaries.txt)

# The whole suite: unit, integration (kfake in-process, MariaDB on
# 127.0.0.1:3306 or KAPPA_TEST_MYSQL_DSN, kcat) and end to end (real
# processes). scripts/test prepares what it needs first.
test:
	./scripts/test

# The full chaos test (e2e/chaos_test.go) and the MariaDB restart test:
# 30+ kill -9 of the runtime, kills of every plugin and at the sink's
# commit boundary, a second runtime, MariaDB down before the first commit
# and restarted mid-run; and the same against postgres-sink, with a
# PostgreSQL restart (e2e/postgres_test.go); and kills of a reprocess
# after each cutover step, into MariaDB and PostgreSQL (e2e/generations_test.go,
# e2e/generations_postgres_test.go), and the cutover under a 30 s reader
# into PostgreSQL; and the consumer-group test (e2e/group_test.go) with
# more records and a MariaDB restart, on both group protocols. It restarts
# MariaDB and PostgreSQL, so it runs alone, never beside `make test`.
# Replay a run with KAPPA_CHAOS_SEED=<seed printed by the run>.
chaos:
	dsn=$$(./scripts/services) && pgdsn=$$(./scripts/postgres-dsn) && KAPPA_TEST_MYSQL_DSN="$$dsn" KAPPA_TEST_POSTGRES_DSN="$$pgdsn" KAPPA_CHAOS_FULL=1 $(GO) test -count=1 -v -timeout 40m -run 'TestChaos|TestMariaDBRestart|TestPostgresChaos|TestReprocessResumesAfterKill|TestReprocessPostgresResumesAfterKill|TestReprocessPostgresWithLongReader|TestGroupRuntimesShareATopicExactly' ./e2e

# Unit tests only; no server needed.
test-short:
	$(GO) test -short ./...

demo: build
	./scripts/demo

# Throughput, memory, commit latency and freshness on this machine: a
# broker preloaded with 1M tweets, read in-process (the limit) and by the
# full pipeline into MariaDB and into PostgreSQL. Prints the figures and writes
# bench/results/UTC-TIME.json. See BENCHMARKS.md; flags: go run ./cmd/kappa-bench -h
bench: build
	dsn=$$(./scripts/services) && pgdsn=$$(./scripts/postgres-dsn) && KAPPA_TEST_MYSQL_DSN="$$dsn" KAPPA_TEST_POSTGRES_DSN="$$pgdsn" $(GO) run ./cmd/kappa-bench $(BENCHFLAGS)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }

# Regenerate the gRPC code from proto/. Needs protoc (apt-get install
# protobuf-compiler) and the two generators (see README).
proto:
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" protoc -I proto \
		--go_out=. --go_opt=module=github.com/kappa-stream/kappa \
		--go-grpc_out=. --go-grpc_opt=module=github.com/kappa-stream/kappa \
		proto/kappa/v1/plugin.proto

clean:
	rm -rf bin .demo
