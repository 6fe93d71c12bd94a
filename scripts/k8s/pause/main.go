// The pod sandbox's "pause" process for the test node (scripts/k8s-cluster.sh): it holds the pod's
// namespaces and does nothing until it is told to stop. Built here because there is no registry
// to pull registry.k8s.io/pause from.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
