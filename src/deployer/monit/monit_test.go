package monit

import "testing"

func TestParseStatus(t *testing.T) {
	out := `Monit 5.33.0 uptime: 0m

Process 'locket'
  status                       OK
  monitoring status            Monitored
  monitoring mode              active
  pid                          62
  parent pid                   1

System 'c2a1'
  status                       OK
  monitoring status            Monitored

Process 'lock-holder'
  status                       Does not exist - start pending
  monitoring status            Monitored

Process 'presence-agent'
  status                       Not monitored
  monitoring status            Not monitored
`
	got := ParseStatus(out)
	want := []Process{
		{Name: "locket", Status: "OK", Monitoring: "Monitored", Pid: 62},
		{Name: "lock-holder", Status: "Does not exist - start pending", Monitoring: "Monitored"},
		{Name: "presence-agent", Status: "Not monitored", Monitoring: "Not monitored"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("process %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if !got[0].Running() || got[1].Running() || got[2].Running() {
		t.Errorf("Running: %v %v %v", got[0].Running(), got[1].Running(), got[2].Running())
	}
	if got[0].Stopped() || got[1].Stopped() || !got[2].Stopped() {
		t.Errorf("Stopped: %v %v %v", got[0].Stopped(), got[1].Stopped(), got[2].Stopped())
	}
}
