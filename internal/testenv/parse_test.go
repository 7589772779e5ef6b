package testenv

import "testing"

func TestParseDescribe(t *testing.T) {
	out := `
Consumer group 'g' has no active members.

GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID
g               t               1          25              25              0               -               -               -
g               t               0          4               10              6               -               -               -
g               t               2          -               3               -               c (lib)-1a      /127.0.0.1      c
`
	rows, err := ParseDescribe(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []DescribeRow{
		{Group: "g", Topic: "t", Partition: 1, Committed: 25, LogEnd: 25, Lag: 0, ConsumerID: "-"},
		{Group: "g", Topic: "t", Partition: 0, Committed: 4, LogEnd: 10, Lag: 6, ConsumerID: "-"},
		{Group: "g", Topic: "t", Partition: 2, Committed: -1, LogEnd: 3, Lag: -1, ConsumerID: "c (lib)-1a"},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, rows[i], want[i])
		}
	}
	if _, err := ParseDescribe("GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG\ng     t     x         1              2              1\n"); err == nil {
		t.Error("a non-numeric partition was accepted")
	}
}
