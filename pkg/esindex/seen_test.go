package esindex

import (
	"testing"
	"time"
)

// TestGroupSeen answers for one group what KnownGroups lists.
func TestGroupSeen(t *testing.T) {
	c := oneTick(t, 4)
	cases := []struct {
		name, cluster, group string
		from, to             time.Time
		want                 bool
		reason               string
	}{
		{"seen", "test", "group-002", tick0.Add(-time.Hour), tick0, true, "its document is at tick0"},
		{"the range's first instant", "test", "group-000", tick0, tick0.Add(time.Hour), true, "from is inclusive"},
		{"unknown group", "test", "group-9", tick0.Add(-time.Hour), tick0, false, "never written"},
		{"another cluster", "other", "group-002", tick0.Add(-time.Hour), tick0, false, "the group is test's"},
		{"after its tick", "test", "group-002", tick0.Add(time.Second), tick0.Add(time.Hour), false, "outside the range"},
		{"a prefix of its name", "test", "group-00", tick0.Add(-time.Hour), tick0, false, "names are matched whole"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.GroupSeen(ctxT(t), tc.from, tc.to, tc.cluster, tc.group)
			if err != nil || got != tc.want {
				t.Errorf("GroupSeen = %v, %v; want %v: %s", got, err, tc.want, tc.reason)
			}
		})
	}
}

// TestOldestTick is the first tick written, zero for a namespace without
// documents.
func TestOldestTick(t *testing.T) {
	c := oneTick(t, 2)
	if got, err := c.OldestTick(ctxT(t)); err != nil || !got.Equal(tick0) {
		t.Errorf("OldestTick = %v, %v; want %v", got, err, tick0)
	}
	names, es := installed(t)
	empty := clientOf(t, es, names)
	if got, err := empty.OldestTick(ctxT(t)); err != nil || !got.IsZero() {
		t.Errorf("OldestTick of a history without documents = %v, %v; want zero", got, err)
	}
}
