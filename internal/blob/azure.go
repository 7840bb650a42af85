package blob

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
)

// azureMaxRetries makes five attempts in all, as for S3.
const azureMaxRetries = 4

// openAzure opens azblob://container?… as gocloud.dev's URL opener does
// (query parameters domain, protocol, cdn, localemu, storage_account;
// credentials from AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, or
// AZURE_STORAGE_SAS_TOKEN, or AZURE_STORAGE_CONNECTION_STRING, or the Azure
// SDK's default credential chain), but with drsctl's HTTP transport
// (connection liveness) and retry policy (which honours Retry-After).
func openAzure(ctx context.Context, u *url.URL, stall time.Duration) (*blob.Bucket, error) {
	svc := *azureblob.NewDefaultServiceURLOptions()
	if svc.SASToken != "" {
		// The SAS token travels in the service URL: URL parameters must not
		// send it to another origin (as gocloud.dev's opener checks).
		over := svc
		for k, vs := range u.Query() {
			switch v := vs[0]; k {
			case "domain":
				over.StorageDomain = v
			case "protocol":
				over.Protocol = v
			case "storage_account":
				over.AccountName = v
			case "cdn", "localemu":
				b, err := strconv.ParseBool(v)
				if err != nil {
					return nil, fmt.Errorf("invalid value for %s: %w", k, err)
				}
				if k == "cdn" {
					over.IsCDN = b
				} else {
					over.IsLocalEmulator = b
				}
			}
		}
		a, err := azureblob.NewServiceURL(&svc)
		if err != nil {
			return nil, err
		}
		b, err := azureblob.NewServiceURL(&over)
		if err != nil {
			return nil, err
		}
		if !sameOrigin(string(a), string(b)) {
			return nil, errors.New("a URL parameter cannot change the service endpoint when AZURE_STORAGE_SAS_TOKEN is set")
		}
	}
	opener := &azureblob.URLOpener{
		ServiceURLOptions: svc,
		MakeClient: func(svcURL azureblob.ServiceURL, name azureblob.ContainerName) (*container.Client, error) {
			return azureClient(svcURL, name, stall)
		},
	}
	return opener.OpenBucketURL(ctx, u)
}

func azureClient(svcURL azureblob.ServiceURL, name azureblob.ContainerName, stall time.Duration) (*container.Client, error) {
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: redactingClient{&http.Client{Transport: newTransport(stall)}},
		// azcore retries 408, 429, 500, 502, 503, 504 and connection errors,
		// and waits what Retry-After / x-ms-retry-after-ms asks (up to
		// MaxRetryDelay; a longer wait is not retried). Its backoff is
		// (2^n-1)·RetryDelay: half the base keeps it near S3's.
		Retry:     policy.RetryOptions{MaxRetries: azureMaxRetries, RetryDelay: retryBase / 2, MaxRetryDelay: maxRetryAfter},
		Telemetry: policy.TelemetryOptions{ApplicationID: "drsctl"},
	}}
	containerURL, err := url.JoinPath(string(svcURL), string(name))
	if err != nil {
		return nil, err
	}
	account, key := os.Getenv("AZURE_STORAGE_ACCOUNT"), os.Getenv("AZURE_STORAGE_KEY")
	conn := os.Getenv("AZURE_STORAGE_CONNECTION_STRING")
	if conn == "" {
		conn = os.Getenv("AZURE_STORAGEBLOB_CONNECTIONSTRING")
	}
	switch {
	case account != "" && key != "":
		cred, err := azblob.NewSharedKeyCredential(account, key)
		if err != nil {
			return nil, errors.New("AZURE_STORAGE_KEY is not a valid account key") // the error would quote it
		}
		return container.NewClientWithSharedKeyCredential(containerURL, cred, opts)
	case os.Getenv("AZURE_STORAGE_SAS_TOKEN") != "":
		return container.NewClientWithNoCredential(containerURL, opts) // the token is in the service URL
	case conn != "":
		c, err := container.NewClientFromConnectionString(conn, string(name), opts)
		if err != nil {
			return nil, errors.New("AZURE_STORAGE_CONNECTION_STRING is not a valid connection string")
		}
		return c, nil
	default:
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("azure default credentials: %w", err)
		}
		return container.NewClient(containerURL, cred, opts)
	}
}

func sameOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host)
}

// redactingClient keeps a SAS token (in the request URL's query) out of the
// errors of failed requests, which quote the URL.
type redactingClient struct{ c *http.Client }

func (r redactingClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.c.Do(req)
	var ue *url.Error
	if err != nil && errors.As(err, &ue) {
		ue.URL = Redact(ue.URL)
	}
	return resp, err
}
