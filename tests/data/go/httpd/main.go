// httpd: a small HTTP server for the Go runtime tests (tests/unit/test_gobin.c
// inspects its binary). Each request starts a goroutine and waits for it on
// a channel: the goroutine creation, exit and wake-up that the Go runtime
// uprobes observe.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "address to serve on")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		done := make(chan string)
		go func() { done <- r.URL.Path }()
		fmt.Fprintf(w, "hello %s\n", <-done)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
