package evaluate

import (
	"reflect"
	"testing"
	"time"
)

// TestApplyHeadHistory: a consumer stuck at offset 100 while the producer
// writes 1 message a second; the window (ticks at 1000 s to 1090 s, log end
// 1000 to 1090) is all past it, so the window can only bound the time lag
// (90 s). The history before the window then says how far behind it is.
func TestApplyHeadHistory(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	sec := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var obs []Observation
	for i := range 10 {
		s := 1000 + 10*i
		obs = append(obs, Observation{Time: sec(s), Committed: 100, HasCommitted: true, LogEnd: int64(s), HasLogEnd: true, Lag: int64(s) - 100, HasLag: true})
	}
	w := GroupWindow{Cluster: "c", Group: "g", Partitions: []PartitionWindow{
		{Topic: "t", Partition: 0, Obs: obs},
		// A partition caught up: no question about it.
		{Topic: "t", Partition: 1, Obs: []Observation{{Time: sec(1090), Committed: 5, HasCommitted: true, LogEnd: 5, HasLogEnd: true, HasLag: true}}},
	}}
	pt := func(s int, end int64) *HeadPoint { return &HeadPoint{Time: sec(s), LogEnd: end} }
	cases := []struct {
		name   string
		h      HeadPassage
		want   TimeLag
		reason string
	}{
		{"exact", HeadPassage{Below: pt(90, 90), Above: pt(110, 110)}, TimeLag{Duration: 989 * time.Second, Known: true},
			"offset 101 (C+1) appended at 101 s, interpolated between 90 s and 110 s; 1090 - 101"},
		{"below alone", HeadPassage{Below: pt(90, 90)}, TimeLag{Duration: 989 * time.Second, Known: true},
			"interpolated between 90 s (log end 90) and the window's first observation, 1000 s (log end 1000): 101 s"},
		{"above older than below", HeadPassage{Below: pt(90, 90), Above: pt(50, 500)}, TimeLag{Duration: 989 * time.Second, Known: true},
			"the log end shrank after 50 s: the passage after 90 s is taken, up to the window"},
		{"above alone", HeadPassage{Above: pt(400, 400)}, TimeLag{Duration: 690 * time.Second, Known: true, LowerBound: true},
			"the oldest stored observation is already past 100: at least 1090 - 400"},
		{"nothing", HeadPassage{}, TimeLag{Duration: 90 * time.Second, Known: true, LowerBound: true},
			"the window's bound stands"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := EvaluateGroup(w, DefaultRules(), sec(1090))
			qs := HeadQueries(r)
			if len(qs) != 1 || qs[0] != (HeadQuery{Topic: "t", Partition: 0, Committed: 100, Before: sec(1000)}) {
				t.Fatalf("queries %+v, want one for t/0 at 100 before 1000 s", qs)
			}
			r.ApplyHeadHistory([]HeadPassage{tc.h})
			if got := r.Partitions[0].TimeLag; got != tc.want {
				t.Errorf("t/0 time lag %+v, want %+v: %s", got, tc.want, tc.reason)
			}
			if r.TimeLag != tc.want {
				t.Errorf("group time lag %+v, want the partition's %+v", r.TimeLag, tc.want)
			}
			// One figure wherever it is shown: t/0 has the greatest lag.
			if r.MaxLag == nil || r.MaxLag.Partition != 0 || r.MaxLag.TimeLag != tc.want {
				t.Errorf("MaxLag %+v, want t/0 with time lag %+v", r.MaxLag, tc.want)
			}
			b := r.BurrowLag().Status
			if b.MaxLag == nil || !reflect.DeepEqual(*b.MaxLag, b.Partitions[0]) {
				t.Errorf("Burrow's maxlag %+v, want its partitions' t/0 %+v", b.MaxLag, b.Partitions[0])
			}
			if got := r.Partitions[1].TimeLag; got != (TimeLag{Known: true}) {
				t.Errorf("t/1 time lag %+v, want 0: caught up", got)
			}
		})
	}
}
