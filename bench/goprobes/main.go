// The cost of the Go runtime probes, measured from inside a Go program.
//
// usage: goprobes spawn N | handoff N
//
//	spawn N:   create N goroutines that end at once, waiting for each
//	           batch of 1000 (creation and end: the spawn and exit probes)
//	handoff N: pass N values over an unbuffered channel to a goroutine
//	           parked on it, and N back (each send to a parked receiver
//	           hits the hand-off probe)
//
// Prints the nanoseconds per operation.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

func spawn(n int) time.Duration {
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < n; i += 1000 {
		for k := 0; k < 1000; k++ {
			wg.Add(1)
			go wg.Done()
		}
		wg.Wait()
	}
	return time.Since(t0)
}

func handoff(n int) time.Duration {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	close(ping)
	return time.Since(t0) / 2 // two hand-offs a round trip
}

func main() {
	n, _ := strconv.Atoi(os.Args[2])
	// the recorder sees the program start and attaches its probes within
	// this time; the operations timed come after
	time.Sleep(time.Second)
	var d time.Duration
	switch os.Args[1] {
	case "spawn":
		d = spawn(n)
	case "handoff":
		d = handoff(n)
	default:
		fmt.Fprintln(os.Stderr, "usage: goprobes spawn|handoff N")
		os.Exit(2)
	}
	fmt.Printf("%.1f\n", float64(d.Nanoseconds())/float64(n))
}
