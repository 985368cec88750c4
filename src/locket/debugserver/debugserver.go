// Package debugserver is the operator's debug endpoint, as upstream's
// code.cloudfoundry.org/debugserver: pprof under /debug/pprof/ and
// POST /log-level to change the log level of the running process.
package debugserver

import (
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"strings"

	"code.cloudfoundry.org/lager/v3"
)

// LevelSetter is the part of lager.ReconfigurableSink the handler needs.
type LevelSetter interface {
	SetMinLevel(lager.LogLevel)
}

// ParseLevel accepts what upstream's debugserver accepts: debug, info, error,
// fatal, their first letters and 0, 1, 3, 4, in any case. "warn" is refused:
// lager has no such level.
func ParseLevel(s string) (lager.LogLevel, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug", "d", "0":
		return lager.DEBUG, nil
	case "info", "i", "1":
		return lager.INFO, nil
	case "error", "e", "3":
		return lager.ERROR, nil
	case "fatal", "f", "4":
		return lager.FATAL, nil
	}
	return 0, fmt.Errorf("invalid log level %q: want debug, info, error or fatal", trim(s))
}

// maxBody bounds what the handlers read from a request.
const maxBody = 1024

// Handler serves pprof and the level endpoints.
func Handler(sink LevelSetter) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/log-level", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed, use POST", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			http.Error(w, "failed to read body", http.StatusBadRequest)
			return
		}
		level, err := ParseLevel(string(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sink.SetMinLevel(level)
		fmt.Fprintf(w, "/log-level was invoked with Level: %s\n", level)
	})
	rate := func(set func(int)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.Error(w, "method not allowed, use POST", http.StatusMethodNotAllowed)
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
			if err != nil {
				http.Error(w, "failed to read body", http.StatusBadRequest)
				return
			}
			n, err := strconv.Atoi(strings.TrimSpace(string(body)))
			if err != nil {
				http.Error(w, "want an integer", http.StatusBadRequest)
				return
			}
			set(max(n, 0))
		}
	}
	mux.HandleFunc("/block-profile-rate", rate(runtime.SetBlockProfileRate))
	mux.HandleFunc("/mutex-profile-fraction", rate(func(n int) { runtime.SetMutexProfileFraction(n) }))
	return mux
}

func trim(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
