// The Go service of the go-fanout and go-redis chains: net/http server whose
// handler for /front/N starts two goroutines that call an HTTP backend
// (GET /b1/ID and GET /b2/ID) through one shared http.Client with a small
// pool, waits for both, then (mode redis) makes a Redis GET k:ID through a
// small redigo pool, then answers. Every request is served by its own
// goroutine; goroutines run on whatever OS thread the scheduler gives them.
//
// usage: gosvc MODE IDS BIND:PORT LEAF_HOST:PORT [REDIS_HOST:PORT]
//
//	MODE: fanout | redis
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
	ids    string
	leaf   string
	client *http.Client
	pool   *redis.Pool
)

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

func front(w http.ResponseWriter, r *http.Request) {
	n := strings.TrimPrefix(r.URL.Path, "/front/")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, tag := range []string{"b1", "b2"} {
		wg.Add(1)
		go func(i int, tag string) {
			defer wg.Done()
			errs[i] = get(fmt.Sprintf("http://%s/%s/%s", leaf, tag, id(tag, n)))
		}(i, tag)
	}
	wg.Wait()
	status := 200
	for _, err := range errs {
		if err != nil {
			log.Print(err)
			status = 502
		}
	}
	if pool != nil {
		c := pool.Get()
		_, err := c.Do("GET", "k:"+id("k", n))
		c.Close()
		if err != nil && err != redis.ErrNil {
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
	mode, addr := os.Args[1], os.Args[3]
	ids, leaf = os.Args[2], os.Args[4]
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
	if mode == "redis" {
		raddr := os.Args[5]
		pool = &redis.Pool{
			MaxActive: 4, MaxIdle: 4, Wait: true, IdleTimeout: 90 * time.Second,
			Dial: func() (redis.Conn, error) { return redis.Dial("tcp", raddr) },
		}
	}
	http.HandleFunc("/front/", front)
	srv := &http.Server{Addr: addr, IdleTimeout: 120 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
