// Command camera-ui stands in for a camera's web UI in the README's quick
// start: it serves one small page on a loopback address (127.0.0.1:8000
// unless -listen says otherwise), as a device's local service does before
// `ward node --expose` makes it reachable through the overlay, to whom the
// policy allows.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"
)

// page is what every request gets.
const page = "Hello from the camera's web UI, through Ward.\n"

func main() {
	listen := flag.String("listen", "127.0.0.1:8000", "loopback address to serve on")
	flag.Parse()
	if err := serve(*listen); err != nil {
		log.Fatal(err)
	}
}

// serve answers every request on addr, a loopback address, with page.
func serve(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("camera-ui: %q is not a loopback address: the overlay reaches it through ward node", addr)
	}
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, page)
	})}
	log.Printf("camera-ui: serving on http://%s/", addr)
	return srv.ListenAndServe()
}
