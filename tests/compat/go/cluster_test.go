package compat

// Three nodes on 127.0.0.1-3: discovery, the token map and token-aware routing, a node killed
// and brought back.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// watchPolicy is a host selection policy that records what the driver knows of each host (added,
// up or down) and leaves the choice of hosts to the policy it wraps.
type watchPolicy struct {
	gocql.HostSelectionPolicy
	mu sync.Mutex
	up map[string]bool
}

func newWatchPolicy(inner gocql.HostSelectionPolicy) *watchPolicy {
	return &watchPolicy{HostSelectionPolicy: inner, up: map[string]bool{}}
}

func (w *watchPolicy) set(h *gocql.HostInfo, up bool) {
	w.mu.Lock()
	w.up[h.ConnectAddress().String()] = up
	w.mu.Unlock()
}

func (w *watchPolicy) AddHost(h *gocql.HostInfo) {
	w.set(h, true)
	w.HostSelectionPolicy.AddHost(h)
}

func (w *watchPolicy) RemoveHost(h *gocql.HostInfo) {
	w.mu.Lock()
	delete(w.up, h.ConnectAddress().String())
	w.mu.Unlock()
	w.HostSelectionPolicy.RemoveHost(h)
}

func (w *watchPolicy) HostUp(h *gocql.HostInfo) {
	w.set(h, true)
	w.HostSelectionPolicy.HostUp(h)
}

func (w *watchPolicy) HostDown(h *gocql.HostInfo) {
	w.set(h, false)
	w.HostSelectionPolicy.HostDown(h)
}

// hosts is the driver's view: address -> up.
func (w *watchPolicy) hosts() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]bool, len(w.up))
	for k, v := range w.up {
		out[k] = v
	}
	return out
}

// ringOwner is the node owning token t: the one with the smallest token >= t, wrapping.
type ring struct {
	tokens []int64
	owner  map[int64]string
}

func (r ring) ownerOf(t int64) string {
	i := sort.Search(len(r.tokens), func(i int) bool { return r.tokens[i] >= t })
	if i == len(r.tokens) {
		i = 0
	}
	return r.owner[r.tokens[i]]
}

// readRing reads the token map from node n's system.local and system.peers, on a connection
// to n alone.
func readRing(t *testing.T, n *Node) ring {
	t.Helper()
	c := clusterConfig(n.NativePort, 4, n.Address)
	c.DisableInitialHostLookup = true
	c.HostFilter = gocql.WhiteListHostFilter(n.Address)
	s := connect(t, c)
	r := ring{owner: map[int64]string{}}
	add := func(addr net.IP, tokens []string) {
		for _, tok := range tokens {
			v, err := strconv.ParseInt(tok, 10, 64)
			if err != nil {
				t.Fatalf("token %q: %v", tok, err)
			}
			r.tokens = append(r.tokens, v)
			r.owner[v] = addr.String()
		}
	}
	var addr net.IP
	var tokens []string
	if err := s.Query("SELECT rpc_address, tokens FROM system.local").Scan(&addr, &tokens); err != nil {
		t.Fatal(err)
	}
	add(addr, tokens)
	iter := s.Query("SELECT rpc_address, tokens FROM system.peers").Iter()
	for iter.Scan(&addr, &tokens) {
		add(addr, tokens)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	sort.Slice(r.tokens, func(i, j int) bool { return r.tokens[i] < r.tokens[j] })
	return r
}

func TestThreeNodeCluster(t *testing.T) {
	nodes := startCluster(t)
	watch := newWatchPolicy(gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy()))
	c := clusterConfig(nodes[0].NativePort, 4, nodes[0].Address)
	c.PoolConfig.HostSelectionPolicy = watch
	c.RetryPolicy = &gocql.SimpleRetryPolicy{NumRetries: 2}
	s := connect(t, c)

	t.Run("driver discovers every node", func(t *testing.T) {
		waitUntil(t, "the driver to see three live hosts", 30*time.Second, func() error {
			h := watch.hosts()
			for _, n := range nodes {
				if !h[n.Address] {
					return fmt.Errorf("hosts %v", h)
				}
			}
			return nil
		})
	})

	t.Run("token map matches the nodes' tokens and routing follows it", func(t *testing.T) {
		r := readRing(t, nodes[0])
		if len(r.tokens) != 3*16 {
			t.Fatalf("%d tokens in the ring", len(r.tokens))
		}
		// Every node reports the same ring.
		for _, n := range nodes[1:] {
			other := readRing(t, n)
			if fmt.Sprint(other.tokens) != fmt.Sprint(r.tokens) {
				t.Fatalf("%s sees another ring", n.Address)
			}
		}
		exec1(t, s, "CREATE KEYSPACE routed WITH replication = "+rf1)
		exec1(t, s, "CREATE TABLE routed.t (k int PRIMARY KEY, v int)")
		if err := s.AwaitSchemaAgreement(context.Background()); err != nil {
			t.Fatal(err)
		}
		owners := map[string]int{}
		for k := 0; k < 60; k++ {
			exec1(t, s, "INSERT INTO routed.t (k, v) VALUES (?, ?)", k, k)
			// The driver computes the token from the bound partition key and sends the query
			// to the replica that owns it; the node's token() agrees with the driver's.
			check := func() error {
				iter := s.Query("SELECT token(k), v FROM routed.t WHERE k = ?", k).Iter()
				var token int64
				var v int
				if !iter.Scan(&token, &v) {
					return fmt.Errorf("key %d: no row (%v)", k, iter.Close())
				}
				host := iter.Host()
				if err := iter.Close(); err != nil {
					return err
				}
				want := r.ownerOf(token)
				if host == nil || host.ConnectAddress().String() != want {
					return fmt.Errorf("key %d (token %d) went to %v, owner is %s", k, token, host, want)
				}
				owners[want]++
				return nil
			}
			if k == 0 {
				// The driver loads the keyspace's replica map with its first routed query.
				waitUntil(t, "token-aware routing", 10*time.Second, check)
			} else if err := check(); err != nil {
				t.Fatal(err)
			}
		}
		if len(owners) != 3 {
			t.Fatalf("60 keys reached only %v", owners)
		}
	})

	t.Run("a killed node: quorum goes on, ALL is unavailable, and it comes back", func(t *testing.T) {
		exec1(t, s, "CREATE KEYSPACE rf3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}")
		exec1(t, s, "CREATE TABLE rf3.t (k int PRIMARY KEY, v text)")
		if err := s.AwaitSchemaAgreement(context.Background()); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 50; k++ {
			if err := s.Query("INSERT INTO rf3.t (k, v) VALUES (?, ?)", k, "before").Consistency(gocql.Quorum).Exec(); err != nil {
				t.Fatal(err)
			}
		}
		dead := nodes[2]
		dead.Kill()
		waitUntil(t, "the driver to mark the killed node down", 40*time.Second, func() error {
			if up, ok := watch.hosts()[dead.Address]; !ok || up {
				return fmt.Errorf("hosts %v", watch.hosts())
			}
			return nil
		})
		for k := 0; k < 50; k++ {
			var v string
			if err := s.Query("SELECT v FROM rf3.t WHERE k = ?", k).Consistency(gocql.Quorum).Scan(&v); err != nil || v != "before" {
				t.Fatalf("key %d at QUORUM with a node dead: %q %v", k, v, err)
			}
			if err := s.Query("UPDATE rf3.t SET v = ? WHERE k = ?", "during", k).Consistency(gocql.Quorum).Exec(); err != nil {
				t.Fatalf("write %d at QUORUM with a node dead: %v", k, err)
			}
		}
		// Once the nodes' failure detectors convict it, ALL is refused up front.
		waitUntil(t, "ALL to be unavailable", 40*time.Second, func() error {
			err := s.Query("SELECT v FROM rf3.t WHERE k = 1").Consistency(gocql.All).Exec()
			var unavailable *gocql.RequestErrUnavailable
			if !errors.As(err, &unavailable) {
				return fmt.Errorf("%T %v", err, err)
			}
			if unavailable.Required != 3 || unavailable.Alive != 2 {
				return fmt.Errorf("unavailable %+v", unavailable)
			}
			return nil
		})

		dead.Start(t)
		waitUntil(t, "the driver to reconnect to the restarted node", 60*time.Second, func() error {
			if !watch.hosts()[dead.Address] {
				return fmt.Errorf("hosts %v", watch.hosts())
			}
			// Round-robin over the replicas reaches it again.
			for i := 0; i < 12; i++ {
				iter := s.Query("SELECT v FROM rf3.t WHERE k = ?", i).Consistency(gocql.One).Iter()
				host := iter.Host()
				if err := iter.Close(); err != nil {
					return err
				}
				if host != nil && host.ConnectAddress().String() == dead.Address {
					return nil
				}
			}
			return errors.New("no query reached the restarted node")
		})
		waitUntil(t, "reads at ALL to succeed again", 60*time.Second, func() error {
			for k := 0; k < 50; k++ {
				var v string
				if err := s.Query("SELECT v FROM rf3.t WHERE k = ?", k).Consistency(gocql.All).Scan(&v); err != nil {
					return err
				}
				if v != "during" {
					return fmt.Errorf("key %d reads %q at ALL", k, v)
				}
			}
			return nil
		})
	})
}
