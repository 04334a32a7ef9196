// Twister (Lab A): github.com/garyburd/twister, its own HTTP server and router, written against
// Twister's 2011 API. The Go module proxy refuses to serve github.com/garyburd/twister
// ("This module version is not available"), so go.mod cannot require it and the build fails
// with the go command's reason, which the lab reports for this row.
package main

import (
	"flag"
	"strconv"

	"github.com/garyburd/twister/server"
	"github.com/garyburd/twister/web"
	workload "webbench.lab/golib"
)

func main() {
	port := flag.Int("port", 8000, "TCP port")
	flag.Parse()
	backend := workload.NewBackend()
	h := web.NewRouter().
		Register("/ping", "GET", func(req *web.Request) {
			w := req.Respond(web.StatusOK, web.HeaderContentType, workload.JSONType)
			w.Write(workload.Ping())
		}).
		Register("/fib/<n:[0-9]+>", "GET", func(req *web.Request) {
			n, _ := strconv.Atoi(req.URLParam["n"])
			w := req.Respond(web.StatusOK, web.HeaderContentType, workload.JSONType)
			w.Write(workload.FibBody(n))
		}).
		Register("/data/<id:[0-9]+>", "GET", func(req *web.Request) {
			body, err := backend.Data(nil, req.URLParam["id"])
			if err != nil {
				req.Error(web.StatusBadGateway, err)
				return
			}
			w := req.Respond(web.StatusOK, web.HeaderContentType, workload.JSONType)
			w.Write(body)
		}).
		Register("/<txt:[^/]+>/<num:[0-9]+>", "GET", func(req *web.Request) {
			n, _ := strconv.Atoi(req.URLParam["num"])
			w := req.Respond(web.StatusOK, web.HeaderContentType, workload.TextType)
			workload.WriteLines(w, req.URLParam["txt"], n)
		})
	server.Run(":"+strconv.Itoa(*port), h)
}
