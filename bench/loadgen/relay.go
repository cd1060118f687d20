package main

// The floor: two stand-ins for a gateway that do the least a proxy can do,
// run in the gateway's place (pinned to its core) to measure what the hop
// itself costs on this host, apart from anything Switchboard does.
//
//   - tcp: a byte relay. Each client connection gets its own upstream
//     connection and the bytes are copied both ways; no HTTP parsing at all.
//   - http: a net/http server whose handler reads the body, POSTs it to the
//     upstream with a net/http client (kept-alive connections) and copies the
//     answer back: what any net/http-based gateway pays before it does
//     anything of its own.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// relay serves mode ("tcp" or "http") on listen, forwarding to upstream
// (host:port). It runs until the process is killed.
func relay(mode, listen, upstream string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "relay %s listening on %s\n", mode, ln.Addr())
	switch mode {
	case "tcp":
		for {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			go relayTCP(c, upstream)
		}
	case "http":
		return relayHTTP(ln, upstream)
	}
	return fmt.Errorf("relay mode %q: want tcp or http", mode)
}

func relayTCP(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	go func() {
		_, _ = io.Copy(u, c)
		_ = u.(*net.TCPConn).CloseWrite()
	}()
	_, _ = io.Copy(c, u)
}

func relayHTTP(ln net.Listener, upstream string) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000, IdleConnTimeout: time.Minute}}
	base := "http://" + upstream
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, base+r.URL.Path, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
				// Streams are relayed as they come, like a gateway must.
				if resp.ContentLength < 0 {
					_ = http.NewResponseController(w).Flush()
				}
			}
			if err != nil {
				return
			}
		}
	})}
	return srv.Serve(ln)
}
