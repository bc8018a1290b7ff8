package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/sourcegraph/conc/pool"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
)

// Node a holds every table once, in database benchDB. Node b holds one database per difference
// fraction, cloned from the identical copy, so every case compares the same table name and no case
// disturbs another.
const benchDB = "bench"

// fractionDB is node b's database holding the tables with the given fraction of rows changed.
func fractionDB(f float64) string {
	switch f {
	case 0:
		return "f0"
	case 1:
		return "f100"
	}
	return "f03"
}

func tableName(n int64) string { return "t_" + sizeLabel(n) }

// serverSettings are the benchmark's postgresql.conf lines; everything else keeps the server default
// (parallel query included), because users run rowdiff against servers configured like that.
func serverSettings(logStatements bool) map[string]string {
	s := map[string]string{"shared_buffers": "512MB", "work_mem": "64MB"}
	if logStatements {
		s["log_min_duration_statement"] = "0"
	}
	return s
}

// createSQL is the benchmark table: the shape of a typical orders table.
func createSQL(t string) string {
	return fmt.Sprintf(`CREATE TABLE %s (id bigint NOT NULL, qty int, status text, amount numeric(12,2),
		created timestamptz, note text, doc jsonb)`, pgx.Identifier{t}.Sanitize())
}

// rowsSQL produces the generated rows for the bigint expression g (the row's sequence number; its key
// is 2*g, so the odd keys are free for rows inserted only on node b). Every value is a function of g,
// so the data is the same on every run. note is about 40 bytes and NULL on every 50th row, doc is a
// small jsonb object.
func rowsSQL(g, id string) string {
	return fmt.Sprintf(`SELECT %[2]s,
		((%[1]s * 7919) %% 1000)::int,
		(ARRAY['new','paid','shipped','cancelled','returned'])[1 + %[1]s %% 5],
		((%[1]s * 104729) %% 10000000) / 100.0,
		timestamptz '2024-01-01 00:00:00+00' + %[1]s * interval '17 seconds',
		CASE WHEN %[1]s %% 50 = 0 THEN NULL ELSE 'note ' || md5(%[1]s::text) || ' #' || (%[1]s %% 100) END,
		jsonb_build_object('k', %[1]s %% 97, 'tag', 'x' || (%[1]s %% 13), 'ok', %[1]s %% 2 = 0)`, g, id)
}

// setup is the loaded pair of clusters.
type setup struct {
	a, b *pgcluster.Cluster
	// pgcmp says why pg_comparator cannot run ("" when it can).
	pgcmp string
}

// load creates the tables of every size on node a with INSERT ... SELECT generate_series, copies each
// to node b with binary COPY, clones node b's copy once per difference fraction and plants the
// differences, then VACUUM ANALYZEs everything.
func load(ctx context.Context, s *setup, sizes []int64, fractions []float64, seed uint64) error {
	if err := s.a.CreateDB(ctx, benchDB); err != nil {
		return err
	}
	if err := s.b.CreateDB(ctx, fractionDB(0)); err != nil {
		return err
	}
	if s.pgcmp == "" {
		// Created before node b's clones, so they inherit it.
		for _, c := range []struct {
			cl *pgcluster.Cluster
			db string
		}{{s.a, benchDB}, {s.b, fractionDB(0)}} {
			if err := c.cl.Exec(ctx, c.db, "CREATE EXTENSION pgcmp"); err != nil {
				s.pgcmp = "pgcmp extension unusable: " + err.Error()
			}
		}
	}
	for _, n := range sizes {
		t := tableName(n)
		logf("loading %s (%d rows) on node a", t, n)
		ins := fmt.Sprintf("INSERT INTO %s %s FROM generate_series(1::bigint, %d) g", pgx.Identifier{t}.Sanitize(), rowsSQL("g", "2 * g"), n)
		pk := fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (id)", pgx.Identifier{t}.Sanitize())
		if err := s.a.Exec(ctx, benchDB, createSQL(t)+";"+ins+";"+pk); err != nil {
			return err
		}
		logf("copying %s to node b", t)
		if err := s.b.Exec(ctx, fractionDB(0), createSQL(t)); err != nil {
			return err
		}
		if err := copyTable(ctx, s.a.DSN(benchDB), s.b.DSN(fractionDB(0)), t); err != nil {
			return fmt.Errorf("copy %s to node b: %w", t, err)
		}
		if err := s.b.Exec(ctx, fractionDB(0), pk); err != nil {
			return err
		}
	}
	p := pool.New().WithErrors().WithContext(ctx)
	p.Go(func(ctx context.Context) error { return s.a.Exec(ctx, benchDB, "VACUUM ANALYZE") })
	p.Go(func(ctx context.Context) error { return s.b.Exec(ctx, fractionDB(0), "VACUUM ANALYZE") })
	if err := p.Wait(); err != nil {
		return err
	}
	for _, f := range fractions {
		if f == 0 {
			continue
		}
		db := fractionDB(f)
		if err := s.b.Exec(ctx, "postgres", fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", db, fractionDB(0))); err != nil {
			return err
		}
		for _, n := range sizes {
			logf("planting %g differences in %s on node b (database %s)", f, tableName(n), db)
			if err := plant(ctx, s.b, db, n, f, seed); err != nil {
				return fmt.Errorf("plant differences in %s/%s: %w", db, tableName(n), err)
			}
		}
	}
	return nil
}

// copyTable streams table t from one database to another through a pipe, in PostgreSQL's binary COPY
// format (both ends run the same server version).
func copyTable(ctx context.Context, fromDSN, toDSN, t string) error {
	from, err := pgx.Connect(ctx, fromDSN)
	if err != nil {
		return err
	}
	defer from.Close(context.WithoutCancel(ctx))
	to, err := pgx.Connect(ctx, toDSN)
	if err != nil {
		return err
	}
	defer to.Close(context.WithoutCancel(ctx))
	id := pgx.Identifier{t}.Sanitize()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := from.PgConn().CopyTo(ctx, pw, "COPY "+id+" TO STDOUT (FORMAT binary)")
		pw.CloseWithError(err)
		done <- err
	}()
	_, err = to.PgConn().CopyFrom(ctx, pr, "COPY "+id+" FROM STDIN (FORMAT binary)")
	pr.CloseWithError(fmt.Errorf("reader closed: %v", err)) // unblocks the writer if COPY FROM stopped early
	if werr := <-done; err == nil {
		err = werr
	}
	return err
}

// plan is the planted differences of one table: keys updated, deleted and inserted on node b.
type plan struct {
	updated, deleted, inserted []int64
}

// count is how many differing keys rowdiff must report, and how many of them are changed rows.
func (p plan) count() (total, changed int64) {
	return int64(len(p.updated) + len(p.deleted) + len(p.inserted)), int64(len(p.updated))
}

// expected returns what a correct diff of an n-row table at fraction f reports.
func expected(n int64, f float64, seed uint64) (total, changed int64) {
	if f == 1 {
		return n, n
	}
	return makePlan(n, f, seed).count()
}

// rowsOnB is the row count of node b's table of n rows at fraction f.
func rowsOnB(n int64, f float64, seed uint64) int64 {
	if f == 1 {
		return n
	}
	p := makePlan(n, f, seed)
	return n - int64(len(p.deleted)) + int64(len(p.inserted))
}

// makePlan picks the keys to change at fraction f (< 1) of an n-row table: a third updated, a third
// deleted, a third inserted on node b, uniformly over the key space, the same for the same seed.
// Existing keys are the even numbers 2..2n; inserted keys are odd numbers in 1..2n+1.
func makePlan(n int64, f float64, seed uint64) plan {
	k := int64(math.Round(float64(n) * f))
	if f == 0 || k == 0 {
		return plan{}
	}
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	nu, nd := k/3, k/3
	ni := k - nu - nd
	seen := make(map[int64]bool, nu+nd)
	var existing []int64
	for int64(len(existing)) < nu+nd {
		g := 1 + rng.Int64N(n)
		if !seen[g] {
			seen[g] = true
			existing = append(existing, 2*g)
		}
	}
	seenOdd := make(map[int64]bool, ni)
	var inserted []int64
	for int64(len(inserted)) < ni {
		g := rng.Int64N(n + 1)
		if !seenOdd[g] {
			seenOdd[g] = true
			inserted = append(inserted, 2*g+1)
		}
	}
	p := plan{updated: existing[:nu], deleted: existing[nu:], inserted: inserted}
	slices.Sort(p.updated)
	slices.Sort(p.deleted)
	slices.Sort(p.inserted)
	return p
}

// updates are the changes applied to updated rows, taken in turn so every column type is exercised.
// Each one changes the value under type equality (no 2.5 -> 2.50 style no-ops).
var updates = []string{
	"qty = qty + 1",
	"amount = amount + 0.01",
	"status = status || '!'",
	"note = COALESCE(note, '') || 'x'",
	"created = created + interval '1 second'",
	`doc = doc || '{"edited": true}'`,
}

// plant applies the differences of fraction f to table n in database db of node b.
func plant(ctx context.Context, b *pgcluster.Cluster, db string, n int64, f float64, seed uint64) error {
	conn, err := pgx.Connect(ctx, b.DSN(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	t := pgx.Identifier{tableName(n)}.Sanitize()
	exec := func(sql string, args ...any) error {
		_, err := conn.Exec(ctx, sql, args...)
		return err
	}
	if f == 1 {
		// Every row changes; VACUUM FULL so node b's table is as compact as node a's and the scans compare.
		if err := exec("UPDATE " + t + " SET qty = qty + 1"); err != nil {
			return err
		}
		return exec("VACUUM FULL ANALYZE " + t)
	}
	p := makePlan(n, f, seed)
	for i, u := range updates {
		var ids []int64
		for j := i; j < len(p.updated); j += len(updates) {
			ids = append(ids, p.updated[j])
		}
		if err := exec("UPDATE "+t+" SET "+u+" WHERE id = ANY($1)", ids); err != nil {
			return err
		}
	}
	if err := exec("DELETE FROM "+t+" WHERE id = ANY($1)", p.deleted); err != nil {
		return err
	}
	if err := exec("INSERT INTO "+t+" "+rowsSQL("x", "x")+" FROM unnest($1::bigint[]) x", p.inserted); err != nil {
		return err
	}
	return exec("VACUUM ANALYZE " + t)
}
