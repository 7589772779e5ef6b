package esindex

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync/atomic"
)

// bulkItem is one item of a bulk response, filtered by filter_path to its
// status and error.
type bulkItem struct {
	Status int `json:"status"`
	Error  struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
		Cause  struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"caused_by"`
	} `json:"error"`
}

// Nearly every answer to the writer's requests, filtered by filter_path, is
// {"errors":false,"items":[{"create":{"status":201}},...]}: decodeBulk reads
// that one with a scan that only counts the items, instead of decoding a map
// per item (a fifth of the collector's CPU time in a tick). Anything else,
// errors included, goes to encoding/json.
var (
	fastHead = []byte(`{"errors":false,"items":[`)
	fastItem = []byte(`{"create":{"status":201}}`)
	fastTail = []byte(`]}`)
	// scanned counts the answers read by the scan, for the tests to see that
	// the real node's answers take it.
	scanned atomic.Int64
)

// decodeBulk reads a bulk response's items, in order, and its "took" (in
// milliseconds). Each item is the result of a create; an item of another
// action (index, update, delete) is refused as a status 0 item, which
// classify takes as temporary.
func decodeBulk(b []byte) (items []bulkItem, took int64, err error) {
	if n, took, ok := allCreated(b); ok {
		scanned.Add(1)
		items := make([]bulkItem, n)
		for i := range items {
			items[i].Status = 201
		}
		return items, took, nil
	}
	var res struct {
		Took  int64                 `json:"took"`
		Items []map[string]bulkItem `json:"items"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, 0, err
	}
	if res.Items == nil && !bytes.Contains(b, []byte(`"items"`)) {
		return nil, 0, errors.New("no items in the bulk response")
	}
	items = make([]bulkItem, len(res.Items))
	for i, m := range res.Items {
		items[i] = m["create"]
	}
	return items, res.Took, nil
}

// allCreated reports whether b is exactly the answer in which every item
// was created, with or without its "took" (Elasticsearch 8 and 9 put it
// after "errors"; before it is taken too), and how many items it has.
func allCreated(b []byte) (n int, took int64, ok bool) {
	b = bytes.TrimSpace(b)
	// cutTook reads `"took":N,` at the start of rest.
	cutTook := func(rest []byte) ([]byte, bool) {
		rest, found := bytes.CutPrefix(rest, []byte(`"took":`))
		if !found {
			return nil, false
		}
		i := 0
		for i < len(rest) && i < 18 && rest[i] >= '0' && rest[i] <= '9' {
			took = took*10 + int64(rest[i]-'0')
			i++
		}
		if i == 0 || i >= len(rest) || rest[i] != ',' {
			return nil, false
		}
		return rest[i+1:], true
	}
	const errorsFalse = `"errors":false,`
	switch {
	case bytes.HasPrefix(b, []byte(`{"took":`)):
		rest, ok := cutTook(b[1:])
		if !ok {
			return 0, 0, false
		}
		b = append([]byte{'{'}, rest...)
	case bytes.HasPrefix(b, []byte(`{`+errorsFalse+`"took":`)):
		rest, ok := cutTook(b[1+len(errorsFalse):])
		if !ok {
			return 0, 0, false
		}
		b = append([]byte(`{`+errorsFalse), rest...)
	}
	if !bytes.HasPrefix(b, fastHead) || !bytes.HasSuffix(b, fastTail) {
		return 0, 0, false
	}
	b = b[len(fastHead) : len(b)-len(fastTail)]
	for len(b) > 0 {
		if n > 0 {
			if b[0] != ',' {
				return 0, 0, false
			}
			b = b[1:]
		}
		if !bytes.HasPrefix(b, fastItem) {
			return 0, 0, false
		}
		b = b[len(fastItem):]
		n++
	}
	return n, took, true
}
