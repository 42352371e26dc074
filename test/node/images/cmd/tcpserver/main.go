// tcpserver: accepts TCP connections on every port given (arguments, or the PORTS environment
// variable, comma- or space-separated) on all addresses, writes one line naming itself and the
// port, and closes. It is what probe targets run: a connect that succeeds is a reachable port.
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
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
