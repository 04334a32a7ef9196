// Web.go (Lab A): github.com/hoisie/web in standalone HTTP mode, which first looks for a static
// file for the URL. The Go module proxy serves only v0.1.0, a pre-Go 1 release (it uses os.Error),
// so today's toolchain cannot build it: the lab reports the compiler's reason for this row.
package main

import (
	"flag"
	"strconv"

	"github.com/hoisie/web"
	workload "webbench.lab/golib"
)

func main() {
	port := flag.Int("port", 8000, "TCP port")
	flag.Parse()
	backend := workload.NewBackend()
	web.Get("/ping", func(ctx *web.Context) {
		ctx.SetHeader("Content-Type", workload.JSONType, true)
		ctx.Write(workload.Ping())
	})
	web.Get("/fib/([0-9]+)", func(ctx *web.Context, n string) {
		num, _ := strconv.Atoi(n)
		ctx.SetHeader("Content-Type", workload.JSONType, true)
		ctx.Write(workload.FibBody(num))
	})
	web.Get("/data/([0-9]+)", func(ctx *web.Context, id string) {
		body, err := backend.Data(nil, id)
		if err != nil {
			ctx.Abort(502, err.Error())
			return
		}
		ctx.SetHeader("Content-Type", workload.JSONType, true)
		ctx.Write(body)
	})
	web.Get("/([^/]+)/([0-9]+)", func(ctx *web.Context, txt string, num string) {
		n, _ := strconv.Atoi(num)
		ctx.SetHeader("Content-Type", workload.TextType, true)
		workload.WriteLines(ctx, txt, n)
	})
	web.Run("0.0.0.0:" + strconv.Itoa(*port))
}
