package esindex

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Data stream type and datasets, following Elastic's
// <type>-<dataset>-<namespace> naming scheme.
const (
	streamType      = "metrics"
	datasetOffsets  = "lagwatch.offsets"
	datasetGroups   = "lagwatch.groups"
	datasetStatus   = "lagwatch.status"
	datasetTicks    = "lagwatch.collector"
	maxNamespaceLen = 100 // bytes, Elastic's limit for a namespace
)

// Names are the data streams of one namespace. Each index template is named
// after its data stream and matches exactly that name.
type Names struct {
	Namespace string
	// Offsets holds one document per cluster, group, topic and partition per
	// snapshot: metrics-lagwatch.offsets-<namespace>.
	Offsets string
	// Groups holds one document per cluster and group per snapshot:
	// metrics-lagwatch.groups-<namespace>.
	Groups string
	// Ticks holds one document per cluster per collector tick: how the tick
	// went (the collector health dashboard): metrics-lagwatch.collector-<namespace>.
	Ticks string
	// Status holds the evaluator's verdicts, one document per cluster and
	// group per evaluation: metrics-lagwatch.status-<namespace>.
	Status string
	// Incidents is a plain index (not a data stream: its documents are
	// updated in place) holding each group's alert incident:
	// lagwatch-incidents-<namespace>.
	Incidents string
	// IncidentLog is a plain index holding every incident, one document
	// each, updated until it closes (dashboard annotations, audits):
	// lagwatch-incident-log-<namespace>.
	IncidentLog string
}

// NewNames validates namespace by Elastic's rules for the namespace part of a
// data stream name and returns the data stream names that use it.
func NewNames(namespace string) (Names, error) {
	if err := validateNamespace(namespace); err != nil {
		return Names{}, fmt.Errorf("namespace %q: %w", namespace, err)
	}
	return Names{
		Namespace:   namespace,
		Offsets:     streamType + "-" + datasetOffsets + "-" + namespace,
		Groups:      streamType + "-" + datasetGroups + "-" + namespace,
		Status:      streamType + "-" + datasetStatus + "-" + namespace,
		Ticks:       streamType + "-" + datasetTicks + "-" + namespace,
		Incidents:   "lagwatch-incidents-" + namespace,
		IncidentLog: "lagwatch-incident-log-" + namespace,
	}, nil
}

// forbidden are the characters Elasticsearch refuses in index and data stream
// names (':' included, refused since 7.0), plus '-', which separates the
// parts of the name.
const forbidden = `\/*?"<>|,# :-`

func validateNamespace(ns string) error {
	switch {
	case ns == "":
		return errors.New("is empty")
	case len(ns) > maxNamespaceLen:
		return fmt.Errorf("is %d bytes long, the limit is %d", len(ns), maxNamespaceLen)
	case !utf8.ValidString(ns):
		return errors.New("is not valid UTF-8")
	}
	for _, r := range ns {
		switch {
		case r == '-':
			return errors.New(`contains "-", which separates the parts of a data stream name`)
		case r == ' ':
			return errors.New("contains a space")
		case strings.ContainsRune(forbidden, r):
			return fmt.Errorf("contains %q; none of %s may appear", r, `\ / * ? " < > | , # :`)
		case unicode.IsUpper(r):
			return errors.New("contains upper case letters; it must be lower case")
		case unicode.IsControl(r):
			return errors.New("contains a control character")
		}
	}
	return nil
}
