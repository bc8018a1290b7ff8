package pipeline

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/schema"
)

// LockTable runs lockTable on conn for the plain table public.name, as a run's first look at it does.
func LockTable(ctx context.Context, conn *pgx.Conn, name string) error {
	relkind, err := relkindOf(ctx, conn, name)
	if err != nil {
		return err
	}
	return lockTable(ctx, conn, "n0", &schema.Table{Schema: "public", Name: name}, relkind)
}

func relkindOf(ctx context.Context, conn *pgx.Conn, name string) (string, error) {
	var relkind string
	err := conn.QueryRow(ctx, "SELECT relkind::text FROM pg_class WHERE oid = $1::regclass", name).Scan(&relkind)
	return relkind, err
}

// LockBeside runs lockBeside on conn for the relation public.name, as a worker does at a run's start.
func LockBeside(ctx context.Context, conn *pgx.Conn, name string) error {
	relkind, err := relkindOf(ctx, conn, name)
	if err != nil {
		return err
	}
	return lockBeside(ctx, conn, "n0", &schema.Table{Schema: "public", Name: name}, relkind, 5*time.Second)
}

// BeginHinted runs sql on conn as the statements that start a session's transaction (node.begin), the
// timeoutAt-th of them (from 1) setting rowdiff's statement_timeout, and returns the error with the hint a
// run gives it.
func BeginHinted(ctx context.Context, conn *pgx.Conn, sql string, timeoutAt int) error {
	return hinted((&node{cfg: conn.Config()}).begin(ctx, conn, sql, timeoutAt))
}
