package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
)

// staleUpload is how old an incomplete upload under a database's prefix
// must be for drsctl to abort it when it is not the failed backup's own:
// older than any backup drsctl would still be waiting for.
const staleUpload = 24 * time.Hour

// abortFailedUploads runs after a backup to the backup folder failed. A
// BACKUP TO URL on S3 that fails leaves its multipart upload incomplete:
// the store keeps (and bills) its parts until someone aborts it. The
// failed backup's own uploads (one per stripe, for a backup striped
// across several URLs) are aborted when the server reported the failure (a
// backup whose connection was lost may still be writing), and so is any
// other under the database's prefix older than staleUpload. The backup's
// error is returned, with the cleanup's when that failed.
func (x *execution) abortFailedUploads(ctx context.Context, folder blobBucket, p *config.Primary, database, key string, cause error) error {
	serverSaid := !errors.Is(cause, engine.ErrUnreachable)
	cutoff := x.r.Now().Add(-staleUpload)
	_, err := blob.AbortIncompleteUploads(ctx, folder, p.Folder.URL, blob.DatabasePrefix(p.Name, database), func(u blob.IncompleteUpload) bool {
		// A striped backup's other stripes are its own too.
		first, _, _, striped := artifact.ParseStripe(u.Key)
		own := u.Key == key || striped && first == key
		return (serverSaid && own) || (!u.Initiated.IsZero() && u.Initiated.Before(cutoff))
	})
	if err != nil {
		return fmt.Errorf("%w; the incomplete upload it left in backup folder %q was not aborted (its parts stay, and are billed, until it is; drsctl tries again after the next failed backup): %v",
			cause, p.Folder.Name, err)
	}
	return cause
}
