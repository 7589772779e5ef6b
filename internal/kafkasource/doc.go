// Package kafkasource owns every Kafka request the collector sends: it
// dials the brokers (TLS from PEM files, SASL PLAIN and SCRAM), lists the
// groups of every type, describes them (DescribeGroups for classic groups,
// ConsumerGroupDescribe for KIP-848 consumer groups), fetches their
// committed offsets and the log offsets of their partitions, and counts the
// requests that took. What it reads comes out as a snapshot.Snapshot; the
// lag arithmetic over it lives in pkg/snapshot.
//
// A failure costs its own items only: a broker that cannot list its groups,
// a group whose coordinator does not answer, a partition whose leader does
// not. What a second attempt may overcome is asked again within the tick,
// after looking the coordinator or the leader up anew, every request
// within a timeout of its own (tick.go); the groups of a coordinator that
// does not answer are carried from the previous tick as unknown, never
// dropped (listing.go).
//
// Everything that speaks Kafka's wire protocol stays here, so that the
// packages downstream of a snapshot (pkg/esindex, pkg/evaluate,
// internal/notify) link no Kafka client: none of them may import this
// package. Data flows Kafka -> kafkasource -> snapshot -> esindex.
package kafkasource
