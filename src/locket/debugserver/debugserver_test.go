package debugserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"code.cloudfoundry.org/lager/v3"
)

type levels struct{ got []lager.LogLevel }

func (l *levels) SetMinLevel(v lager.LogLevel) { l.got = append(l.got, v) }

func TestLogLevel(t *testing.T) {
	sink := &levels{}
	srv := httptest.NewServer(Handler(sink))
	defer srv.Close()
	for body, want := range map[string]lager.LogLevel{
		"debug": lager.DEBUG, "info\n": lager.INFO, "ERROR": lager.ERROR, "fatal": lager.FATAL, "d": lager.DEBUG, "1": lager.INFO,
	} {
		sink.got = nil
		resp, err := http.Post(srv.URL+"/log-level", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || len(sink.got) != 1 || sink.got[0] != want {
			t.Errorf("POST %q: %d, levels %v, want %v", body, resp.StatusCode, sink.got, want)
		}
	}
	for _, body := range []string{"", "warn", "verbose", strings.Repeat("x", 5000)} {
		sink.got = nil
		resp, err := http.Post(srv.URL+"/log-level", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || len(sink.got) != 0 {
			t.Errorf("POST %.20q: %d, levels %v", body, resp.StatusCode, sink.got)
		}
	}
	resp, err := http.Get(srv.URL + "/log-level")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}
