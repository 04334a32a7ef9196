// Package workload is the work every Go system under test does, written once so all of them
// answer byte-for-byte the same as the Python systems: Lab A's lines, Lab B's ping, fib and data.
package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Route is Lab A's route; both parameters are parsed with it.
var Route = regexp.MustCompile(`^/([^/]+)/([0-9]+)$`)

const (
	TextType = "text/plain; charset=utf-8"
	JSONType = "application/json"
)

// Match returns txt and num of a Lab A path, or ok=false (the answer is then 404).
func Match(path string) (txt string, num int, ok bool) {
	m := Route.FindStringSubmatch(path)
	if m == nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(m[2])
	if err != nil {
		return "", 0, false
	}
	return m[1], n, true
}

// WriteLines loops num times and writes one printf-style line per iteration.
func WriteLines(w io.Writer, txt string, num int) {
	for i := 0; i < num; i++ {
		fmt.Fprintf(w, "%d: %s\n", i, txt)
	}
}

// Fib is naive recursion on purpose: Lab B's CPU-bound scenario.
func Fib(n int) int {
	if n < 2 {
		return n
	}
	return Fib(n-1) + Fib(n-2)
}

// Ping is `{"message":"pong"}`.
func Ping() []byte {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{"pong"})
	return b
}

// FibBody is `{"result":fib(n)}`.
func FibBody(n int) []byte {
	b, _ := json.Marshal(struct {
		Result int `json:"result"`
	}{Fib(n)})
	return b
}

// Backend holds the upstream API and Redis clients shared by all requests.
type Backend struct {
	API   string
	HTTP  *http.Client
	Redis *redis.Client
}

// NewBackend reads WEBBENCH_API and WEBBENCH_REDIS_HOST/PORT, as the Python systems do.
func NewBackend() *Backend {
	api := os.Getenv("WEBBENCH_API")
	if api == "" {
		api = "http://127.0.0.1:9100"
	}
	host, port := os.Getenv("WEBBENCH_REDIS_HOST"), os.Getenv("WEBBENCH_REDIS_PORT")
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "6379"
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 1024}
	return &Backend{
		API:   api,
		HTTP:  &http.Client{Timeout: 10 * time.Second, Transport: transport},
		Redis: redis.NewClient(&redis.Options{Addr: host + ":" + port, PoolSize: 256}),
	}
}

// Data makes the upstream call and the Redis GET concurrently (two goroutines) and returns
// `{"api":<upstream JSON>,"cache":<value or null>}`.
func (b *Backend) Data(ctx context.Context, id string) ([]byte, error) {
	type apiResult struct {
		body []byte
		err  error
	}
	apiCh := make(chan apiResult, 1)
	go func() {
		body, err := b.fetch(ctx, id)
		apiCh <- apiResult{body, err}
	}()
	var cache *string
	val, err := b.Redis.Get(ctx, "cache:"+id).Result()
	switch {
	case err == redis.Nil:
	case err != nil:
		return nil, err
	default:
		cache = &val
	}
	api := <-apiCh
	if api.err != nil {
		return nil, api.err
	}
	return json.Marshal(struct {
		API   json.RawMessage `json:"api"`
		Cache *string         `json:"cache"`
	}{api.body, cache})
}

func (b *Backend) fetch(ctx context.Context, id string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.API+"/items/"+id, nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("upstream answered %d", resp.StatusCode)
	}
	return body, nil
}
