// Gin (Lab B): the Gin router for /ping, /fib/:n and /data/:id; Lab A's route is matched with the
// regular expression in NoRoute, since a router tree cannot express `^/([^/]+)/([0-9]+)$`.
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	workload "webbench.lab/golib"
)

func main() {
	port := flag.Int("port", 8000, "TCP port")
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)
	backend := workload.NewBackend()
	r := gin.New()
	r.GET("/ping", func(c *gin.Context) {
		c.Data(http.StatusOK, workload.JSONType, workload.Ping())
	})
	r.GET("/fib/:n", func(c *gin.Context) {
		n, err := strconv.Atoi(c.Param("n"))
		if err != nil || n < 0 {
			c.String(http.StatusNotFound, "404 page not found")
			return
		}
		c.Data(http.StatusOK, workload.JSONType, workload.FibBody(n))
	})
	r.GET("/data/:id", func(c *gin.Context) {
		id := c.Param("id")
		if _, err := strconv.Atoi(id); err != nil {
			c.String(http.StatusNotFound, "404 page not found")
			return
		}
		body, err := backend.Data(c.Request.Context(), id)
		if err != nil {
			c.String(http.StatusBadGateway, err.Error())
			return
		}
		c.Data(http.StatusOK, workload.JSONType, body)
	})
	r.NoRoute(func(c *gin.Context) {
		txt, num, ok := workload.Match(c.Request.URL.Path)
		if !ok || c.Request.Method != http.MethodGet {
			c.String(http.StatusNotFound, "404 page not found")
			return
		}
		c.Status(http.StatusOK)
		c.Header("Content-Type", workload.TextType)
		workload.WriteLines(c.Writer, txt, num)
	})
	log.Fatal(r.Run(":" + strconv.Itoa(*port)))
}
