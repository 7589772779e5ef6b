package esindex

import (
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8/esutil"
)

func TestBulkDecoder(t *testing.T) {
	type item struct {
		op     string
		status int
		err    string
	}
	for _, tc := range []struct {
		name, body string
		want       []item
		errors     bool
		fails      bool
	}{
		{name: "all created: the scan", body: `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`,
			want: []item{{"create", 201, ""}, {"create", 201, ""}}},
		{name: "one item", body: `{"errors":false,"items":[{"create":{"status":201}}]}` + "\n", want: []item{{"create", 201, ""}}},
		{name: "no items", body: `{"errors":false,"items":[]}`, want: []item{}},
		{name: "a conflict: encoding/json", errors: true,
			body: `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"x"}}}]}`,
			want: []item{{"create", 201, ""}, {"create", 409, "version_conflict_engine_exception"}}},
		{name: "another shape: encoding/json", body: `{"errors":false,"items":[{"create":{"status":201,"_id":"a"}}]}`,
			want: []item{{"create", 201, ""}}},
		{name: "an index action is not taken for a create", body: `{"errors":false,"items":[{"index":{"status":201}}]}`,
			want: []item{{"index", 201, ""}}},
		{name: "separator missing: encoding/json refuses it", body: `{"errors":false,"items":[{"create":{"status":201}}{"create":{"status":201}}]}`, fails: true},
		{name: "torn: refused", body: `{"errors":false,"items":[{"create":{"status":201}},{"crea`, fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var blk esutil.BulkIndexerResponse
			err := bulkDecoder{}.UnmarshalFromReader(strings.NewReader(tc.body), &blk)
			if tc.fails {
				if err == nil {
					t.Fatalf("no error; items %v", blk.Items)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if blk.HasErrors != tc.errors || len(blk.Items) != len(tc.want) {
				t.Fatalf("errors %v, %d items; want %v, %d", blk.HasErrors, len(blk.Items), tc.errors, len(tc.want))
			}
			for i, m := range blk.Items {
				v, ok := m[tc.want[i].op]
				if len(m) != 1 || !ok || v.Status != tc.want[i].status || v.Error.Type != tc.want[i].err {
					t.Errorf("item %d: %+v, want %+v", i, m, tc.want[i])
				}
			}
		})
	}
}
