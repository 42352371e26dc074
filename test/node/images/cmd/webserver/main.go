// webserver: the test node's "internet" servers. Serves a small page over HTTP, or over HTTPS with
// a certificate it makes at start (-tls; clients here do not verify), or answers every request
// with a 301 to -redirect (as 1.1.1.1's port 80 sends browsers to HTTPS). busybox httpd cannot
// redirect, and busybox wget's own TLS could not complete a handshake with openssl s_server.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"time"
)

func main() {
	listen := flag.String("listen", ":80", "address to listen on")
	redirect := flag.String("redirect", "", "answer every request with a 301 to this URL")
	useTLS := flag.Bool("tls", false, "serve HTTPS with a self-signed certificate")
	flag.Parse()

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if *redirect != "" {
			http.Redirect(w, r, *redirect, http.StatusMovedPermanently)
			return
		}
		fmt.Fprintf(w, "<html><body>netpol test internet: %s</body></html>\n", r.Host)
	})
	server := &http.Server{Addr: *listen, Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	if !*useTLS {
		log.Fatal(server.ListenAndServe())
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := selfSigned(host)
	if err != nil {
		log.Fatal(err)
	}
	server.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	log.Fatal(server.ListenAndServeTLS("", ""))
}

func selfSigned(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
