# Build and test Kappa. `make build` leaves every binary in bin/.
GO ?= go
BINS := kappa-runtime kappa-dev kafka-source tweet-extractor mysql-sink

.PHONY: build test test-short demo proto vet fmt clean

build:
	@mkdir -p bin
	$(GO) build -o bin/kappa-runtime ./runtime
	$(GO) build -o bin/kappa-dev ./cmd/kappa-dev
	$(GO) build -o bin/kafka-source ./plugins/kafka-source
	$(GO) build -o bin/tweet-extractor ./plugins/tweet-extractor
	$(GO) build -o bin/mysql-sink ./plugins/mysql-sink

# The whole suite: unit, integration (kfake in-process, MariaDB on
# 127.0.0.1:3306, kcat) and end to end (real processes). scripts/test
# prepares what it needs first.
test:
	./scripts/test

# Unit tests only; no server needed.
test-short:
	$(GO) test -short ./...

demo: build
	./scripts/demo

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
