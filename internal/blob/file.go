package blob

import (
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/gcerrors"
)

// gocloud.dev's fileblob writes to a temporary file and renames it over the
// final name on Close, but never fsyncs: after a power cut a backup could be
// present under its final name with its tail missing. drsctl therefore opens
// file:// URLs itself (not through blob.DefaultURLMux, so a blank import of
// fileblob elsewhere does not clash) as fileblob wrapped by durableBucket,
// which fsyncs the data before the rename and the directories after it:
//
//   - temporary files are created beside the final name (fileblob's
//     NoTempDir), so the rename never crosses file systems and is atomic;
//   - the temporary file is fsynced before Close renames it;
//   - after the rename the attributes side file, the file's directory and
//     every directory up to the bucket root are fsynced, so the new name
//     (and directories MkdirAll just created) survive a crash;
//   - what was created is handed to the owner of the bucket's root (see
//     adoptRootOwner): the database server writes there as its own user.
//
// Everything else (reading, listing, attributes in ".attrs" side files,
// IfNotExist, which fileblob does not make atomic) is fileblob's.

// openFile opens a file:// URL as a durable fileblob bucket.
func openFile(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	opener := &fileblob.URLOpener{Options: fileblob.Options{CreateDir: true, NoTempDir: true}}
	inner, err := opener.OpenBucketURL(ctx, u)
	if err != nil {
		return nil, err
	}
	dir := u.Path
	if u.Host == "." {
		dir = strings.TrimPrefix(dir, "/")
	}
	root, err := filepath.Abs(filepath.FromSlash(dir))
	if err != nil {
		_ = inner.Close()
		return nil, err
	}
	return blob.NewBucket(&durableBucket{b: inner, root: root}), nil
}

// durableBucket is a driver.Bucket over a fileblob *blob.Bucket that adds
// fsyncs to every write (NewTypedWriter and Copy).
type durableBucket struct {
	b    *blob.Bucket
	root string
}

var _ driver.Bucket = (*durableBucket)(nil)

func (d *durableBucket) ErrorCode(err error) gcerrors.ErrorCode { return gcerrors.Code(err) }
func (d *durableBucket) As(i any) bool                          { return d.b.As(i) }
func (d *durableBucket) ErrorAs(err error, i any) bool          { return d.b.ErrorAs(err, i) }
func (d *durableBucket) Close() error                           { return d.b.Close() }

func (d *durableBucket) SignedURL(ctx context.Context, key string, opts *driver.SignedURLOptions) (string, error) {
	return d.b.SignedURL(ctx, key, &blob.SignedURLOptions{
		Expiry:                   opts.Expiry,
		Method:                   opts.Method,
		ContentType:              opts.ContentType,
		EnforceAbsentContentType: opts.EnforceAbsentContentType,
		BeforeSign:               opts.BeforeSign,
	})
}

func (d *durableBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	a, err := d.b.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{
		CacheControl:       a.CacheControl,
		ContentDisposition: a.ContentDisposition,
		ContentEncoding:    a.ContentEncoding,
		ContentLanguage:    a.ContentLanguage,
		ContentType:        a.ContentType,
		Metadata:           a.Metadata,
		CreateTime:         a.CreateTime,
		ModTime:            a.ModTime,
		Size:               a.Size,
		MD5:                a.MD5,
		ETag:               a.ETag,
		AsFunc:             a.As,
	}, nil
}

func (d *durableBucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	token := opts.PageToken
	if len(token) == 0 {
		token = blob.FirstPageToken
	}
	size := opts.PageSize
	if size <= 0 {
		size = 1000
	}
	objs, next, err := d.b.ListPage(ctx, token, size, &blob.ListOptions{
		Prefix:     opts.Prefix,
		Delimiter:  opts.Delimiter,
		BeforeList: opts.BeforeList,
	})
	if err != nil {
		return nil, err
	}
	page := &driver.ListPage{Objects: make([]*driver.ListObject, len(objs)), NextPageToken: next}
	for i, o := range objs {
		page.Objects[i] = &driver.ListObject{Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir, AsFunc: o.As}
	}
	return page, nil
}

func (d *durableBucket) NewRangeReader(ctx context.Context, key string, offset, length int64, opts *driver.ReaderOptions) (driver.Reader, error) {
	r, err := d.b.NewRangeReader(ctx, key, offset, length, &blob.ReaderOptions{BeforeRead: opts.BeforeRead})
	if err != nil {
		return nil, err
	}
	return &durableReader{r: r}, nil
}

type durableReader struct{ r *blob.Reader }

func (r *durableReader) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r *durableReader) Close() error               { return r.r.Close() }
func (r *durableReader) As(i any) bool              { return r.r.As(i) }
func (r *durableReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}

func (d *durableBucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	// A context of its own, so that a failed write can abort the writer:
	// fileblob renames on Close whatever reached the temporary file unless
	// its context is done, which would put a partial file under the final
	// name (a full disk, then space freed before Close).
	ctx, cancel := context.WithCancel(ctx)
	w := &durableWriter{ctx: ctx, cancel: cancel, root: d.root}
	inner, err := d.b.NewWriter(ctx, key, &blob.WriterOptions{
		CacheControl:                opts.CacheControl,
		ContentDisposition:          opts.ContentDisposition,
		ContentEncoding:             opts.ContentEncoding,
		ContentLanguage:             opts.ContentLanguage,
		ContentType:                 contentType,
		DisableContentTypeDetection: contentType == "",
		ContentMD5:                  opts.ContentMD5,
		Metadata:                    opts.Metadata,
		IfNotExist:                  opts.IfNotExist,
		BeforeWrite: func(as func(any) bool) error {
			// fileblob hands out its temporary *os.File: what we fsync.
			as(&w.f)
			if opts.BeforeWrite != nil {
				return opts.BeforeWrite(as)
			}
			return nil
		},
	})
	if err != nil {
		cancel()
		return nil, err
	}
	w.w = inner
	return w, nil
}

// durableWriter passes writes straight to fileblob's temporary file (the
// content type is always given, so blob.Writer buffers nothing) and fsyncs
// around Close's rename.
type durableWriter struct {
	ctx      context.Context
	cancel   context.CancelFunc
	root     string
	w        *blob.Writer
	f        *os.File
	writeErr error // the first failed write: Close then aborts
}

func (w *durableWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil && w.writeErr == nil {
		w.writeErr = err
	}
	return n, err
}

func (w *durableWriter) Close() error {
	defer w.cancel()
	if w.writeErr != nil {
		w.cancel() // fileblob removes the temporary file
		_ = w.w.Close()
		return w.writeErr
	}
	if w.f == nil || w.ctx.Err() != nil {
		// Aborted (fileblob removes the temporary file) or nothing to sync.
		return w.w.Close()
	}
	if err := w.f.Sync(); err != nil {
		_ = w.w.Close()
		return err
	}
	temp := w.f.Name()
	if err := w.w.Close(); err != nil {
		return err
	}
	// fileblob names its temporary file "<final>.<hex>.tmp".
	final := strings.TrimSuffix(temp, ".tmp")
	if i := strings.LastIndexByte(final, '.'); i > 0 {
		final = final[:i]
	}
	if err := syncFile(final + ".attrs"); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := adoptRootOwner(final, w.root); err != nil {
		return err
	}
	return syncDirs(filepath.Dir(final), w.root)
}

// syncFile fsyncs the named file.
func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDirs fsyncs dir and its parents up to and including root.
func syncDirs(dir, root string) error {
	for {
		if err := syncFile(dir); err != nil {
			return err
		}
		if dir == root || !strings.HasPrefix(dir, root) {
			return nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// Copy copies through a durable writer (fileblob's own Copy does not fsync).
func (d *durableBucket) Copy(ctx context.Context, dstKey, srcKey string, opts *driver.CopyOptions) error {
	a, err := d.b.Attributes(ctx, srcKey)
	if err != nil {
		return err
	}
	r, err := d.b.NewReader(ctx, srcKey, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := d.NewTypedWriter(ctx, dstKey, a.ContentType, &driver.WriterOptions{
		CacheControl:       a.CacheControl,
		ContentDisposition: a.ContentDisposition,
		ContentEncoding:    a.ContentEncoding,
		ContentLanguage:    a.ContentLanguage,
		Metadata:           a.Metadata,
		BeforeWrite:        opts.BeforeCopy,
	})
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel()
		_ = w.Close()
		return err
	}
	return w.Close()
}

func (d *durableBucket) Delete(ctx context.Context, key string, opts *driver.DeleteOptions) error {
	return d.b.DeleteWithOptions(ctx, key, &blob.DeleteOptions{BeforeDelete: opts.BeforeDelete})
}
