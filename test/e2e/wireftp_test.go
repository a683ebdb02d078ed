//go:build e2e

package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"testing"
	"time"
)

// ftpWireServer is the FTP side of wireServer: a minimal read-only anonymous FTP
// server, independent of kickstand's, that serves the install tree under /pub/ (as
// the classic vsftpd setup does) and records every RETR, so that the fixture's FTP
// client is proven on its own. It speaks what busybox wget and anaconda's curl use:
// USER, PASS, TYPE, SIZE, PASV/EPSV and RETR.
type ftpWireServer struct {
	base string // ftp://IP:PORT

	ns   *netns
	ip   string
	tree *os.Root
	ln   net.Listener

	mu       sync.Mutex
	requests []string // "RETR /pub/.treeinfo 226"
}

// startFTPWireServer serves tree on the LAN's server address, port 2121, inside its
// namespace.
func startFTPWireServer(t *testing.T, l *lan, tree string) *ftpWireServer {
	t.Helper()
	const port = "2121"
	root, err := os.OpenRoot(tree)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := l.ns.listenTCP(l.serverIP + ":" + port)
	if err != nil {
		root.Close()
		t.Fatalf("listen in %s: %v", l.ns.name, err)
	}
	s := &ftpWireServer{base: "ftp://" + l.serverIP + ":" + port, ns: l.ns, ip: l.serverIP, tree: root, ln: ln}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serveConn(conn) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		root.Close()
	})
	return s
}

// take returns and forgets the transfers recorded so far.
func (s *ftpWireServer) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests
	s.requests = nil
	return r
}

func (s *ftpWireServer) serveConn(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	reply := func(format string, args ...any) bool {
		_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, err := fmt.Fprintf(conn, format+"\r\n", args...)
		return err == nil
	}
	var passive net.Listener
	defer func() {
		if passive != nil {
			passive.Close()
		}
	}()
	if !reply("220 ksfixture wire FTP") {
		return
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		ok := true
		switch strings.ToUpper(verb) {
		case "USER":
			ok = reply("331 any password will do")
		case "PASS":
			ok = reply("230 logged in")
		case "TYPE", "MODE", "STRU", "NOOP":
			ok = reply("200 ok")
		case "SYST":
			ok = reply("215 UNIX Type: L8")
		case "PWD":
			ok = reply(`257 "/"`)
		case "SIZE":
			if info, err := s.stat(arg); err != nil {
				ok = reply("550 %v", err)
			} else {
				ok = reply("213 %d", info.Size())
			}
		case "PASV", "EPSV":
			if passive != nil {
				passive.Close()
			}
			if passive, err = s.ns.listenTCP(s.ip + ":0"); err != nil {
				ok = reply("425 %v", err)
				break
			}
			port := passive.Addr().(*net.TCPAddr).Port
			if strings.EqualFold(verb, "EPSV") {
				ok = reply("229 Entering Extended Passive Mode (|||%d|)", port)
			} else {
				ok = reply("227 Entering Passive Mode (%s,%d,%d)", strings.ReplaceAll(s.ip, ".", ","), port>>8, port&0xff)
			}
		case "RETR":
			ok = s.retrieve(arg, passive, reply)
			if passive != nil {
				passive.Close()
				passive = nil
			}
		case "QUIT":
			reply("221 bye")
			return
		default:
			ok = reply("502 %s not implemented", verb)
		}
		if !ok {
			return
		}
	}
}

// retrieve sends name over the passive data connection and records the outcome.
func (s *ftpWireServer) retrieve(name string, passive net.Listener, reply func(string, ...any) bool) bool {
	code := 226
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, fmt.Sprintf("RETR %s %d", path.Join("/", name), code))
		s.mu.Unlock()
	}()
	if passive == nil {
		code = 425
		return reply("425 use PASV first")
	}
	f, err := s.open(name)
	if err != nil {
		code = 550
		return reply("550 %v", err)
	}
	defer f.Close()
	if !reply("150 opening binary data connection") {
		return false
	}
	_ = passive.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
	data, err := passive.Accept()
	if err != nil {
		code = 425
		return reply("425 %v", err)
	}
	_, err = io.Copy(data, f)
	if cerr := data.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		code = 426
		return reply("426 %v", err)
	}
	return reply("226 transfer complete")
}

// treePath maps an FTP path (absolute, or relative to "/") under /pub/ to a path
// inside the tree.
func treePath(name string) (string, error) {
	p := path.Join("/", name)
	rest, found := strings.CutPrefix(p, "/pub/")
	if !found || rest == "" {
		return "", fs.ErrNotExist
	}
	return rest, nil
}

func (s *ftpWireServer) stat(name string) (fs.FileInfo, error) {
	p, err := treePath(name)
	if err != nil {
		return nil, err
	}
	info, err := s.tree.Stat(p)
	if err == nil && !info.Mode().IsRegular() {
		return nil, errors.New("not a plain file")
	}
	return info, err
}

func (s *ftpWireServer) open(name string) (*os.File, error) {
	if _, err := s.stat(name); err != nil {
		return nil, err
	}
	p, _ := treePath(name)
	return s.tree.Open(p)
}
