// Small static programs baked into the test node's images (see ../build.sh and ../images.sh):
// the pod sandbox's pause process, a TCP server for reachability probes and the "internet" web server. Standard library only.
module netpol.test/node/images

go 1.24.0
