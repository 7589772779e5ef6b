.PHONY: test unit up down build

# Every test, against a real Kafka broker and a real Elasticsearch that
# scripts/testenv fetches from Maven Central and starts on loopback.
test:
	scripts/test

# Unit tests alone: no servers needed.
unit:
	go test -short -count=1 ./...

up:
	@scripts/testenv up

down:
	@scripts/testenv down

build:
	go build -buildvcs=auto -o bin/ ./cmd/collector ./cmd/evaluator
