// tcpserver: accepts TCP connections on every port given (arguments, or the PORTS environment
// variable, comma- or space-separated) on all addresses, writes one line naming itself and the
// port, and closes. It is what probe targets run: a connect that succeeds is a reachable port.
//
// With -probe it is the client side of `netpol probe`: `tcpserver -probe [-timeout 2s] IP:PORT…`
// connects to each target in turn and prints "IP PORT open|refused|timeout|error".
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-probe" {
		probe(os.Args[2:])
		return
	}
	ports := os.Args[1:]
	if len(ports) == 0 {
		ports = strings.FieldsFunc(os.Getenv("PORTS"), func(r rune) bool { return r == ',' || r == ' ' })
	}
	if len(ports) == 0 {
		ports = []string{"80"}
	}
	host, _ := os.Hostname()
	for _, port := range ports {
		l, err := net.Listen("tcp", ":"+port)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcpserver: listen on %s: %v\n", port, err)
			os.Exit(1)
		}
		fmt.Printf("tcpserver: listening on %s\n", port)
		go serve(l, host, port)
	}
	select {}
}

func serve(l net.Listener, host, port string) {
	for {
		conn, err := l.Accept()
		if err != nil {
			continue
		}
		fmt.Fprintf(conn, "tcpserver %s port %s\n", host, port)
		conn.Close()
	}
}

func probe(args []string) {
	timeout := 2 * time.Second
	if len(args) >= 2 && args[0] == "-timeout" {
		d, err := time.ParseDuration(args[1])
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcpserver -probe: -timeout: %v\n", err)
			os.Exit(2)
		}
		timeout, args = d, args[2:]
	}
	for _, target := range args {
		host, port, err := net.SplitHostPort(target)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcpserver -probe: %s: %v\n", target, err)
			os.Exit(2)
		}
		conn, err := net.DialTimeout("tcp", target, timeout)
		result := "open"
		switch {
		case err == nil:
			conn.Close()
		case errors.Is(err, syscall.ECONNREFUSED):
			result = "refused"
		case os.IsTimeout(err):
			result = "timeout"
		default:
			result = "error"
		}
		fmt.Printf("%s %s %s\n", host, port, result)
	}
}
