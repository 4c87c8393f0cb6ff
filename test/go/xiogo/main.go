// SPDX-License-Identifier: MIT
//
// xiogo: a Go program for X-IO's tests and benchmarks (test/go, benchmarks/bench_go.py).
// Its socket calls are Go's own raw system calls: xio-run carries them with its
// seccomp supervisor. Every mode checks what it receives.
//
//	xiogo http-server ADDR            net/http: GET /bytes/N answers N pattern bytes
//	xiogo http-get URL N [REQS]       net/http client: GET URL REQS times, check N pattern bytes each
//	xiogo echo-server ADDR            io.Copy each connection back to itself
//	xiogo echo-client ADDR BYTES [CONNS]  send BYTES per connection, CONNS at once, check the echo
//	xiogo sink-server ADDR            read and count (io.Copy to io.Discard)
//	xiogo stream ADDR SECONDS         io.Copy into ADDR for SECONDS: prints Gbit/s
//	xiogo pingpong ADDR N [SIZE]      N round trips of SIZE (64) bytes with an echo server: prints p50/p99 us
//	xiogo idle-server ADDR            accept connections and never read them
//	xiogo fill ADDR MS                write until writes stall for MS ms: prints how many bytes went
//	xiogo addrs ADDR                  dial and print LocalAddr/RemoteAddr (must be TCP)
//	xiogo redial ADDR BYTES PAUSE_MS  echo BYTES on one connection with a pause halfway
//	                                  (written to stdout: "paused"), then dial again and say how it went
//	xiogo spawn ADDR BYTES CONNS      fork and exec this program as echo-client (children under the same supervisor)
//	xiogo relisten ADDR N             N times: listen on ADDR, echo one connection, close the listener
//	xiogo fd-echo FD BYTES            as echo-client, on a connection inherited as fd FD
//
// ADDR "unix:PATH": a Unix stream socket instead (echo-server, sink-server, stream, pingpong).
package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func pattern(n int, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

func die(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "xiogo: "+f+"\n", a...)
	os.Exit(1)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		die("%s: not a number", s)
	}
	return n
}

// unixPath: ADDR "unix:PATH" is a Unix stream socket instead of TCP (echo-server,
// sink-server, stream, pingpong): benchmarks/bench_go.py's floor of the in-band design.
func unixPath(addr string) (string, bool) {
	if strings.HasPrefix(addr, "unix:") {
		return strings.TrimPrefix(addr, "unix:"), true
	}
	return "", false
}

func listen(addr string) net.Listener {
	if path, ok := unixPath(addr); ok {
		os.Remove(path)
		l, err := net.Listen("unix", path)
		if err != nil {
			die("listen %s: %v", addr, err)
		}
		fmt.Printf("listening %v\n", l.Addr())
		return l
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		die("listen %s: %v", addr, err)
	}
	if _, ok := l.Addr().(*net.TCPAddr); !ok {
		die("listener address %v is not TCP", l.Addr())
	}
	fmt.Printf("listening %v\n", l.Addr())
	return l
}

func serveConns(l net.Listener, handle func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			die("accept: %v", err)
		}
		if _, ok := c.RemoteAddr().(*net.TCPAddr); !ok && l.Addr().Network() == "tcp" {
			die("accepted connection's peer %v is not TCP", c.RemoteAddr())
		}
		go handle(c)
	}
}

func httpServer(addr string) {
	l := listen(addr)
	mux := http.NewServeMux()
	mux.HandleFunc("/bytes/", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/bytes/"))
		if err != nil || n < 0 || n > 1<<30 {
			http.Error(w, "bad size", 400)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(pattern(n, 0))
	})
	die("serve: %v", http.Serve(l, mux))
}

func httpGet(url string, n, reqs int) {
	want := pattern(n, 0)
	for i := 0; i < reqs; i++ {
		resp, err := http.Get(url)
		if err != nil {
			die("GET %s: %v", url, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			die("GET %s: status %d, %v", url, resp.StatusCode, err)
		}
		if !bytes.Equal(body, want) {
			die("GET %s: %d bytes, not the %d expected", url, len(body), n)
		}
	}
	fmt.Printf("ok %d requests, %d bytes each, checked\n", reqs, n)
}

func dial(addr string) net.Conn {
	if path, ok := unixPath(addr); ok {
		c, err := net.Dial("unix", path)
		if err != nil {
			die("dial %s: %v", addr, err)
		}
		return c
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		die("dial %s: %v", addr, err)
	}
	if _, ok := c.LocalAddr().(*net.TCPAddr); !ok {
		die("local address %v is not TCP", c.LocalAddr())
	}
	if ra, ok := c.RemoteAddr().(*net.TCPAddr); !ok || ra.String() != addr {
		die("remote address %v is not %s", c.RemoteAddr(), addr)
	}
	return c
}

func echoClient(addr string, n, conns int) {
	var wg sync.WaitGroup
	for k := 0; k < conns; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			c := dial(addr)
			defer c.Close()
			out := pattern(n, k)
			go func() {
				if _, err := c.Write(out); err != nil {
					die("write: %v", err)
				}
				c.(*net.TCPConn).CloseWrite()
			}()
			in, err := io.ReadAll(c)
			if err != nil {
				die("read: %v", err)
			}
			if !bytes.Equal(in, out) {
				die("connection %d: %d bytes back, not the %d sent", k, len(in), n)
			}
		}(k)
	}
	wg.Wait()
	fmt.Printf("ok %d connections, %d bytes each, checked\n", conns, n)
}

func stream(addr string, secs int) {
	c := dial(addr)
	buf := make([]byte, 64<<10)
	var total int64
	end := time.Now().Add(time.Duration(secs) * time.Second)
	t0 := time.Now()
	for time.Now().Before(end) {
		n, err := c.Write(buf)
		if err != nil {
			die("write: %v", err)
		}
		total += int64(n)
	}
	c.Close()
	fmt.Printf("stream %.3f Gbit/s\n", float64(total)*8/time.Since(t0).Seconds()/1e9)
}

// fill: write into a connection whose reader never reads until writes stall for
// MS milliseconds; prints how far the writer got (the kernel's buffers).
func fill(addr string, ms int) {
	c := dial(addr)
	buf := make([]byte, 64<<10)
	var total int64
	for {
		c.SetWriteDeadline(time.Now().Add(time.Duration(ms) * time.Millisecond))
		n, err := c.Write(buf)
		total += int64(n)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				break
			}
			die("write: %v", err)
		}
	}
	fmt.Printf("fill %d bytes\n", total)
}

func pingpong(addr string, n, size int) {
	c := dial(addr)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	out, in := pattern(size, 1), make([]byte, size)
	lat := make([]float64, 0, n)
	for i := 0; i < n+n/10; i++ {
		t0 := time.Now()
		if _, err := c.Write(out); err != nil {
			die("write: %v", err)
		}
		if _, err := io.ReadFull(c, in); err != nil {
			die("read: %v", err)
		}
		if i >= n/10 { // the first tenth warms up
			lat = append(lat, float64(time.Since(t0).Nanoseconds())/1000)
		}
	}
	if !bytes.Equal(in, out) {
		die("echo differs")
	}
	sort.Float64s(lat)
	fmt.Printf("pingpong p50 %.2f us p99 %.2f us\n", lat[len(lat)/2], lat[len(lat)*99/100])
}

func main() {
	if len(os.Args) < 3 {
		die("usage: xiogo MODE ADDR ... (see the source)")
	}
	a := os.Args[2:]
	switch os.Args[1] {
	case "http-server":
		httpServer(a[0])
	case "http-get":
		reqs := 1
		if len(a) > 2 {
			reqs = atoi(a[2])
		}
		httpGet(a[0], atoi(a[1]), reqs)
	case "echo-server":
		serveConns(listen(a[0]), func(c net.Conn) { io.Copy(c, c); c.Close() })
	case "idle-server":
		serveConns(listen(a[0]), func(c net.Conn) { select {} })
	case "fill":
		fill(a[0], atoi(a[1]))
	case "sink-server":
		serveConns(listen(a[0]), func(c net.Conn) { io.Copy(io.Discard, c); c.Close() })
	case "echo-client":
		conns := 1
		if len(a) > 2 {
			conns = atoi(a[2])
		}
		echoClient(a[0], atoi(a[1]), conns)
	case "stream":
		stream(a[0], atoi(a[1]))
	case "pingpong":
		size := 64
		if len(a) > 2 {
			size = atoi(a[2])
		}
		pingpong(a[0], atoi(a[1]), size)
	case "addrs":
		c := dial(a[0])
		fmt.Printf("local %v remote %v\n", c.LocalAddr(), c.RemoteAddr())
		c.Close()
	case "relisten":
		for i := 0; i < atoi(a[1]); i++ {
			l := listen(a[0])
			c, err := l.Accept()
			if err != nil {
				die("accept: %v", err)
			}
			io.Copy(c, c)
			c.Close()
			l.Close()
		}
	case "fd-echo":
		fdEcho(atoi(a[0]), atoi(a[1]))
	case "redial":
		redial(a[0], atoi(a[1]), atoi(a[2]))
	case "spawn":
		cmd := exec.Command(os.Args[0], "echo-client", a[0], a[1], a[2])
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			die("child: %v", err)
		}
	default:
		die("unknown mode %s", os.Args[1])
	}
}

func redial(addr string, n, pauseMs int) {
	c := dial(addr)
	out, in := pattern(n, 3), make([]byte, n)
	half := n / 2
	echo := func(from, to int) {
		if _, err := c.Write(out[from:to]); err != nil {
			die("write: %v", err)
		}
		if _, err := io.ReadFull(c, in[from:to]); err != nil {
			die("read: %v", err)
		}
	}
	echo(0, half)
	fmt.Println("paused")
	time.Sleep(time.Duration(pauseMs) * time.Millisecond)
	echo(half, n)
	if !bytes.Equal(in, out) {
		die("echo differs")
	}
	fmt.Printf("ok %d bytes echoed and checked across the pause\n", n)
	c.Close()
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Printf("second dial: %v\n", err)
		return
	}
	c2.Close()
	fmt.Println("second dial: ok")
}

func fdEcho(fd, n int) {
	c, err := net.FileConn(os.NewFile(uintptr(fd), "inherited"))
	if err != nil {
		die("fd %d: %v", fd, err)
	}
	out := pattern(n, 5)
	go func() {
		if _, err := c.Write(out); err != nil {
			die("write: %v", err)
		}
	}()
	in := make([]byte, n)
	if _, err := io.ReadFull(c, in); err != nil {
		die("read: %v", err)
	}
	if !bytes.Equal(in, out) {
		die("fd %d: the echo differs (doorbell bytes read as data?)", fd)
	}
	fmt.Printf("ok %d bytes echoed on inherited fd %d, checked\n", n, fd)
}
