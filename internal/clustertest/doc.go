// Package clustertest runs lagwatch end to end against a real Kafka
// cluster of three brokers (`scripts/testenv up cluster`) and the real
// Elasticsearch while brokers fail: the collector program as it is shipped,
// the evaluator in-process over the same history, and Kafka's own Java
// clients as the producer and the consumer groups.
//
// It holds tests only. They live apart from cmd/collector and
// cmd/evaluator because they judge the two programs together, and a broker
// killed here must not disturb those packages' tests, which run against the
// single test broker.
package clustertest
