package sqlsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
)

// azureStore is one block blob, reached with a SAS (the credential named
// after the container's URL) or an account key (CREDENTIAL =).
type azureStore struct {
	dev urlDevice
	c   *blockblob.Client
}

func newAzureStore(d urlDevice, c credential, scheme string, key bool) (urlStore, *sqlError) {
	base := scheme + "://" + d.host + "/"
	if d.account != "" && !strings.Contains(strings.ToLower(d.host), d.account+".") {
		base += d.account + "/"
	}
	blobURL := base + d.container + "/" + (&url.URL{Path: d.key}).EscapedPath()
	opts := &blockblob.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 1}}}
	var bc *blockblob.Client
	var err error
	if key {
		cred, cerr := azblob.NewSharedKeyCredential(c.Identity, c.Secret)
		if cerr != nil {
			return nil, errDeviceOpen(d.raw, "86(The specified network password is not correct.)")
		}
		bc, err = blockblob.NewClientWithSharedKeyCredential(blobURL, cred, opts)
	} else {
		bc, err = blockblob.NewClientWithNoCredential(blobURL+"?"+strings.TrimPrefix(c.Secret, "?"), opts)
	}
	if err != nil {
		return nil, errDeviceOpen(d.raw, "50(The request is not supported.)")
	}
	return &azureStore{dev: d, c: bc}, nil
}

// azureErr words a store error as the server does.
func (a *azureStore) azureErr(err error, write bool) *sqlError {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode == http.StatusNotFound && (re.ErrorCode == "ContainerNotFound" || write):
			return errDeviceOpen(a.dev.raw, "50(The request is not supported.)")
		case re.StatusCode == http.StatusNotFound:
			return errDeviceOpen(a.dev.raw, "2(The system cannot find the file specified.)")
		case re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusUnauthorized:
			return errDeviceOpen(a.dev.raw, "5(Access is denied.)")
		}
	}
	return errURLIO(a.dev.raw, write)
}

func (a *azureStore) exists(ctx context.Context) (bool, *sqlError) {
	_, err := a.c.GetProperties(ctx, nil)
	if err == nil {
		return true, nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode != "ContainerNotFound" {
		return false, nil
	}
	return false, a.azureErr(err, false)
}

// write stages one block per MAXTRANSFERSIZE and commits the list. A
// backup past the block limit fails (3202, as the real server reports a
// backup that outgrows 50,000 blocks) and leaves no blob.
func (a *azureStore) write(ctx context.Context, data []byte, xfer int64, tooBig bool) *sqlError {
	var ids []string
	for n, chunk := range chunks(data, xfer) {
		if tooBig {
			return errDeviceWrite(a.dev.raw, "1117(The request could not be performed because of an I/O device error.)")
		}
		id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%032d", n))
		if _, err := a.c.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(chunk)), nil); err != nil {
			return a.azureErr(err, true)
		}
		ids = append(ids, id)
	}
	if _, err := a.c.CommitBlockList(ctx, ids, nil); err != nil {
		return a.azureErr(err, true)
	}
	return nil
}

func (a *azureStore) read(ctx context.Context) ([]byte, *sqlError) {
	resp, err := a.c.DownloadStream(ctx, nil)
	if err != nil {
		return nil, a.azureErr(err, false)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, errURLIO(a.dev.raw, false)
	}
	return b, nil
}
