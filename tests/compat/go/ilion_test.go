// Package compat runs gocql, the Go driver, against real `ilion` processes.
//
// The binary comes from $ILION_BIN (`cargo xtask drivers go` sets it to the debug build the
// Rust tests made). Every node gets a fresh temporary data directory, free ports for each
// listener (admin included) and a process group of its own; every node this package started is
// killed when the tests end, pass or fail, and on SIGINT/SIGTERM.
//
// gocql comes from Debian's golang-github-gocql-gocql-dev (1.3.2) and builds offline in GOPATH
// mode against /usr/share/gocode; see xtask/src/drivers.rs.
package compat

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// A three-node cluster runs on these loopback addresses (Linux routes all of 127/8 to lo).
var clusterAddresses = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}

const rf1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"

var (
	runningMu sync.Mutex
	running   = map[*Node]struct{}{}
	tempDirs  []string
)

func TestMain(m *testing.M) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-signals
		cleanUp()
		os.Exit(130)
	}()
	code := m.Run()
	cleanUp()
	os.Exit(code)
}

// cleanUp kills every node still running and removes the temporary directories.
func cleanUp() {
	runningMu.Lock()
	nodes := make([]*Node, 0, len(running))
	for n := range running {
		nodes = append(nodes, n)
	}
	dirs := tempDirs
	tempDirs = nil
	runningMu.Unlock()
	for _, n := range nodes {
		n.Kill()
	}
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}

func ilionBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("ILION_BIN")
	if bin == "" {
		t.Fatal("ILION_BIN is not set: run `cargo xtask drivers go`, or point it at an ilion binary")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("ilion binary not found at %s: %v", bin, err)
	}
	return bin
}

func tempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ilion-compat-go-")
	if err != nil {
		t.Fatal(err)
	}
	runningMu.Lock()
	tempDirs = append(tempDirs, dir)
	runningMu.Unlock()
	return dir
}

// freePort returns a TCP port free on every one of addrs, different from each of avoid.
func freePort(t testing.TB, addrs []string, avoid ...int) int {
	t.Helper()
next:
	for attempt := 0; attempt < 50; attempt++ {
		l, err := net.Listen("tcp", net.JoinHostPort(addrs[0], "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		for _, a := range avoid {
			if a == port {
				continue next
			}
		}
		for _, a := range addrs[1:] {
			other, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				continue next
			}
			other.Close()
		}
		return port
	}
	t.Fatalf("no port free on all of %v", addrs)
	return 0
}

// Node is one ilion process: started, killed and restarted on the same data and ports.
type Node struct {
	Binary      string
	Address     string
	NativePort  int
	StoragePort int
	AdminPort   int
	Dir         string
	// Further flags: a cluster's name, seeds and configuration file.
	Args []string

	cmd  *exec.Cmd
	done chan struct{}
}

// Start spawns the node and waits until it accepts CQL connections.
func (n *Node) Start(t testing.TB) *Node {
	t.Helper()
	log, err := os.OpenFile(n.logPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		"--data-dir", filepath.Join(n.Dir, "data"),
		"--listen-address", n.Address,
		"--native-port", strconv.Itoa(n.NativePort),
		"--storage-port", strconv.Itoa(n.StoragePort),
		"--admin-port", strconv.Itoa(n.AdminPort),
	}, n.Args...)
	cmd := exec.Command(n.Binary, args...)
	cmd.Stdout = log
	cmd.Stderr = log
	// Its own process group: a Ctrl-C meant for `go test` never reaches the node, which only
	// this package stops. Pdeathsig kills it should the test process die without cleaning up
	// (a panicking test ends the process before TestMain's clean-up runs).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("cannot start %s: %v", n.Binary, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		log.Close()
		close(done)
	}()
	n.cmd, n.done = cmd, done
	runningMu.Lock()
	running[n] = struct{}{}
	runningMu.Unlock()

	addr := net.JoinHostPort(n.Address, strconv.Itoa(n.NativePort))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("ilion on %s exited with %v:\n%s", n.Address, cmd.ProcessState, n.Log())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond); err == nil {
			c.Close()
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.Kill()
	t.Fatalf("ilion on %s did not accept CQL connections in 30s:\n%s", n.Address, n.Log())
	return nil
}

// Kill sends SIGKILL to the node's process group and waits for the process to end.
func (n *Node) Kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.done:
		// Already ended (and reaped): its process group id may belong to another by now.
	default:
		syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.done
	}
	runningMu.Lock()
	delete(running, n)
	runningMu.Unlock()
}

// Stop sends SIGTERM, the clean shutdown path, and waits up to 30 s before killing.
func (n *Node) Stop(t testing.TB) {
	t.Helper()
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		n.Kill()
		t.Fatalf("ilion on %s did not stop in 30 s after SIGTERM:\n%s", n.Address, n.Log())
	}
	runningMu.Lock()
	delete(running, n)
	runningMu.Unlock()
}

func (n *Node) logPath() string { return filepath.Join(n.Dir, "ilion.log") }

// Log is the end of the node's log, for failure messages.
func (n *Node) Log() string {
	b, err := os.ReadFile(n.logPath())
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// startNode starts a single node on 127.0.0.1 that is killed when t ends.
func startNode(t testing.TB) *Node {
	t.Helper()
	addrs := clusterAddresses[:1]
	native := freePort(t, addrs)
	storage := freePort(t, addrs, native)
	admin := freePort(t, addrs, native, storage)
	dir := tempDir(t)
	n := (&Node{
		Binary: ilionBinary(t), Address: addrs[0], Dir: dir,
		NativePort: native, StoragePort: storage, AdminPort: admin,
	}).Start(t)
	t.Cleanup(n.Kill)
	return n
}

// startCluster starts three nodes on 127.0.0.1-3 (node 1 is the seed), with the same ports on
// each address and fast failure detection, and waits until each lists the other two as peers.
func startCluster(t testing.TB) []*Node {
	t.Helper()
	native := freePort(t, clusterAddresses)
	storage := freePort(t, clusterAddresses, native)
	admin := freePort(t, clusterAddresses, native, storage)
	root := tempDir(t)
	bin := ilionBinary(t)
	var nodes []*Node
	for i, addr := range clusterAddresses {
		dir := filepath.Join(root, fmt.Sprintf("node%d", i+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		config := filepath.Join(dir, "ilion.yaml")
		// Fast failure detection (docs/gossip.md): a killed node is DOWN in about 10 s.
		if err := os.WriteFile(config, []byte("phi_convict_threshold: 3.5\ngossip_fanout: 3\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		n := &Node{
			Binary: bin, Address: addr, Dir: dir,
			NativePort: native, StoragePort: storage, AdminPort: admin,
			Args: []string{
				"--config", config,
				"--cluster-name", "compat-go",
				"--seeds", clusterAddresses[0],
			},
		}
		nodes = append(nodes, n.Start(t))
		t.Cleanup(n.Kill)
	}
	waitUntil(t, "every node to list the other two in system.peers", 60*time.Second, func() error {
		for _, n := range nodes {
			if err := peersAre(n, nodes); err != nil {
				return err
			}
		}
		return nil
	})
	return nodes
}

// peersAre checks, on a connection to n alone, that n's system.peers lists the other nodes.
func peersAre(n *Node, all []*Node) error {
	c := gocql.NewCluster(n.Address)
	c.Port = n.NativePort
	c.ProtoVersion = 4
	c.DisableInitialHostLookup = true
	c.HostFilter = gocql.WhiteListHostFilter(n.Address)
	c.Timeout, c.ConnectTimeout = 5*time.Second, 5*time.Second
	s, err := c.CreateSession()
	if err != nil {
		return err
	}
	defer s.Close()
	iter := s.Query("SELECT peer FROM system.peers").Iter()
	seen := map[string]bool{}
	var peer net.IP
	for iter.Scan(&peer) {
		seen[peer.String()] = true
	}
	if err := iter.Close(); err != nil {
		return err
	}
	for _, m := range all {
		if m != n && !seen[m.Address] {
			return fmt.Errorf("%s does not list %s yet (lists %v)", n.Address, m.Address, seen)
		}
	}
	if len(seen) != len(all)-1 {
		return fmt.Errorf("%s lists %v", n.Address, seen)
	}
	return nil
}

// waitUntil polls f every 200 ms until it returns nil, failing t with f's last error after
// timeout.
func waitUntil(t testing.TB, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = f(); last == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last: %v", timeout, what, last)
}

// clusterConfig is gocql's configuration for nodes listening on port, with bounded timeouts.
func clusterConfig(port, proto int, hosts ...string) *gocql.ClusterConfig {
	c := gocql.NewCluster(hosts...)
	c.Port = port
	c.ProtoVersion = proto
	c.Timeout = 10 * time.Second
	c.ConnectTimeout = 10 * time.Second
	c.Consistency = gocql.One
	// Try DOWN hosts again every second, so a restarted node is back in a test's time.
	c.ReconnectInterval = time.Second
	return c
}

func connect(t testing.TB, c *gocql.ClusterConfig) *gocql.Session {
	t.Helper()
	s, err := c.CreateSession()
	if err != nil {
		t.Fatalf("cannot connect to %v: %v", c.Hosts, err)
	}
	t.Cleanup(s.Close)
	return s
}

func exec1(t testing.TB, s *gocql.Session, stmt string, values ...interface{}) {
	t.Helper()
	if err := s.Query(stmt, values...).Exec(); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// requestError is the server's error behind err, failing t when err is not one.
func requestError(t testing.TB, err error) gocql.RequestError {
	t.Helper()
	var re gocql.RequestError
	if !errors.As(err, &re) {
		t.Fatalf("want a server error, got %T: %v", err, err)
	}
	return re
}
