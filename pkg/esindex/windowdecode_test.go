package esindex

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// jsonPage is a window page's shape for encoding/json, absent and null
// fields as nil.
type jsonPage struct {
	Took         int64  `json:"took"`
	PitID        string `json:"pit_id"`
	Aggregations struct {
		W struct {
			AfterKey json.RawMessage `json:"after_key"`
			Buckets  []struct {
				Key struct {
					Group, Topic                string
					Partition                   int32
					Time                        int64
					Offset, Lag, Newest, Oldest *int64
					State, Member, Client, Host *string
				} `json:"key"`
				DocCount int `json:"doc_count"`
			} `json:"buckets"`
		} `json:"w"`
	} `json:"aggregations"`
}

// referencePage decodes b with encoding/json: what decodeWindowPage must
// agree with.
func referencePage(t *testing.T, b []byte) windowPage {
	t.Helper()
	var r jsonPage
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	var p windowPage
	p.Took, p.PitID = r.Took, r.PitID
	if ak := r.Aggregations.W.AfterKey; len(ak) > 0 && string(ak) != "null" {
		p.Aggregations.W.AfterKey = ak
	}
	num := func(v *int64) (int64, bool) {
		if v == nil {
			return 0, false
		}
		return *v, true
	}
	str := func(v *string) string {
		if v == nil {
			return ""
		}
		return *v
	}
	for _, b := range r.Aggregations.W.Buckets {
		k := b.Key
		d := windowDoc{Group: k.Group, Topic: k.Topic, Partition: k.Partition, Time: k.Time,
			State: str(k.State), Member: str(k.Member), Client: str(k.Client), Host: str(k.Host)}
		d.Offset, d.HasOffset = num(k.Offset)
		d.Lag, d.HasLag = num(k.Lag)
		d.Newest, d.HasNewest = num(k.Newest)
		d.Oldest, d.HasOldest = num(k.Oldest)
		p.Aggregations.W.Buckets = append(p.Aggregations.W.Buckets, windowBucket{Key: d, DocCount: b.DocCount})
	}
	return p
}

func TestDecodeWindowPage(t *testing.T) {
	bucket := func(group string, i int, nulls bool) string {
		if nulls {
			return fmt.Sprintf(`{"key":{"group":%q,"topic":"t","partition":%d,"time":1767225000000,"offset":null,"lag":null,"newest":null,"oldest":null,"state":null,"member":null,"client":null,"host":null},"doc_count":1}`, group, i)
		}
		return fmt.Sprintf(`{"key":{"group":%q,"topic":"orders","partition":%d,"time":%d,"offset":%d,"lag":-0,"newest":9007199254740993,"oldest":0,"state":"Stable","member":"m-1","client":"c","host":"/10.0.0.1"},"doc_count":1}`,
			group, i, 1767225000000+int64(i)*30000, i*7)
	}
	page := func(after string, buckets ...string) string {
		return `{"took":12,"timed_out":false,"pit_id":"p1==","_shards":{"total":1,"successful":1,"skipped":0,"failed":0},` +
			`"hits":{"max_score":null,"hits":[]},"aggregations":{"w":{` + after + `"buckets":[` + strings.Join(buckets, ",") + `]}}}`
	}
	cases := []struct {
		name, body string
	}{
		{"a page with an after key", page(`"after_key":{"group":"g","time":1,"offset":null},`, bucket("g", 0, false), bucket("g", 1, false))},
		{"the last page: no after key", page("", bucket("g", 0, false))},
		{"missing buckets: nulls", page(`"after_key":null,`, bucket("g", 2, true))},
		{"escaped group ids", page("", bucket(`quote"and\back`, 0, false), bucket("caf\u00e9 \t tab", 1, true))},
		{"no buckets", page("")},
		{"unknown fields anywhere", `{"took":3,"extra":{"a":[1,2.5e3,true,false,null,{"b":"c"}]},"aggregations":{"other":{"x":1},"w":{"meta":{},` +
			`"buckets":[{"key":{"group":"g","topic":"t","partition":1,"time":5,"new_field":[1]},"doc_count":2,"more":"x"}]}}}`},
		{"white space", " {\n \"took\" : 1 ,\"aggregations\":{ \"w\" : { \"buckets\" : [ ] } } }\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeWindowPage([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if want := referencePage(t, []byte(tc.body)); !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n%+v\nencoding/json\n%+v", got, want)
			}
		})
	}
	for _, tc := range []struct{ name, body string }{
		{"torn", page("", bucket("g", 0, false))[:150]},
		{"data after the response", page("") + "{}"},
		{"a fraction for an offset", page("", strings.Replace(bucket("g", 0, false), `"offset":0`, `"offset":1.5`, 1))},
		{"a string for a partition", page("", strings.Replace(bucket("g", 0, false), `"partition":0`, `"partition":"0"`, 1))},
		{"a missing comma", `{"took":1 "pit_id":"x"}`},
		{"not JSON", `<html>`},
		{"a control character in a string", "{\"pit_id\":\"a\nb\"}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := decodeWindowPage([]byte(tc.body)); err == nil {
				t.Errorf("no error; decoded %+v", p)
			}
		})
	}
}

// BenchmarkDecodeWindowPage decodes a page of 5,000 buckets, the evaluator's
// default page, against encoding/json's decoding of the same.
func BenchmarkDecodeWindowPage(b *testing.B) {
	var buckets []string
	for i := range 5000 {
		buckets = append(buckets, fmt.Sprintf(`{"key":{"group":"group-%04d","topic":"topic-%d","partition":%d,"time":%d,"offset":%d,"lag":%d,"newest":%d,"oldest":0,"state":"Stable","member":"consumer-1-abc","client":"consumer-1","host":"/10.0.0.1"},"doc_count":1}`,
			i/275, i%2, i%25, 1767225000000+int64(i%11)*30000, 1000+i, i%20, 1020+i))
	}
	body := []byte(`{"took":40,"timed_out":false,"aggregations":{"w":{"after_key":{"group":"x"},"buckets":[` + strings.Join(buckets, ",") + `]}}}`)
	b.Run("decodeWindowPage", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeWindowPage(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		var v jsonPage
		for b.Loop() {
			if err := json.Unmarshal(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
