// Package kafkasource owns every Kafka request the collector sends: it
// dials the brokers (TLS from PEM files, SASL PLAIN and SCRAM), lists the
// groups of every type, describes them (DescribeGroups for classic groups,
// ConsumerGroupDescribe for KIP-848 consumer groups), fetches their
// committed offsets and the log offsets of their partitions, and counts the
// requests that took. What it reads comes out as a snapshot.Snapshot; the
// lag arithmetic over it lives in pkg/snapshot.
//
// Everything that speaks Kafka's wire protocol stays here, so that the
// packages downstream of a snapshot (pkg/esindex, pkg/evaluate,
// internal/notify) link no Kafka client: none of them may import this
// package. Data flows Kafka -> kafkasource -> snapshot -> esindex.
package kafkasource
