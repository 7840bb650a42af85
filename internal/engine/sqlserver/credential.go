package sqlserver

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"strings"
)

const queryCredentialIdentity = `SELECT credential_identity FROM sys.credentials WHERE name = @p1`

// checkCredential refuses a configured credential that SQL Server would be
// given in WITH CREDENTIAL but cannot use there. WITH CREDENTIAL is for a
// storage-account-key credential (Azure page blobs) only: a shared access
// signature is used only from a credential named exactly after the
// container's URL, found by the server itself. Passed as CREDENTIAL, a
// SAS is taken for an account key and fails to authenticate (3201,
// operating system error 86), far from the cause. A credential named after
// the URL (urlOptions leaves it out) and one the login may not see
// (sys.credentials shows only what it may: VIEW ANY DEFINITION) pass.
func checkCredential(ctx context.Context, q queryer, d device, credential string) error {
	if !d.url || credential == "" || credentialMatches(credential, d.path) {
		return nil
	}
	rows, err := q.QueryContext(ctx, queryCredentialIdentity, credential)
	if err != nil {
		return err
	}
	defer rows.Close()
	var identity sql.NullString
	if rows.Next() {
		if err := rows.Scan(&identity); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if strings.EqualFold(strings.TrimSpace(identity.String), "SHARED ACCESS SIGNATURE") {
		return fmt.Errorf("credential %s holds a shared access signature, which SQL Server uses only from a credential named exactly after the container's URL (%s), never through WITH CREDENTIAL: "+
			"create the SAS credential under that name and leave `credential` out of the configuration (set it only for a storage-account-key credential)", quoteString(credential), storeURL(d.path))
	}
	return nil
}

// storeURL is the URL of the container (Azure) or bucket (S3) a backup URL
// is in, the name SQL Server looks its credential up by: the first path
// segment, or the first two on an emulator (an IP address or localhost,
// with the account in the path).
func storeURL(path string) string {
	u, err := url.Parse(path)
	if err != nil || u.Host == "" {
		return path
	}
	segs := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	n := 1
	if h := u.Hostname(); !strings.EqualFold(u.Scheme, "s3") && (net.ParseIP(h) != nil || strings.EqualFold(h, "localhost")) {
		n = 2
	}
	if len(segs) <= n {
		return path
	}
	return u.Scheme + "://" + u.Host + "/" + strings.Join(segs[:n], "/")
}
