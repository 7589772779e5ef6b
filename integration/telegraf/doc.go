// Package telegraf holds a test with a real client of Burrow's HTTP API v3:
// Telegraf's inputs.burrow plugin, used as a library, gathers from a running
// `evaluator serve`, and its points must equal lagwatch's own verdicts, lags
// and offsets.
//
// It is a module of its own so that Telegraf's large dependency graph stays
// out of the main go.mod; it builds the evaluator in the main module, with
// the main module's dependency versions, so the program tested is the one
// shipped. Like the main module's tests it needs the real Elasticsearch
// that scripts/testenv starts, fails when it is unreachable, and is skipped
// under -short.
package telegraf
