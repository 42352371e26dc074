// etcd for netpol's tests: the upstream etcd server entry point at the version k8s.io/kubernetes
// pins, so the API server talks to the storage it was released with.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
