// Package esindex owns everything lagwatch keeps in Elasticsearch: the
// connection and the data stream names of one namespace (Client, made by
// New), the index templates and their lifecycle, the documents (offsets,
// group, tick and status documents with deterministic ids, and incidents),
// and the requests that write and read them.
//
// It serves two audiences through one Client:
//
//   - The collector writes. Client.NewWriter returns a Writer that installs
//     the offsets, groups and ticks templates (in the background with
//     StartInstall and AwaitInstall, or at once with Install), spools
//     snapshots until they are in, and then bulk-writes every document
//     exactly once, retrying what Elasticsearch asks to be retried and
//     spooling to disk what cannot be written now.
//   - The evaluator reads and writes verdicts. Client.ReadWindows streams
//     each group's window as pkg/evaluate's own GroupWindow, WindowGroups lists
//     the groups that have one; KnownGroups and KnownClusters list what the
//     history knows; a StatusWriter
//     (Client.NewStatusWriter) stores statuses through the Writer's send
//     path; Client.Incidents is the notify.Store of alert incidents. Every
//     read of observations (windows, head history, topics) leaves out the
//     offsets documents that carry lagwatch.error (unknownObservation).
//
// Where things are: client.go (connection, Client), names.go, templates.go
// and templates/ (index templates, Install), docs.go (all document encoding
// and ids, spool records included), bulk.go (the one bulk send path:
// rounds, retries, per-document outcomes), writer.go (Writer: spooling,
// replay, template installation state), status.go (StatusDoc,
// StatusWriter), tick.go (TickDoc), window.go (ReadWindows, WindowGroups,
// KnownGroups, KnownClusters), incidents.go. The on-disk spool itself, which stores
// opaque records and knows nothing of Elasticsearch, is internal/spool.
//
// Data flows one way through it: pkg/snapshot in (write), pkg/evaluate out
// (read). It may import those two, and internal/notify for the incident
// it stores, and nothing else of lagwatch's: no Kafka client, nothing of the
// programs under cmd/. It does not
// log: it returns results and errors (and hands template Features to a
// callback), and the caller logs once per tick or run.
package esindex
