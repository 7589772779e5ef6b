// Package dashboards holds lagwatch's Grafana side: provisioning files for
// one Elasticsearch data source per data stream (provisioning/datasources),
// the dashboard provider (provisioning/dashboards) and the dashboards
// themselves (json/). See README.md.
//
// The package has no code. Its tests load every dashboard strictly with the
// Grafana Foundation SDK, check every field a query names against the real
// index mappings, and run every query, built as Grafana's Elasticsearch data
// source builds it, against history written by lagwatch's own writers.
package dashboards
