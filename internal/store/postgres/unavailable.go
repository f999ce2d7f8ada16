package postgres

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/whirlfaas/whirl/internal/store"
)

// unavailable returns err wrapped so that it matches store.ErrUnavailable
// when PostgreSQL cannot take a write now, and err itself otherwise:
//   - SQLSTATE 53100 (disk_full) → store.ErrNoSpace;
//   - the rest of class 53 (insufficient resources: memory, connections);
//   - 25006 (read_only_sql_transaction: a standby, or
//     default_transaction_read_only, refuses writes);
//   - class 08 and 57P01–57P03 (the connection failed, the server is
//     shutting down or starting up), and a failed connect.
//
// PostgreSQL rolls back the statement or transaction that fails this way.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch c := pe.Code; {
		case c == "53100":
			return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
		case strings.HasPrefix(c, "53"):
			return fmt.Errorf("%w: %w", store.Unavailable("PostgreSQL is out of resources"), err)
		case c == "25006":
			return fmt.Errorf("%w: %w", store.Unavailable("PostgreSQL refuses writes"), err)
		case strings.HasPrefix(c, "08"), c == "57P01", c == "57P02", c == "57P03":
			return fmt.Errorf("%w: %w", store.Unavailable("PostgreSQL is not available"), err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: %w", store.Unavailable("cannot connect to PostgreSQL"), err)
	}
	return err
}
