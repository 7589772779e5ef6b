package esindex

import "testing"

func TestDecodeBulk(t *testing.T) {
	type item struct {
		status int
		err    string
	}
	for _, tc := range []struct {
		name, body string
		want       []item
		scan       bool
		fails      bool
		took       int64
	}{
		{name: "all created, took first: the scan", body: `{"took":37,"errors":false,"items":[{"create":{"status":201}}]}`,
			want: []item{{201, ""}}, scan: true, took: 37},
		{name: "all created, took after errors (Elasticsearch 8 and 9): the scan", body: `{"errors":false,"took":633,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`,
			want: []item{{201, ""}, {201, ""}}, scan: true, took: 633},
		{name: "a conflict, with took: encoding/json", body: `{"took":5,"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}`,
			want: []item{{409, "version_conflict_engine_exception"}}, took: 5},
		{name: "took not a whole number: encoding/json refuses it", body: `{"took":1.5,"errors":false,"items":[{"create":{"status":201}}]}`, fails: true},
		{name: "all created: the scan", body: `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`,
			want: []item{{201, ""}, {201, ""}}, scan: true},
		{name: "one item", body: `{"errors":false,"items":[{"create":{"status":201}}]}` + "\n", want: []item{{201, ""}}, scan: true},
		{name: "no items", body: `{"errors":false,"items":[]}`, want: []item{}, scan: true},
		{name: "a conflict: encoding/json",
			body: `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"x"}}}]}`,
			want: []item{{201, ""}, {409, "version_conflict_engine_exception"}}},
		{name: "another shape: encoding/json", body: `{"errors":false,"items":[{"create":{"status":201,"_id":"a"}}]}`,
			want: []item{{201, ""}}},
		{name: "an index action is not taken for a create: no status", body: `{"errors":false,"items":[{"index":{"status":201}}]}`,
			want: []item{{0, ""}}},
		{name: "separator missing: encoding/json refuses it", body: `{"errors":false,"items":[{"create":{"status":201}}{"create":{"status":201}}]}`, fails: true},
		{name: "torn: refused", body: `{"errors":false,"items":[{"create":{"status":201}},{"crea`, fails: true},
		{name: "no items at all: refused", body: `{"took":3}`, fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := scanned.Load()
			items, took, err := decodeBulk([]byte(tc.body))
			if tc.fails {
				if err == nil {
					t.Fatalf("no error; items %v", items)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if took != tc.took {
				t.Errorf("took %d, want %d", took, tc.took)
			}
			if got := scanned.Load() > before; got != tc.scan {
				t.Errorf("scanned %v, want %v", got, tc.scan)
			}
			if len(items) != len(tc.want) {
				t.Fatalf("%d items; want %d", len(items), len(tc.want))
			}
			for i, it := range items {
				if it.Status != tc.want[i].status || it.Error.Type != tc.want[i].err {
					t.Errorf("item %d: %+v, want %+v", i, it, tc.want[i])
				}
			}
		})
	}
}
