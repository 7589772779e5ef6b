// Package esindex owns everything lagwatch writes to Elasticsearch: the
// connection (NewClient), the data stream names (Names), their index
// templates and lifecycle (Install), the documents a snapshot becomes
// (offsets and group documents with deterministic ids), and the Writer that
// bulk-writes them exactly once, retrying what Elasticsearch asks to be
// retried and spooling to disk what cannot be written now.
//
// It may import pkg/snapshot and nothing downstream of Elasticsearch
// (evaluation, notification, the programs under cmd/). It does not log: it
// returns results and errors, and the caller logs once per tick.
package esindex
