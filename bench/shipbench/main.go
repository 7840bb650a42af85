// Command shipbench ships one file to one or more destinations with
// internal/blob.Ship and reports throughput; bench/ship.sh runs it side by
// side with rclone and cp. Credentials come from the usual environment
// variables (AWS_*, AZURE_STORAGE_*, DRSCTL_SMB_*).
//
//	shipbench -src FILE [-part BYTES] [-concurrency N] [-create] URL...
//	shipbench -azure-sas CONTAINER   # print a container SAS URL (for rclone)
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/s3blob"

	dblob "github.com/drsctl/drsctl/internal/blob"
	_ "github.com/drsctl/drsctl/internal/blob/smbblob"
)

func main() {
	src := flag.String("src", "", "file to ship")
	part := flag.Int64("part", dblob.DefaultPartSize, "part size in bytes")
	conc := flag.Int("concurrency", dblob.DefaultConcurrency, "parts in flight per destination")
	create := flag.Bool("create", false, "create the S3 bucket / Azure container first (ignore 'exists')")
	key := flag.String("key", "", "key to write (default: the source's base name)")
	sasFor := flag.String("azure-sas", "", "print a SAS URL for this container of the Azure account in AZURE_STORAGE_* and -endpoint")
	endpoint := flag.String("endpoint", "", "Azure blob service URL for -azure-sas, e.g. http://127.0.0.1:10000/devstoreaccount1")
	raw := flag.Bool("raw", false, "the practical limit: one plain gocloud.dev Bucket.Upload to the first URL, no hashing, no fan-out")
	flag.Parse()
	ctx := context.Background()
	if *sasFor != "" {
		u, err := containerSAS(*endpoint, *sasFor)
		exitIf(err)
		fmt.Println(u)
		return
	}
	if *src == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: shipbench -src FILE [-part N] [-concurrency N] [-create] URL...")
		os.Exit(2)
	}
	if *key == "" {
		*key = path.Base(*src)
	}
	var sinks []dblob.Sink
	for _, u := range flag.Args() {
		b, err := dblob.Open(ctx, u)
		exitIf(err)
		defer b.Close()
		if *create {
			exitIf(createBucket(ctx, b, u))
		}
		sinks = append(sinks, dblob.Sink{Bucket: b, Key: *key, PartSize: *part, Concurrency: *conc})
	}
	f, err := os.Open(*src)
	exitIf(err)
	defer f.Close()
	start := time.Now()
	if *raw {
		exitIf(sinks[0].Bucket.Upload(ctx, *key, f, &blob.WriterOptions{ContentType: "application/octet-stream", BufferSize: int(*part), MaxConcurrency: *conc}))
		fi, err := f.Stat()
		exitIf(err)
		d := time.Since(start)
		fmt.Printf("%d bytes uploaded in %.2fs: %.0f MB/s\n", fi.Size(), d.Seconds(), float64(fi.Size())/1e6/d.Seconds())
		return
	}
	size, sum, res, err := dblob.Ship(ctx, f, sinks, nil)
	exitIf(err)
	d := time.Since(start)
	failed := false
	for i, r := range res {
		if r.Err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", dblob.Redact(flag.Arg(i)), r.Err)
			failed = true
		}
	}
	fmt.Printf("%d bytes to %d destination(s) in %.2fs: %.0f MB/s (sha256 %s…)\n",
		size, len(sinks), d.Seconds(), float64(size)/1e6/d.Seconds(), sum[:12])
	if failed {
		os.Exit(1)
	}
}

func createBucket(ctx context.Context, b *blob.Bucket, rawURL string) error {
	var s3c *s3.Client
	var cc *container.Client
	switch {
	case b.As(&s3c):
		u, err := url.Parse(rawURL)
		if err != nil {
			return err
		}
		_, err = s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(u.Host)})
		if err != nil && (strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") || strings.Contains(err.Error(), "BucketAlreadyExists")) {
			return nil
		}
		return err
	case b.As(&cc):
		_, err := cc.Create(ctx, nil)
		if err != nil && strings.Contains(err.Error(), "ContainerAlreadyExists") {
			return nil
		}
		return err
	}
	return nil
}

func containerSAS(endpoint, name string) (string, error) {
	cred, err := service.NewSharedKeyCredential(os.Getenv("AZURE_STORAGE_ACCOUNT"), os.Getenv("AZURE_STORAGE_KEY"))
	if err != nil {
		return "", err
	}
	perms := sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}
	q, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		ExpiryTime:    time.Now().Add(24 * time.Hour),
		Permissions:   perms.String(),
		ContainerName: name,
	}.SignWithSharedKey(cred)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(endpoint, "/") + "/" + name + "?" + q.Encode(), nil
}

func exitIf(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "shipbench:", err)
		os.Exit(1)
	}
}
