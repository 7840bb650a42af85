// Command sqlq runs one T-SQL batch against a SQL Server (or the simulator)
// and prints the result as a table: the demo's stand-in for sqlcmd, which a
// fresh machine does not have.
//
//	go run ./scripts/sqlq -dsn 'sqlserver://sa:x@127.0.0.1:14330?encrypt=disable' 'SELECT 1'
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

func main() {
	dsn := flag.String("dsn", os.Getenv("SQLQ_DSN"), "go-mssqldb connection string")
	flag.Parse()
	if *dsn == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: sqlq -dsn DSN 'T-SQL'")
		os.Exit(2)
	}
	if err := run(*dsn, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "sqlq:", err)
		os.Exit(1)
	}
}

func run(dsn, query string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return describe(err)
	}
	defer rows.Close()
	for {
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		if len(cols) > 0 {
			fmt.Fprintln(tw, strings.Join(cols, "\t"))
		}
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			cells := make([]string, len(vals))
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				cells[i] = fmt.Sprint(v)
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
			n++
		}
		tw.Flush()
		if len(cols) > 0 {
			fmt.Printf("(%d rows)\n", n)
		}
		if !rows.NextResultSet() {
			break
		}
	}
	return describe(rows.Err())
}

// describe shows every SQL Server error of a batch, not only the last.
func describe(err error) error {
	var me mssql.Error
	if err == nil {
		return nil
	}
	if errors.As(err, &me) {
		var parts []string
		for _, x := range me.All {
			parts = append(parts, fmt.Sprintf("Msg %d: %s", x.Number, x.Message))
		}
		if len(parts) > 0 {
			return fmt.Errorf("%s", strings.Join(parts, "; "))
		}
	}
	return err
}
