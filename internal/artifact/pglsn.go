package artifact

import (
	"fmt"
	"strconv"
)

// PostgresText spells a PostgreSQL position the way the server does
// (pg_lsn: 0/16B3748, two hexadecimal halves); drsctl keeps it as a decimal
// byte count. An LSN that is not one (unset, or too long for 64 bits) is
// returned as it is.
func (l LSN) PostgresText() string {
	n, err := strconv.ParseUint(string(l), 10, 64)
	if err != nil {
		return string(l)
	}
	return fmt.Sprintf("%X/%X", n>>32, uint32(n))
}
