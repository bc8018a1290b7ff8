package pipeline

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/schema"
)

// LockTable runs lockTable on conn for the plain table public.name, as a run's first look at it does.
func LockTable(ctx context.Context, conn *pgx.Conn, name string) error {
	return lockTable(ctx, conn, "n0", &schema.Table{Schema: "public", Name: name}, "")
}
