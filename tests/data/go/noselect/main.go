// A program with goroutines and channels but no select statement: the
// linker leaves runtime.selectgo out, and wirespan probes it without.
package main

import "fmt"

func main() {
	c := make(chan int)
	go func() {
		for i := 0; i < 3; i++ {
			c <- i
		}
		close(c)
	}()
	sum := 0
	for v := range c {
		sum += v
	}
	fmt.Println(sum)
}
