package compat

// One node, shared by the tests of this file: connection, schema, types, prepared statements,
// paging, batches, TTL, error classes and schema metadata.

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"gopkg.in/inf.v0"
)

var (
	sharedOnce sync.Once
	shared     *Node
)

// sharedNode is the single node of this file's tests, started by the first that asks; TestMain
// kills it.
func sharedNode(t *testing.T) *Node {
	t.Helper()
	sharedOnce.Do(func() {
		addrs := clusterAddresses[:1]
		native := freePort(t, addrs)
		storage := freePort(t, addrs, native)
		admin := freePort(t, addrs, native, storage)
		shared = (&Node{
			Binary: ilionBinary(t), Address: addrs[0], Dir: tempDir(t),
			NativePort: native, StoragePort: storage, AdminPort: admin,
		}).Start(t)
	})
	if shared == nil {
		t.Fatal("the shared node did not start")
	}
	return shared
}

// session is a v4 session on the shared node, using keyspace ks (created when missing).
func session(t *testing.T, ks string) *gocql.Session {
	t.Helper()
	n := sharedNode(t)
	admin := connect(t, clusterConfig(n.NativePort, 4, n.Address))
	exec1(t, admin, fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s", ks, rf1))
	c := clusterConfig(n.NativePort, 4, n.Address)
	c.Keyspace = ks
	return connect(t, c)
}

func TestConnectsWithProtocolV4AndNegotiated(t *testing.T) {
	n := sharedNode(t)
	// gocql 1.3 speaks up to v4 (its v5 lacks v5's framing); 0 lets it negotiate, from v4.
	// Ilion serves v4 and v5 only (docs/DESIGN), so v3 is not tried.
	for _, proto := range []int{4, 0} {
		t.Run(fmt.Sprintf("v%d", proto), func(t *testing.T) {
			s := connect(t, clusterConfig(n.NativePort, proto, n.Address))
			var release, cqlVersion, partitioner string
			var native net.IP
			if err := s.Query("SELECT release_version, cql_version, partitioner, rpc_address FROM system.local").
				Scan(&release, &cqlVersion, &partitioner, &native); err != nil {
				t.Fatal(err)
			}
			if release != "4.1.3" || cqlVersion != "3.4.6" {
				t.Fatalf("release %q cql %q", release, cqlVersion)
			}
			if partitioner != "org.apache.cassandra.dht.Murmur3Partitioner" {
				t.Fatalf("partitioner %q", partitioner)
			}
			if native.String() != n.Address {
				t.Fatalf("rpc_address %v", native)
			}
			// The gossip generation: seconds since the epoch when the node started gossiping.
			var generation int
			if err := s.Query("SELECT gossip_generation FROM system.local").Scan(&generation); err != nil {
				t.Fatal(err)
			}
			if now := int(time.Now().Unix()); generation < now-3600 || generation > now {
				t.Fatalf("gossip_generation %d, now %d", generation, now)
			}
		})
	}
}

func TestSchemaLifecycleIsSeenInMetadata(t *testing.T) {
	n := sharedNode(t)
	s := connect(t, clusterConfig(n.NativePort, 4, n.Address))
	exec1(t, s, "CREATE KEYSPACE life WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes = false")
	exec1(t, s, "CREATE TYPE life.point (x int, y int)")
	exec1(t, s, "CREATE TABLE life.t (k int, c text, v frozen<point>, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c DESC) AND comment = 'lifecycle'")
	exec1(t, s, "ALTER TABLE life.t ADD extra bigint")

	waitUntil(t, "the table and its new column in gocql's metadata", 10*time.Second, func() error {
		md, err := s.KeyspaceMetadata("life")
		if err != nil {
			return err
		}
		tbl, ok := md.Tables["t"]
		if !ok {
			return fmt.Errorf("no table t in %v", md.Tables)
		}
		if _, ok := tbl.Columns["extra"]; !ok {
			return fmt.Errorf("no column extra in %v", tbl.OrderedColumns)
		}
		return nil
	})
	md, err := s.KeyspaceMetadata("life")
	if err != nil {
		t.Fatal(err)
	}
	if md.DurableWrites {
		t.Fatal("durable_writes = false is not in the metadata")
	}
	if md.StrategyClass != "org.apache.cassandra.locator.SimpleStrategy" {
		t.Fatalf("strategy %q", md.StrategyClass)
	}
	if got := fmt.Sprint(md.StrategyOptions["replication_factor"]); got != "1" {
		t.Fatalf("replication_factor %q", got)
	}
	tbl := md.Tables["t"]
	if len(tbl.PartitionKey) != 1 || tbl.PartitionKey[0].Name != "k" {
		t.Fatalf("partition key %+v", tbl.PartitionKey)
	}
	if len(tbl.ClusteringColumns) != 1 || tbl.ClusteringColumns[0].Name != "c" ||
		tbl.ClusteringColumns[0].ClusteringOrder != "desc" || tbl.ClusteringColumns[0].Order != gocql.DESC {
		t.Fatalf("clustering %+v", tbl.ClusteringColumns[0])
	}
	// gocql 1.3 parses no user type names in column types (it gives TypeCustom): the type
	// text is the check.
	if got := tbl.Columns["v"].Validator; got != "frozen<point>" {
		t.Fatalf("v is %v", got)
	}
	if got := tbl.Columns["extra"].Kind; got != gocql.ColumnRegular {
		t.Fatalf("extra is %v", got)
	}
	if ut, ok := md.UserTypes["point"]; !ok || !reflect.DeepEqual(ut.FieldNames, []string{"x", "y"}) {
		t.Fatalf("user types %+v", md.UserTypes)
	}

	exec1(t, s, "ALTER TABLE life.t DROP extra")
	exec1(t, s, "DROP TABLE life.t")
	exec1(t, s, "DROP TYPE life.point")
	waitUntil(t, "the dropped table to leave the metadata", 10*time.Second, func() error {
		md, err := s.KeyspaceMetadata("life")
		if err != nil {
			return err
		}
		if len(md.Tables) != 0 || len(md.UserTypes) != 0 {
			return fmt.Errorf("still %v, %v", md.Tables, md.UserTypes)
		}
		return nil
	})
	exec1(t, s, "DROP KEYSPACE life")
	waitUntil(t, "the dropped keyspace to leave the metadata", 10*time.Second, func() error {
		_, err := s.KeyspaceMetadata("life")
		if errors.Is(err, gocql.ErrKeyspaceDoesNotExist) {
			return nil
		}
		return fmt.Errorf("KeyspaceMetadata: %v", err)
	})
}

func TestSchemaMetadataLoadsForEveryKeyspace(t *testing.T) {
	s := session(t, "meta")
	exec1(t, s, "CREATE TYPE IF NOT EXISTS addr (street text, num int)")
	exec1(t, s, "CREATE TABLE IF NOT EXISTS meta.people (id uuid PRIMARY KEY, name text, home frozen<addr>, tags set<text> )")
	exec1(t, s, "CREATE TABLE IF NOT EXISTS meta.events (a int, b int, at timestamp, body text, PRIMARY KEY ((a, b), at)) WITH default_time_to_live = 60 AND gc_grace_seconds = 3600")
	// The system keyspaces load too: gocql reads keyspaces, tables, columns, views, types,
	// functions and aggregates for each (the views query is the one that failed, issue #29).
	for _, ks := range []string{"system", "system_schema", "system_auth", "meta"} {
		md, err := s.KeyspaceMetadata(ks)
		if err != nil {
			t.Fatalf("%s: %v", ks, err)
		}
		if len(md.Tables) == 0 {
			t.Fatalf("%s has no tables", ks)
		}
		if len(md.MaterializedViews) != 0 || len(md.Functions) != 0 || len(md.Aggregates) != 0 {
			t.Fatalf("%s: views %v functions %v aggregates %v", ks, md.MaterializedViews, md.Functions, md.Aggregates)
		}
	}
	md, err := s.KeyspaceMetadata("meta")
	if err != nil {
		t.Fatal(err)
	}
	ev := md.Tables["events"]
	if names(ev.PartitionKey) != "a,b" || names(ev.ClusteringColumns) != "at" {
		t.Fatalf("events key: %s / %s", names(ev.PartitionKey), names(ev.ClusteringColumns))
	}
	people := md.Tables["people"]
	if got := people.Columns["tags"].Type.Type(); got != gocql.TypeSet {
		t.Fatalf("tags is %v", got)
	}
	if got := people.Columns["home"].Validator; got != "frozen<addr>" {
		t.Fatalf("home is %v", got)
	}
	schema := md.Tables["people"]
	if schema.Keyspace != "meta" || len(schema.OrderedColumns) != 4 {
		t.Fatalf("people: %+v", schema.OrderedColumns)
	}
	sm, err := s.KeyspaceMetadata("system_schema")
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"dclocal_read_repair_chance", "read_repair_chance", "memtable"} {
		if _, ok := sm.Tables["views"].Columns[col]; !ok {
			t.Fatalf("system_schema.views has no %s column", col)
		}
	}
	// The driver-only columns hold Cassandra's value.
	var dclocal, chance float64
	if err := s.Query("SELECT dclocal_read_repair_chance, read_repair_chance FROM system_schema.tables WHERE keyspace_name = 'meta' AND table_name = 'people'").
		Scan(&dclocal, &chance); err != nil {
		t.Fatal(err)
	}
	if dclocal != 0 || chance != 0 {
		t.Fatalf("read repair chances %v %v", dclocal, chance)
	}
}

func names(cols []*gocql.ColumnMetadata) string {
	var out []string
	for _, c := range cols {
		out = append(out, c.Name)
	}
	return strings.Join(out, ",")
}

type addr struct {
	Street string   `cql:"street"`
	Num    int      `cql:"num"`
	Tags   []string `cql:"tags"`
}

type pair struct {
	A int
	B string
}

func TestEveryTypeRoundTrips(t *testing.T) {
	s := session(t, "types")
	exec1(t, s, "CREATE TYPE IF NOT EXISTS addr (street text, num int, tags frozen<set<text>>)")
	exec1(t, s, `CREATE TABLE IF NOT EXISTS every (k int PRIMARY KEY,
		c_ascii ascii, c_bigint bigint, c_blob blob, c_boolean boolean, c_date date,
		c_decimal decimal, c_double double, c_duration duration, c_float float, c_inet inet,
		c_int int, c_smallint smallint, c_text text, c_time time, c_timestamp timestamp,
		c_timeuuid timeuuid, c_tinyint tinyint, c_uuid uuid, c_varchar varchar, c_varint varint,
		c_list list<int>, c_set set<text>, c_map map<text, bigint>,
		c_frozen frozen<list<frozen<map<int, text>>>>, c_tuple tuple<int, text>, c_udt frozen<addr>,
		c_udts list<frozen<addr>>)`)

	ts := time.Date(2011, 2, 3, 4, 5, 6, 789000000, time.UTC)
	timeuuid := gocql.UUIDFromTime(ts)
	id, _ := gocql.ParseUUID("123e4567-e89b-42d3-a456-556642440000")
	varint, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	dec, _ := new(inf.Dec).SetString("-12345678901234567890.0125")
	want := map[string]interface{}{
		"c_ascii":     "plain ascii",
		"c_bigint":    int64(-1 << 62),
		"c_blob":      []byte{0, 0xff, 'b'},
		"c_boolean":   true,
		"c_date":      time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"c_decimal":   dec,
		"c_double":    2.5e-300,
		"c_duration":  gocql.Duration{Months: 14, Days: 3, Nanoseconds: 3600000000001},
		"c_float":     float32(1.5),
		"c_inet":      net.ParseIP("2001:db8::1"),
		"c_int":       int32(-1 << 31),
		"c_smallint":  int16(32767),
		"c_text":      "héllo 'wörld'",
		"c_time":      13*time.Hour + 14*time.Minute + 15*time.Second + 123456*time.Microsecond,
		"c_timestamp": ts,
		"c_timeuuid":  timeuuid,
		"c_tinyint":   int8(-128),
		"c_uuid":      id,
		"c_varchar":   "varchar",
		"c_varint":    varint,
		"c_list":      []int{3, 1, 2, 1},
		"c_set":       []string{"a", "b", "c"},
		"c_map":       map[string]int64{"x": 1, "y": -2},
		"c_frozen":    []map[int]string{{1: "one"}, {2: "two", 3: "three"}},
		"c_udt":       addr{"Main St", 12, []string{"home", "work"}},
		"c_udts":      []addr{{"A", 1, []string{}}, {"B", 2, []string{"x"}}},
	}
	cols := make([]string, 0, len(want))
	for c := range want {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	marks := ""
	values := []interface{}{1}
	for _, c := range cols {
		marks += ", ?"
		values = append(values, want[c])
	}
	exec1(t, s, fmt.Sprintf("INSERT INTO every (k, %s) VALUES (?%s)", strings.Join(cols, ","), marks), values...)
	// gocql 1.3 counts a bound tuple as one value per element (its own bug), so the tuple is
	// written as a literal; reading it back goes through the driver's decoder.
	exec1(t, s, "UPDATE every SET c_tuple = (7, 'seven') WHERE k = 1")

	row := map[string]interface{}{}
	if err := s.Query("SELECT * FROM every WHERE k = 1").MapScan(row); err != nil {
		t.Fatal(err)
	}
	// MapScan gives gocql's natural Go type for each column; compare each against the value
	// written, converted the same way.
	check := func(col string, got, exp interface{}) {
		t.Helper()
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s: got %#v, want %#v", col, got, exp)
		}
	}
	check("c_ascii", row["c_ascii"], "plain ascii")
	check("c_bigint", row["c_bigint"], int64(-1<<62))
	check("c_blob", row["c_blob"], []byte{0, 0xff, 'b'})
	check("c_boolean", row["c_boolean"], true)
	check("c_date", row["c_date"], time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC))
	if got := row["c_decimal"].(*inf.Dec); got.Cmp(dec) != 0 {
		t.Errorf("c_decimal: got %v", got)
	}
	check("c_double", row["c_double"], 2.5e-300)
	check("c_duration", row["c_duration"], gocql.Duration{Months: 14, Days: 3, Nanoseconds: 3600000000001})
	check("c_float", row["c_float"], float32(1.5))
	if got := row["c_inet"].(string); got != "2001:db8::1" {
		t.Errorf("c_inet: got %v", got)
	}
	check("c_int", row["c_int"], int(-1<<31))
	check("c_smallint", row["c_smallint"], int16(32767))
	check("c_text", row["c_text"], "héllo 'wörld'")
	check("c_time", row["c_time"], 13*time.Hour+14*time.Minute+15*time.Second+123456*time.Microsecond)
	check("c_timestamp", row["c_timestamp"].(time.Time).UTC(), ts)
	check("c_timeuuid", row["c_timeuuid"], timeuuid)
	check("c_tinyint", row["c_tinyint"], int8(-128))
	check("c_uuid", row["c_uuid"], id)
	check("c_varchar", row["c_varchar"], "varchar")
	if got := row["c_varint"].(*big.Int); got.Cmp(varint) != 0 {
		t.Errorf("c_varint: got %v", got)
	}
	check("c_list", row["c_list"], []int{3, 1, 2, 1})
	check("c_set", row["c_set"], []string{"a", "b", "c"})
	check("c_map", row["c_map"], map[string]int64{"x": 1, "y": -2})
	check("c_frozen", row["c_frozen"], []map[int]string{{1: "one"}, {2: "two", 3: "three"}})
	check("c_tuple[0]", row["c_tuple[0]"], 7)
	check("c_tuple[1]", row["c_tuple[1]"], "seven")
	check("c_udt", row["c_udt"], map[string]interface{}{"street": "Main St", "num": 12, "tags": []string{"home", "work"}})

	// Typed scans into Go structs (the user types) and one destination per tuple element (how
	// gocql 1.3 reads a tuple).
	var udts []addr
	var tupleInt int
	var tupleText string
	var home addr
	if err := s.Query("SELECT c_udts, c_tuple, c_udt FROM every WHERE k = 1").Scan(&udts, &tupleInt, &tupleText, &home); err != nil {
		t.Fatal(err)
	}
	// A frozen empty set is a value (not null), as in Cassandra.
	check("c_udts", udts, []addr{{"A", 1, []string{}}, {"B", 2, []string{"x"}}})
	check("c_tuple", pair{tupleInt, tupleText}, pair{7, "seven"})
	check("c_udt", home, addr{"Main St", 12, []string{"home", "work"}})

	// Nulls read back as Go's zero values, and as nil through MapScan of a pointer.
	exec1(t, s, "INSERT INTO every (k) VALUES (2)")
	var text *string
	var n *int
	if err := s.Query("SELECT c_text, c_int FROM every WHERE k = 2").Scan(&text, &n); err != nil {
		t.Fatal(err)
	}
	if text != nil || n != nil {
		t.Fatalf("nulls read as %v %v", text, n)
	}

}

func TestPreparedStatementsBindAndReuse(t *testing.T) {
	s := session(t, "prep")
	exec1(t, s, "CREATE TABLE IF NOT EXISTS kv (k int, c int, v text, PRIMARY KEY (k, c))")
	// gocql prepares every statement with bound values and caches the id; 200 executions of
	// one text reuse one prepared statement.
	for i := 0; i < 200; i++ {
		exec1(t, s, "INSERT INTO kv (k, c, v) VALUES (?, ?, ?)", i%4, i, fmt.Sprintf("v%d", i))
	}
	var count int
	if err := s.Query("SELECT count(*) FROM kv WHERE k = ?", 1).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != 50 {
		t.Fatalf("count %d", count)
	}
	// A range bound on the clustering column, with a LIMIT bound too.
	iter := s.Query("SELECT c, v FROM kv WHERE k = ? AND c >= ? AND c < ? LIMIT ?", 2, 10, 100, 5).Iter()
	var cs []int
	var c int
	var v string
	for iter.Scan(&c, &v) {
		if v != fmt.Sprintf("v%d", c) {
			t.Fatalf("row %d holds %q", c, v)
		}
		cs = append(cs, c)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cs, []int{10, 14, 18, 22, 26}) {
		t.Fatalf("rows %v", cs)
	}
	// A bound null deletes the cell; an unset value leaves it as it was.
	exec1(t, s, "UPDATE kv SET v = ? WHERE k = ? AND c = ?", nil, 0, 0)
	exec1(t, s, "UPDATE kv SET v = ? WHERE k = ? AND c = ?", gocql.UnsetValue, 0, 4)
	var v0, v4 *string
	if err := s.Query("SELECT v FROM kv WHERE k = 0 AND c = 0").Scan(&v0); err != nil {
		t.Fatal(err)
	}
	if err := s.Query("SELECT v FROM kv WHERE k = 0 AND c = 4").Scan(&v4); err != nil {
		t.Fatal(err)
	}
	if v0 != nil || v4 == nil || *v4 != "v4" {
		t.Fatalf("after null and unset: %v %v", v0, v4)
	}
	// A prepared statement survives the table changing under it: a column added after
	// preparing shows up in a fresh SELECT *.
	exec1(t, s, "ALTER TABLE kv ADD w int")
	exec1(t, s, "UPDATE kv SET w = ? WHERE k = ? AND c = ?", 9, 3, 3)
	var w int
	if err := s.Query("SELECT w FROM kv WHERE k = ? AND c = ?", 3, 3).Scan(&w); err != nil {
		t.Fatal(err)
	}
	if w != 9 {
		t.Fatalf("w %d", w)
	}
}

func TestPagingThroughTenThousandRows(t *testing.T) {
	s := session(t, "paging")
	exec1(t, s, "CREATE TABLE IF NOT EXISTS rows (p int, c int, v int, PRIMARY KEY (p, c))")
	// 100 partitions of 100 rows, one unlogged batch per partition, 8 writers at once.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for p := w; p < 100; p += 8 {
				b := s.NewBatch(gocql.UnloggedBatch)
				for c := 0; c < 100; c++ {
					b.Query("INSERT INTO rows (p, c, v) VALUES (?, ?, ?)", p, c, p*100+c)
				}
				if err := s.ExecuteBatch(b); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// The driver follows the paging state by itself.
	iter := s.Query("SELECT v FROM rows").PageSize(1000).Iter()
	seen := make([]bool, 10000)
	var v, total int
	for iter.Scan(&v) {
		if seen[v] {
			t.Fatalf("row %d twice", v)
		}
		seen[v] = true
		total++
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	if total != 10000 {
		t.Fatalf("paged through %d rows", total)
	}

	// Page by page with an explicit paging state: full pages of 999, then the rest.
	var state []byte
	pages, rows := 0, 0
	for {
		iter := s.Query("SELECT p, c FROM rows").PageSize(999).PageState(state).Iter()
		n := iter.NumRows()
		if n > 999 {
			t.Fatalf("a page of %d rows", n)
		}
		rows += n
		pages++
		state = iter.PageState()
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
		if len(state) == 0 {
			break
		}
		if pages > 20 {
			t.Fatal("paging does not end")
		}
	}
	if rows != 10000 || pages != 11 {
		t.Fatalf("%d rows in %d pages", rows, pages)
	}

	// Within one partition, in clustering order, across pages of 7.
	iter = s.Query("SELECT c FROM rows WHERE p = ?", 42).PageSize(7).Iter()
	want := 0
	var c int
	for iter.Scan(&c) {
		if c != want {
			t.Fatalf("row %d where %d was due", c, want)
		}
		want++
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	if want != 100 {
		t.Fatalf("%d rows in partition 42", want)
	}
}

func TestBatches(t *testing.T) {
	s := session(t, "batches")
	exec1(t, s, "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text)")
	exec1(t, s, "CREATE TABLE IF NOT EXISTS by_name (name text PRIMARY KEY, id int)")

	logged := s.NewBatch(gocql.LoggedBatch)
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("user%d", i)
		logged.Query("INSERT INTO users (id, name) VALUES (?, ?)", i, name)
		logged.Query("INSERT INTO by_name (name, id) VALUES (?, ?)", name, i)
	}
	if err := s.ExecuteBatch(logged); err != nil {
		t.Fatal(err)
	}
	var id int
	if err := s.Query("SELECT id FROM by_name WHERE name = ?", "user7").Scan(&id); err != nil || id != 7 {
		t.Fatalf("by_name user7: %d %v", id, err)
	}

	unlogged := s.NewBatch(gocql.UnloggedBatch)
	unlogged.Query("UPDATE users SET name = ? WHERE id = ?", "renamed", 3)
	unlogged.Query("DELETE FROM users WHERE id = ?", 4)
	if err := s.ExecuteBatch(unlogged); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := s.Query("SELECT name FROM users WHERE id = 3").Scan(&name); err != nil || name != "renamed" {
		t.Fatalf("user 3: %q %v", name, err)
	}
	if err := s.Query("SELECT name FROM users WHERE id = 4").Scan(&name); !errors.Is(err, gocql.ErrNotFound) {
		t.Fatalf("user 4 after the delete: %v", err)
	}

	// A write timestamp given to the batch applies to each statement in it.
	stamped := s.NewBatch(gocql.LoggedBatch)
	stamped.WithTimestamp(1_000_000)
	stamped.Query("INSERT INTO users (id, name) VALUES (?, ?)", 100, "old")
	if err := s.ExecuteBatch(stamped); err != nil {
		t.Fatal(err)
	}
	var wt int64
	if err := s.Query("SELECT WRITETIME(name) FROM users WHERE id = 100").Scan(&wt); err != nil || wt != 1_000_000 {
		t.Fatalf("writetime %d %v", wt, err)
	}

	// A batch with a statement on a table that does not exist is refused whole.
	bad := s.NewBatch(gocql.LoggedBatch)
	bad.Query("INSERT INTO users (id, name) VALUES (?, ?)", 200, "never")
	bad.Query("INSERT INTO no_such_table (id) VALUES (?)", 200)
	err := s.ExecuteBatch(bad)
	if re := requestError(t, err); re.Code() != gocql.ErrCodeInvalid {
		t.Fatalf("batch on a missing table: %v", err)
	}
	if err := s.Query("SELECT name FROM users WHERE id = 200").Scan(&name); !errors.Is(err, gocql.ErrNotFound) {
		t.Fatalf("a statement of the refused batch was applied: %v", err)
	}
}

func TestTTLExpiresRows(t *testing.T) {
	s := session(t, "ttl")
	exec1(t, s, "CREATE TABLE IF NOT EXISTS cache (k int PRIMARY KEY, v text)")
	exec1(t, s, "CREATE TABLE IF NOT EXISTS short (k int PRIMARY KEY, v text) WITH default_time_to_live = 2")
	exec1(t, s, "INSERT INTO cache (k, v) VALUES (?, ?) USING TTL ?", 1, "gone soon", 2)
	exec1(t, s, "INSERT INTO cache (k, v) VALUES (?, ?) USING TTL ?", 2, "stays", 3600)
	exec1(t, s, "INSERT INTO short (k, v) VALUES (?, ?)", 1, "default ttl")
	var ttl int
	if err := s.Query("SELECT TTL(v) FROM cache WHERE k = 2").Scan(&ttl); err != nil {
		t.Fatal(err)
	}
	if ttl <= 3500 || ttl > 3600 {
		t.Fatalf("ttl %d", ttl)
	}
	if err := s.Query("SELECT TTL(v) FROM short WHERE k = 1").Scan(&ttl); err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > 2 {
		t.Fatalf("default ttl %d", ttl)
	}
	waitUntil(t, "the rows with a 2 s TTL to expire", 10*time.Second, func() error {
		var v string
		for _, table := range []string{"cache", "short"} {
			if err := s.Query("SELECT v FROM " + table + " WHERE k = 1").Scan(&v); !errors.Is(err, gocql.ErrNotFound) {
				return fmt.Errorf("%s: %q %v", table, v, err)
			}
		}
		return nil
	})
	var v string
	if err := s.Query("SELECT v FROM cache WHERE k = 2").Scan(&v); err != nil || v != "stays" {
		t.Fatalf("row 2: %q %v", v, err)
	}
}

func TestErrorClasses(t *testing.T) {
	s := session(t, "errs")
	exec1(t, s, "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY, v int)")

	err := s.Query("SELEC * FROM t").Exec()
	if re := requestError(t, err); re.Code() != gocql.ErrCodeSyntax {
		t.Fatalf("syntax error: %v (code %#x)", err, re.Code())
	}

	err = s.Query("SELECT * FROM no_such_table").Exec()
	if re := requestError(t, err); re.Code() != gocql.ErrCodeInvalid {
		t.Fatalf("unknown table: %v (code %#x)", err, re.Code())
	}

	err = s.Query("INSERT INTO t (k, v) VALUES (1, 'text')").Exec()
	if re := requestError(t, err); re.Code() != gocql.ErrCodeInvalid {
		t.Fatalf("wrong type: %v (code %#x)", err, re.Code())
	}

	err = s.Query("CREATE TABLE t (k int PRIMARY KEY)").Exec()
	var exists *gocql.RequestErrAlreadyExists
	if !errors.As(err, &exists) || exists.Keyspace != "errs" || exists.Table != "t" {
		t.Fatalf("existing table: %T %v", err, err)
	}

	// Three replicas wanted, one node alive: QUORUM cannot be met.
	exec1(t, s, "CREATE KEYSPACE IF NOT EXISTS errs3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}")
	exec1(t, s, "CREATE TABLE IF NOT EXISTS errs3.t (k int PRIMARY KEY, v int)")
	err = s.Query("INSERT INTO errs3.t (k, v) VALUES (1, 1)").Consistency(gocql.Quorum).Exec()
	var unavailable *gocql.RequestErrUnavailable
	if !errors.As(err, &unavailable) || unavailable.Required != 2 || unavailable.Alive != 1 ||
		unavailable.Consistency != gocql.Quorum {
		t.Fatalf("quorum of 3 on one node: %T %v", err, err)
	}

	// No row is the driver's ErrNotFound, not a server error.
	var v int
	if err := s.Query("SELECT v FROM t WHERE k = 404").Scan(&v); !errors.Is(err, gocql.ErrNotFound) {
		t.Fatalf("missing row: %v", err)
	}
}

// The restart test gets a node of its own: it kills it.
func TestReconnectsAfterTheNodeRestarts(t *testing.T) {
	n := startNode(t)
	s := connect(t, clusterConfig(n.NativePort, 4, n.Address))
	exec1(t, s, "CREATE KEYSPACE again WITH replication = "+rf1)
	exec1(t, s, "CREATE TABLE again.t (k int PRIMARY KEY, v text)")
	exec1(t, s, "INSERT INTO again.t (k, v) VALUES (1, 'before')")

	// A clean restart (SIGTERM); the cluster test kills a node outright.
	n.Stop(t)
	if err := s.Query("SELECT v FROM again.t WHERE k = 1").Exec(); err == nil {
		t.Fatal("a query succeeded with the only node dead")
	}
	n.Start(t)
	waitUntil(t, "the session to reconnect", 30*time.Second, func() error {
		var v string
		if err := s.Query("SELECT v FROM again.t WHERE k = 1").Scan(&v); err != nil {
			return err
		}
		if v != "before" {
			return fmt.Errorf("read %q", v)
		}
		return nil
	})
	exec1(t, s, "INSERT INTO again.t (k, v) VALUES (2, 'after')")
}
