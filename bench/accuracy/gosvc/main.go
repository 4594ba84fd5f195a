// The Go service of the go-fanout, go-redis, go-workers, go-nested and
// go-spawn chains: net/http server; every request is served by its own goroutine, and
// goroutines run on whatever OS thread the scheduler gives them. The handler
// for /front/N, by MODE:
//
//	fanout:  starts two goroutines that call an HTTP backend (GET /b1/ID and
//	         GET /b2/ID) through one shared http.Client with a small pool
//	         (MaxConnsPerHost 4), waits for both (WaitGroup), then answers
//	redis:   the same, then a Redis GET k:ID through a small redigo pool
//	workers: a fixed pool of 4 worker goroutines, started at program start,
//	         reads jobs (URL + reply channel) from one unbuffered channel;
//	         the handler sends the job GET /b1/ID, waits for its reply, then
//	         the job GET /b2/ID, waits, then answers. Workers call Get on one
//	         shared http.Client with no Transport of its own, i.e. on
//	         http.DefaultTransport (no connection limit, MaxIdleConnsPerHost 2)
//	nested:  starts one goroutine, which starts two goroutines, each calling
//	         the backend (GET /b1/ID, GET /b2/ID) through the MaxConnsPerHost 4
//	         client; WaitGroups at both levels
//	spawn:   starts two goroutines: one calls GET /b1/ID through the
//	         MaxConnsPerHost 4 client, the other does the Redis GET k:ID itself
//	         (redigo writes in the caller's goroutine) through a pool of 2
//	         connections that waits for one (Wait); waits for both
//
// usage: gosvc MODE IDS BIND:PORT LEAF_HOST:PORT [REDIS_HOST:PORT]
//
//	MODE: fanout | redis | workers | nested | spawn
//	IDS:  plain (ID = N) | hashed (ID = first 12 hex digits of sha1("b1:N"),
//	      sha1("b2:N"), sha1("k:N"): no id is shared between the inbound
//	      request and the outbound calls)
//
// Built by bench/accuracy/run.py with GO111MODULE=off and
// GOPATH=/usr/share/gocode (Debian's golang-github-gomodule-redigo-dev).
package main

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

var (
	mode   string
	ids    string
	leaf   string
	client *http.Client
	pool   *redis.Pool
	jobs   chan job // mode workers: the pool's queue (unbuffered)
)

// job: one backend call for the worker pool; the worker sends the call's
// result on reply.
type job struct {
	url   string
	reply chan error
}

func worker() {
	for j := range jobs {
		j.reply <- get(j.url)
	}
}

// call runs one backend call in the worker pool and waits for it.
func call(url string) error {
	reply := make(chan error, 1)
	jobs <- job{url, reply}
	return <-reply
}

func id(tag, n string) string {
	if ids == "plain" {
		return n
	}
	sum := sha1.Sum([]byte(tag + ":" + n))
	return hex.EncodeToString(sum[:])[:12]
}

func get(url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return nil
}

// fanout: two goroutines, one call each
func fanout(n string, errs []error) {
	var wg sync.WaitGroup
	for i, tag := range []string{"b1", "b2"} {
		wg.Add(1)
		go func(i int, tag string) {
			defer wg.Done()
			errs[i] = get(fmt.Sprintf("http://%s/%s/%s", leaf, tag, id(tag, n)))
		}(i, tag)
	}
	wg.Wait()
}

// redisGet: GET k:ID on a connection of the pool, in the caller's goroutine
// (redigo writes and reads there), waiting for one when all are in use.
func redisGet(n string) error {
	c := pool.Get()
	defer c.Close()
	if _, err := c.Do("GET", "k:"+id("k", n)); err != nil && err != redis.ErrNil {
		return err
	}
	return nil
}

func front(w http.ResponseWriter, r *http.Request) {
	n := strings.TrimPrefix(r.URL.Path, "/front/")
	errs := make([]error, 2)
	switch mode {
	case "workers": // each call a job for the pool, one after the other
		for i, tag := range []string{"b1", "b2"} {
			errs[i] = call(fmt.Sprintf("http://%s/%s/%s", leaf, tag, id(tag, n)))
		}
	case "nested": // a goroutine that does the fan-out
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			fanout(n, errs)
		}()
		wg.Wait()
	case "spawn": // GET /b1 and a Redis GET from two goroutines at once
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs[0] = get(fmt.Sprintf("http://%s/b1/%s", leaf, id("b1", n)))
		}()
		go func() {
			defer wg.Done()
			errs[1] = redisGet(n)
		}()
		wg.Wait()
	default:
		fanout(n, errs)
	}
	status := 200
	for _, err := range errs {
		if err != nil {
			log.Print(err)
			status = 502
		}
	}
	if pool != nil && mode == "redis" {
		if err := redisGet(n); err != nil {
			log.Print(err)
			status = 502
		}
	}
	body := fmt.Sprintf("%s %s %d\n", os.Getenv("OTEL_SERVICE_NAME"), r.URL.Path, status)
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func main() {
	if len(os.Args) < 5 {
		log.Fatal("usage: gosvc MODE IDS BIND:PORT LEAF_HOST:PORT [REDIS_HOST:PORT]")
	}
	addr := os.Args[3]
	mode, ids, leaf = os.Args[1], os.Args[2], os.Args[4]
	switch mode {
	case "fanout", "redis", "workers", "nested", "spawn":
	default:
		log.Fatalf("unknown mode %q", mode)
	}
	client = &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxConnsPerHost:     4, // at most 4 connections: other calls wait for one
			MaxIdleConnsPerHost: 4,
			MaxIdleConns:        16,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
	if mode == "workers" { // the default transport, and a fixed pool of 4 goroutines
		client = &http.Client{Timeout: 10 * time.Second}
		jobs = make(chan job)
		for i := 0; i < 4; i++ {
			go worker()
		}
	}
	if mode == "redis" || mode == "spawn" {
		raddr := os.Args[5]
		active := 4
		if mode == "spawn" {
			active = 2
		}
		pool = &redis.Pool{
			MaxActive: active, MaxIdle: active, Wait: true, IdleTimeout: 90 * time.Second,
			Dial: func() (redis.Conn, error) { return redis.Dial("tcp", raddr) },
		}
	}
	http.HandleFunc("/front/", front)
	srv := &http.Server{Addr: addr, IdleTimeout: 120 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
