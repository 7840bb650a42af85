package sqlsim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// s3Store is one object in S3-compatible storage, reached path-style with
// the credential whose name prefixes the URL (IDENTITY = 'S3 Access Key',
// SECRET = 'access key id:secret key').
type s3Store struct {
	dev urlDevice
	c   *s3.Client
}

func newS3Store(d urlDevice, c credential, scheme, region string) (urlStore, *sqlError) {
	id, secret, ok := bytes.Cut([]byte(c.Secret), []byte(":"))
	if !ok || len(id) == 0 || len(secret) == 0 {
		// The secret is not 'access key id:secret key'.
		return nil, errDeviceOpen(d.raw, "5(Access is denied.)")
	}
	cl := s3.New(s3.Options{
		Region:           region,
		BaseEndpoint:     aws.String(scheme + "://" + d.host),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(string(id), string(secret), ""),
		RetryMaxAttempts: 2,
	})
	return &s3Store{dev: d, c: cl}, nil
}

func (s *s3Store) s3Err(err error, write bool) *sqlError {
	var re *smithyhttp.ResponseError
	var ae smithy.APIError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case code == "NoSuchBucket" || (write && status == http.StatusNotFound):
		// "Operating system error 50(The request is not supported.)" for a
		// bucket that does not exist (the backup does not create it).
		return errDeviceOpen(s.dev.raw, "50(The request is not supported.)")
	case status == http.StatusNotFound || code == "NoSuchKey" || code == "NotFound":
		return errDeviceOpen(s.dev.raw, "2(The system cannot find the file specified.)")
	case status == http.StatusForbidden || status == http.StatusUnauthorized:
		return errDeviceOpen(s.dev.raw, "5(Access is denied.)")
	}
	return errURLIO(s.dev.raw, write)
}

func (s *s3Store) exists(ctx context.Context) (bool, *sqlError) {
	_, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.dev.container, Key: &s.dev.key})
	if err == nil {
		return true, nil
	}
	var nf *types.NotFound
	var re *smithyhttp.ResponseError
	if errors.As(err, &nf) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound) {
		// HEAD has no body: a missing bucket looks the same; the write says.
		return false, nil
	}
	return false, s.s3Err(err, false)
}

// write uploads one part per MAXTRANSFERSIZE in a multipart upload. Past
// the part limit it fails (3202) without aborting the upload: what a
// failed backup leaves behind, an incomplete multipart upload the store
// keeps (and bills) until someone aborts it.
func (s *s3Store) write(ctx context.Context, data []byte, xfer int64, tooBig bool) *sqlError {
	up, err := s.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.dev.container, Key: &s.dev.key})
	if err != nil {
		return s.s3Err(err, true)
	}
	var done []types.CompletedPart
	for n, chunk := range chunks(data, xfer) {
		if tooBig {
			return errDeviceWrite(s.dev.raw, "1117(The request could not be performed because of an I/O device error.)")
		}
		num := int32(n + 1)
		out, err := s.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.dev.container, Key: &s.dev.key, UploadId: up.UploadId,
			PartNumber: &num, Body: bytes.NewReader(chunk)})
		if err != nil {
			return s.s3Err(err, true)
		}
		done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: &num})
	}
	if _, err := s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.dev.container, Key: &s.dev.key,
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		return s.s3Err(err, true)
	}
	return nil
}

func (s *s3Store) read(ctx context.Context) ([]byte, *sqlError) {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.dev.container, Key: &s.dev.key})
	if err != nil {
		return nil, s.s3Err(err, false)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, errURLIO(s.dev.raw, false)
	}
	return b, nil
}
