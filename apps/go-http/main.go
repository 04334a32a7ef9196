// Go http: the standard library HTTP server, regexp + fmt.Fprintf (Lab A), plus Lab B's endpoints.
// Built static (CGO_ENABLED=0) and run in a chroot jail as the unprivileged user.
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
	"strings"

	workload "webbench.lab/golib"
)

func main() {
	port := flag.Int("port", 8000, "TCP port")
	flag.Parse()
	backend := workload.NewBackend()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		switch {
		case path == "/ping":
			w.Header().Set("Content-Type", workload.JSONType)
			w.Write(workload.Ping())
		case strings.HasPrefix(path, "/fib/"):
			n, err := strconv.Atoi(path[len("/fib/"):])
			if err != nil || n < 0 {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", workload.JSONType)
			w.Write(workload.FibBody(n))
		case strings.HasPrefix(path, "/data/"):
			id := path[len("/data/"):]
			if _, err := strconv.Atoi(id); err != nil {
				http.NotFound(w, r)
				return
			}
			body, err := backend.Data(r.Context(), id)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			w.Header().Set("Content-Type", workload.JSONType)
			w.Write(body)
		default:
			txt, num, ok := workload.Match(path)
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", workload.TextType)
			workload.WriteLines(w, txt, num)
		}
	})
	log.Fatal(http.ListenAndServe(":"+strconv.Itoa(*port), handler))
}
