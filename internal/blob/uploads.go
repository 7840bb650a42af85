package blob

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	gblob "gocloud.dev/blob"
)

// IncompleteUpload is an S3 multipart upload neither completed nor
// aborted: what a BACKUP TO URL that failed leaves behind (SQL Server's S3
// connector uploads the backup in parts and does not abort on failure).
// The store keeps its parts, and bills them, until it is aborted.
type IncompleteUpload struct {
	Key       string // below the URL's prefix, as the bucket's keys are
	Initiated time.Time
}

// AbortIncompleteUploads aborts the multipart uploads under keyPrefix (a
// key prefix below rawURL's own, as b's keys are) for which abort says
// yes, and returns the keys it aborted. b is the bucket Open returned for
// rawURL; a store other than S3 has nothing to abort (Azure discards
// uncommitted blocks itself after a week).
func AbortIncompleteUploads(ctx context.Context, b *gblob.Bucket, rawURL, keyPrefix string, abort func(IncompleteUpload) bool) ([]string, error) {
	var c *s3.Client
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "s3" || !b.As(&c) {
		return nil, nil
	}
	bucket, base := u.Host, urlKeyPrefix(u)
	prefix := base + keyPrefix
	var aborted []string
	in := &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &prefix}
	for {
		out, err := c.ListMultipartUploads(ctx, in)
		if err != nil {
			return aborted, redactErr(fmt.Sprintf("list incomplete uploads under %s", Redact(rawURL)), err, rawURL)
		}
		for _, up := range out.Uploads {
			if up.Key == nil || up.UploadId == nil || !strings.HasPrefix(*up.Key, base) {
				continue
			}
			iu := IncompleteUpload{Key: strings.TrimPrefix(*up.Key, base)}
			if up.Initiated != nil {
				iu.Initiated = *up.Initiated
			}
			if !abort(iu) {
				continue
			}
			if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: up.Key, UploadId: up.UploadId}); err != nil {
				return aborted, redactErr(fmt.Sprintf("abort the incomplete upload of %s in %s", iu.Key, Redact(rawURL)), err, rawURL)
			}
			aborted = append(aborted, iu.Key)
		}
		if out.IsTruncated == nil || !*out.IsTruncated {
			return aborted, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// urlKeyPrefix is the key prefix Open puts in front of a bucket URL's keys:
// the URL's path, then its "prefix" parameter.
func urlKeyPrefix(u *url.URL) string {
	prefix := u.Query().Get("prefix")
	if p := strings.Trim(u.Path, "/"); p != "" {
		prefix = p + "/" + prefix
	}
	return prefix
}
