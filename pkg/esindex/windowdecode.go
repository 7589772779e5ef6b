package esindex

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// A window read decodes about 550,000 composite buckets for 50,000
// partitions, each a key of twelve fields; through encoding/json that was
// most of the evaluator's own CPU time, competing with Elasticsearch for the
// same cores. decodeWindowPage reads exactly the shape a composite
// aggregation answers with, in one pass without reflection, sharing the
// strings that repeat from bucket to bucket (group, topic, state, members)
// within a page. Anything it does not know it skips; anything malformed is
// an error.

// decodeWindowPage decodes a search response holding the "w" composite
// aggregation of a window read.
func decodeWindowPage(b []byte) (windowPage, error) {
	var p windowPage
	d := jsonScanner{b: b, interned: map[string]string{}}
	err := d.object(func(key []byte) error {
		switch string(key) {
		case "took":
			n, _, err := d.int()
			p.Took = n
			return err
		case "pit_id":
			s, err := d.str()
			p.PitID = s
			return err
		case "aggregations":
			return d.object(func(key []byte) error {
				if string(key) != "w" {
					return d.skip()
				}
				return d.object(func(key []byte) error {
					switch string(key) {
					case "after_key":
						start := d.i
						if err := d.skip(); err != nil {
							return err
						}
						if raw := d.b[start:d.i]; string(trimSpace(raw)) != "null" {
							p.Aggregations.W.AfterKey = json.RawMessage(trimSpace(raw))
						}
						return nil
					case "buckets":
						// One bucket per key: its size up front.
						if n := bytes.Count(d.b[d.i:], []byte(`"key":`)); n > 0 {
							p.Aggregations.W.Buckets = make([]windowBucket, 0, n)
						}
						return d.array(func() error {
							var bk windowBucket
							err := d.object(func(key []byte) error {
								switch string(key) {
								case "key":
									return d.windowKey(&bk.Key)
								case "doc_count":
									n, _, err := d.int()
									bk.DocCount = int(n)
									return err
								}
								return d.skip()
							})
							p.Aggregations.W.Buckets = append(p.Aggregations.W.Buckets, bk)
							return err
						})
					}
					return d.skip()
				})
			})
		}
		return d.skip()
	})
	if err == nil {
		d.ws()
		if d.i != len(d.b) {
			err = d.errorf("data after the response")
		}
	}
	if err != nil {
		return windowPage{}, fmt.Errorf("decode window page: %w", err)
	}
	return p, nil
}

// windowKey decodes a bucket's key: the fields of windowSources, each a
// number, a string or null (a missing bucket).
func (d *jsonScanner) windowKey(k *windowDoc) error {
	return d.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "group":
			k.Group, err = d.sameStr(&d.last.group)
		case "topic":
			k.Topic, err = d.sameStr(&d.last.topic)
		case "partition":
			var n int64
			n, _, err = d.int()
			k.Partition = int32(n)
		case "time":
			k.Time, _, err = d.int()
		case "offset":
			k.Offset, k.HasOffset, err = d.int()
		case "lag":
			k.Lag, k.HasLag, err = d.int()
		case "newest":
			k.Newest, k.HasNewest, err = d.int()
		case "oldest":
			k.Oldest, k.HasOldest, err = d.int()
		case "state":
			k.State, err = d.sameStr(&d.last.state)
		case "member":
			k.Member, err = d.sameStr(&d.last.member)
		case "client":
			k.Client, err = d.sameStr(&d.last.client)
		case "host":
			k.Host, err = d.sameStr(&d.last.host)
		default:
			err = d.skip()
		}
		return err
	})
}

// jsonScanner reads JSON from b at i.
type jsonScanner struct {
	b        []byte
	i        int
	interned map[string]string
	// last holds each string field's previous value: buckets come in
	// (group, topic, partition, time) order, so most repeat it.
	last struct{ group, topic, state, member, client, host string }
}

var errJSONEnd = errors.New("unexpected end of JSON")

func (d *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", d.i, fmt.Sprintf(format, args...))
}

func (d *jsonScanner) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte.
func (d *jsonScanner) peek() (byte, error) {
	d.ws()
	if d.i >= len(d.b) {
		return 0, errJSONEnd
	}
	return d.b[d.i], nil
}

func (d *jsonScanner) expect(c byte) error {
	got, err := d.peek()
	if err != nil {
		return err
	}
	if got != c {
		return d.errorf("%q where %q was expected", got, c)
	}
	d.i++
	return nil
}

// object reads an object, calling fn with each key, positioned at its
// value, which fn must consume.
func (d *jsonScanner) object(fn func(key []byte) error) error {
	return d.sequence('{', '}', func() error {
		key, err := d.rawStr()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		return fn(key)
	})
}

// array reads an array, calling fn positioned at each element.
func (d *jsonScanner) array(fn func() error) error {
	return d.sequence('[', ']', fn)
}

// sequence reads open, then items separated by commas (each read by item),
// then close.
func (d *jsonScanner) sequence(open, close byte, item func() error) error {
	if err := d.expect(open); err != nil {
		return err
	}
	if c, err := d.peek(); err != nil {
		return err
	} else if c == close {
		d.i++
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		c, err := d.peek()
		if err != nil {
			return err
		}
		switch c {
		case ',':
			d.i++
		case close:
			d.i++
			return nil
		default:
			return d.errorf("%q where ',' or %q was expected", c, close)
		}
	}
}

// rawStrEscaped reads a string and returns its bytes between the quotes,
// escapes and all; escaped is whether it has any.
func (d *jsonScanner) rawStrEscaped() (raw []byte, escaped bool, err error) {
	if err := d.expect('"'); err != nil {
		return nil, false, err
	}
	start := d.i
	end := bytes.IndexByte(d.b[start:], '"')
	if end < 0 {
		return nil, false, errJSONEnd
	}
	span := d.b[start : start+end]
	if bytes.IndexByte(span, '\\') >= 0 {
		// Escapes: the closing quote is the first one not escaped.
		escaped = true
		for d.i < len(d.b) {
			switch c := d.b[d.i]; {
			case c == '"':
				d.i++
				return d.b[start : d.i-1], true, nil
			case c == '\\':
				d.i += 2
			case c < 0x20:
				return nil, false, d.errorf("control character in a string")
			default:
				d.i++
			}
		}
		return nil, false, errJSONEnd
	}
	for _, c := range span {
		if c < 0x20 {
			return nil, false, d.errorf("control character in a string")
		}
	}
	d.i = start + end + 1
	return span, false, nil
}

func (d *jsonScanner) rawStr() ([]byte, error) {
	raw, escaped, err := d.rawStrEscaped()
	if err == nil && escaped {
		var s string
		if err := json.Unmarshal(d.b[d.i-len(raw)-2:d.i], &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	return raw, err
}

// str reads a string value.
func (d *jsonScanner) str() (string, error) {
	raw, err := d.rawStr()
	return string(raw), err
}

// internStr reads a string value or null (""), sharing equal strings.
func (d *jsonScanner) internStr() (string, error) {
	if ok, err := d.null(); ok || err != nil {
		return "", err
	}
	raw, err := d.rawStr()
	if err != nil {
		return "", err
	}
	if s, ok := d.interned[string(raw)]; ok {
		return s, nil
	}
	s := string(raw)
	d.interned[s] = s
	return s, nil
}

// sameStr is internStr, returning *last at once when the string equals it,
// and remembering the string in *last.
func (d *jsonScanner) sameStr(last *string) (string, error) {
	if c, err := d.peek(); err != nil || c != '"' {
		s, err := d.internStr()
		*last = s
		return s, err
	}
	start := d.i
	raw, escaped, err := d.rawStrEscaped()
	if err != nil {
		return "", err
	}
	if !escaped && string(raw) == *last && *last != "" {
		return *last, nil
	}
	d.i = start
	s, err := d.internStr()
	*last = s
	return s, err
}

// null consumes a null and reports whether there was one.
func (d *jsonScanner) null() (bool, error) {
	c, err := d.peek()
	if err != nil || c != 'n' {
		return false, err
	}
	if len(d.b)-d.i < 4 || string(d.b[d.i:d.i+4]) != "null" {
		return false, d.errorf("not a value")
	}
	d.i += 4
	return true, nil
}

// int reads an integer, or null (ok false).
func (d *jsonScanner) int() (n int64, ok bool, err error) {
	if null, err := d.null(); null || err != nil {
		return 0, false, err
	}
	start := d.i
	neg := d.i < len(d.b) && d.b[d.i] == '-'
	if neg {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E'):
		return 0, false, d.errorf("a number that is not an integer")
	case d.i == digits:
		return 0, false, d.errorf("not a number")
	case d.i-digits > 18: // might not fit: let strconv say
		n, err = strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
		if err != nil {
			return 0, false, d.errorf("%v", err)
		}
		return n, true, nil
	}
	for _, c := range d.b[digits:d.i] {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true, nil
}

// skip consumes any one value.
func (d *jsonScanner) skip() error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	switch {
	case c == '{':
		return d.object(func([]byte) error { return d.skip() })
	case c == '[':
		return d.array(d.skip)
	case c == '"':
		_, _, err := d.rawStrEscaped()
		return err
	case c == 'n':
		_, err := d.null()
		return err
	case c == 't' || c == 'f':
		for _, lit := range []string{"true", "false"} {
			if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
				d.i += len(lit)
				return nil
			}
		}
		return d.errorf("not a value")
	case c == '-' || c >= '0' && c <= '9':
		start := d.i
		for d.i < len(d.b) && (d.b[d.i] == '-' || d.b[d.i] == '+' || d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E' || d.b[d.i] >= '0' && d.b[d.i] <= '9') {
			d.i++
		}
		if _, err := strconv.ParseFloat(string(d.b[start:d.i]), 64); err != nil {
			return d.errorf("%v", err)
		}
		return nil
	}
	return d.errorf("%q starts no value", c)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
