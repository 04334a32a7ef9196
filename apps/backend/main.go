// The upstream API that stands in for Lab B's external service: GET /items/<id> answers
// `{"id":<id>,"name":"item-<id>"}` after a fixed delay. It runs on the generator (or a `backend`
// host) and is reached over the benchmark link.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("listen", ":9100", "address to listen on")
	delay := flag.Duration("delay", 15*time.Millisecond, "delay before each answer")
	flag.Parse()
	http.HandleFunc("/items/", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/items/"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		time.Sleep(*delay)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%d,"name":"item-%d"}`, id, id)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
