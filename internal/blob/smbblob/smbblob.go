// Package smbblob is a gocloud.dev/blob driver for directories on SMB shares
// (Windows file servers, Samba, NAS appliances), on github.com/cloudsoda/go-smb2.
//
// Importing it registers the "smb" scheme with blob.DefaultURLMux:
//
//	smb://[user@]host[:port]/share[/dir…][?domain=CORP][&password_env=NAME]
//
// opens the directory dir of share (the share's root when absent) as a bucket
// whose keys are paths below it ("/" becomes "\"). Credentials never go in the
// URL: the password comes from the environment — DRSCTL_SMB_PASSWORD, or the
// variable password_env names (so several servers can have several
// passwords) — the user from the URL or DRSCTL_SMB_USER, the domain from the
// domain parameter or DRSCTL_SMB_DOMAIN. A URL with a password is refused.
//
// Behaviour:
//   - Sessions are pooled per server, share, user and domain, for all
//     buckets: each operation, reader or writer leases one for as long as it
//     runs (normally its own TCP connection; shared beyond 8 at once). A
//     connection that breaks is dropped and redialled on the next operation.
//     No context reaches go-smb2, whose requests must never be abandoned
//     while in flight: see conn.go.
//   - Writes go to a temporary file beside the final name (".…tmp", never
//     listed), are flushed (SMB2 FLUSH) and renamed over the final name on
//     Close; an aborted write (cancelled context, error) waits for its
//     requests in flight, closes the file and removes it. Nothing partial is
//     ever visible under a key.
//   - A write goes out as 1 MiB WRITE requests, up to 16 in flight per
//     writer, each from a buffer of its own: memory is at most 17 MiB per
//     writer, and never more than WriterOptions.BufferSize (4 MiB by default)
//     × (MaxConcurrency (4) + 1).
//   - Attributes (content type, cache control, …, metadata, MD5) live in an
//     alternate data stream of the file ("name:drsctl.attrs"), which moves
//     with it on rename and never appears in a directory listing. Windows
//     servers have streams natively; Samba needs "vfs objects =
//     streams_xattr". When the server refuses streams, attributes are not
//     stored and read back empty (content type application/octet-stream).
//     The MD5 is the one given as WriterOptions.ContentMD5 (which gocloud.dev
//     checks); none is computed otherwise (drsctl proves copies with
//     SHA-256), and Attributes then reports none, as gocloud.dev allows.
//   - IfNotExist is checked before the rename, which is not atomic: do not
//     use it for locks on SMB.
//   - SignedURL is not supported (Unimplemented).
//   - Keys are escaped into valid file names (see escape.go); names starting
//     with "." are never keys. SMB names are usually case-insensitive.
package smbblob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"
	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
)

// Scheme is the URL scheme the package registers.
const Scheme = "smb"

// Environment variables holding credentials.
const (
	EnvUser     = "DRSCTL_SMB_USER"
	EnvPassword = "DRSCTL_SMB_PASSWORD"
	EnvDomain   = "DRSCTL_SMB_DOMAIN"
)

func init() {
	blob.DefaultURLMux().RegisterBucket(Scheme, &URLOpener{})
}

// URLOpener opens smb:// URLs.
type URLOpener struct {
	// Getenv reads credentials; os.Getenv when nil.
	Getenv func(string) string
}

// Options say which directory of which share to open, as whom.
type Options struct {
	Addr     string // host:port (port 445 when absent)
	Share    string
	Dir      string // slash-separated directory in the share; "" is its root
	User     string
	Password string
	Domain   string
	// PasswordEnv names the environment variable Password was read from,
	// so that a refused logon can say which one to set ("" when the caller
	// gave Password directly).
	PasswordEnv string
}

// OpenBucketURL implements blob.BucketURLOpener.
func (o *URLOpener) OpenBucketURL(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	opts, err := o.options(u)
	if err != nil {
		return nil, err
	}
	return OpenBucket(opts)
}

func (o *URLOpener) options(u *url.URL) (Options, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var opts Options
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return opts, fmt.Errorf("smb URL must not contain a password: set %s (or name a variable with password_env)", EnvPassword)
		}
		opts.User = u.User.Username()
	}
	if opts.User == "" {
		opts.User = getenv(EnvUser)
	}
	opts.Domain = getenv(EnvDomain)
	passwordEnv := EnvPassword
	for k, v := range u.Query() {
		switch k {
		case "domain":
			opts.Domain = v[0]
		case "password_env":
			passwordEnv = v[0]
		case "password", "pass", "pwd":
			return opts, fmt.Errorf("smb URL must not contain a password: set %s (or name a variable with password_env)", EnvPassword)
		default:
			return opts, fmt.Errorf("smb URL: unknown query parameter %q", k)
		}
	}
	opts.Password = getenv(passwordEnv)
	opts.PasswordEnv = passwordEnv
	if u.Host == "" {
		return opts, errors.New("smb URL has no host: smb://[user@]host[:port]/share/dir")
	}
	opts.Addr = u.Host
	segs := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
	if len(segs) == 0 {
		return opts, errors.New("smb URL has no share: smb://[user@]host[:port]/share/dir")
	}
	opts.Share = segs[0]
	opts.Dir = strings.Join(segs[1:], "/")
	return opts, nil
}

// OpenBucket opens a bucket on an SMB share. It does not connect: the first
// operation does (and reports a wrong address, share or password).
func OpenBucket(opts Options) (*blob.Bucket, error) {
	drv, err := openBucket(opts)
	if err != nil {
		return nil, err
	}
	return blob.NewBucket(drv), nil
}

func openBucket(opts Options) (*bucket, error) {
	if opts.Share == "" || strings.ContainsAny(opts.Share, `/\`) {
		return nil, fmt.Errorf("smb: bad share name %q", opts.Share)
	}
	addr := opts.Addr
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), "445")
	}
	var dir []string
	for _, s := range strings.FieldsFunc(opts.Dir, func(r rune) bool { return r == '/' || r == '\\' }) {
		if s == "." || s == ".." {
			return nil, fmt.Errorf("smb: directory %q has a \".\" or \"..\" segment", opts.Dir)
		}
		dir = append(dir, s)
	}
	srv := acquire(connKey{addr: addr, share: opts.Share, user: opts.User, domain: opts.Domain}, opts.Password, opts.PasswordEnv)
	return &bucket{srv: srv, dir: dir}, nil
}

type bucket struct {
	srv *server
	dir []string

	closeOnce sync.Once
}

var _ driver.Bucket = (*bucket)(nil)

var (
	errNotImplemented = errors.New("smb: not implemented")
	errExists         = errors.New("smb: blob already exists")
	errInvalidKey     = errors.New("smb: invalid key")
	errNotFound       = os.ErrNotExist
)

// NT status codes the driver tells apart.
const (
	statusNoSuchFile         = 0xC000000F
	statusAccessDenied       = 0xC0000022
	statusObjectNameInvalid  = 0xC0000033
	statusObjectNameNotFound = 0xC0000034
	statusObjectPathNotFound = 0xC000003A
	statusLogonFailure       = 0xC000006D
	statusNotSupported       = 0xC00000BB
	statusBadNetworkName     = 0xC00000CC
	statusInvalidParameter   = 0xC000000D
)

func ntStatus(err error) uint32 {
	var re *smb2.ResponseError
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}

func (b *bucket) ErrorCode(err error) gcerrors.ErrorCode {
	switch {
	case errors.Is(err, errNotImplemented):
		return gcerrors.Unimplemented
	case errors.Is(err, errExists):
		return gcerrors.FailedPrecondition
	case errors.Is(err, errInvalidKey):
		return gcerrors.InvalidArgument
	case errors.Is(err, context.Canceled):
		return gcerrors.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return gcerrors.DeadlineExceeded
	}
	switch ntStatus(err) {
	case statusNoSuchFile, statusObjectNameNotFound, statusObjectPathNotFound, statusBadNetworkName:
		return gcerrors.NotFound
	case statusAccessDenied, statusLogonFailure:
		return gcerrors.PermissionDenied
	}
	switch {
	case os.IsNotExist(err):
		return gcerrors.NotFound
	case os.IsPermission(err):
		return gcerrors.PermissionDenied
	case os.IsExist(err):
		return gcerrors.AlreadyExists
	}
	return gcerrors.Unknown
}

func (b *bucket) As(i any) bool { return false }

func (b *bucket) ErrorAs(err error, i any) bool {
	if p, ok := i.(**smb2.ResponseError); ok {
		return errors.As(err, p)
	}
	return false
}

func (b *bucket) Close() error {
	b.closeOnce.Do(b.srv.release)
	return nil
}

func (b *bucket) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", errNotImplemented
}

// path is the share path of the directory made of the bucket's directory
// and segs.
func (b *bucket) path(segs ...string) string {
	all := make([]string, 0, len(b.dir)+len(segs))
	all = append(all, b.dir...)
	all = append(all, segs...)
	return strings.Join(all, `\`)
}

// keyPath is the share path of key.
func (b *bucket) keyPath(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("%w: empty", errInvalidKey)
	}
	return b.path(escapeKey(key)...), nil
}

// attrsStream is the alternate data stream holding a file's attributes.
const attrsStream = ":drsctl.attrs"

// fileAttrs is what the attributes stream holds.
type fileAttrs struct {
	CacheControl       string            `json:"cache_control,omitempty"`
	ContentDisposition string            `json:"content_disposition,omitempty"`
	ContentEncoding    string            `json:"content_encoding,omitempty"`
	ContentLanguage    string            `json:"content_language,omitempty"`
	ContentType        string            `json:"content_type,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	MD5                []byte            `json:"md5,omitempty"`
}

func isStreamRefusal(err error) bool {
	switch ntStatus(err) {
	case statusObjectNameInvalid, statusNotSupported, statusInvalidParameter:
		return true
	}
	return false
}

// readAttrs reads a file's attributes; empty when it has none or the server
// has no streams.
func (b *bucket) readAttrs(share *smb2.Share, path string) (fileAttrs, error) {
	var a fileAttrs
	if b.srv.streamsUnsupported() {
		return a, nil
	}
	data, err := share.ReadFile(path + attrsStream)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &a); err != nil {
			return a, fmt.Errorf("smb: attributes of %s: %w", path, err)
		}
		return a, nil
	case os.IsNotExist(err):
		return a, nil
	case isStreamRefusal(err):
		b.srv.setStreamsUnsupported()
		return a, nil
	}
	return a, err
}

// writeAttrs stores a file's attributes (nothing when the server has no
// streams).
func (b *bucket) writeAttrs(share *smb2.Share, path string, a fileAttrs) error {
	if b.srv.streamsUnsupported() {
		return nil
	}
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	f, err := share.OpenFile(path+attrsStream, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		if isStreamRefusal(err) {
			b.srv.setStreamsUnsupported()
			return nil
		}
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func etag(fi os.FileInfo) string {
	return fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size())
}

func contentTypeOr(ct string) string {
	if ct == "" {
		return "application/octet-stream"
	}
	return ct
}

func (b *bucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	path, err := b.keyPath(key)
	if err != nil {
		return nil, err
	}
	var fi os.FileInfo
	var a fileAttrs
	err = b.srv.do(ctx, func(share *smb2.Share) error {
		fi, err = share.Stat(path)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return errNotFound
		}
		a, err = b.readAttrs(share, path)
		return err
	})
	if err != nil {
		return nil, err
	}
	var created time.Time
	if st, ok := fi.Sys().(*smb2.FileStat); ok && !st.CreationTime.After(fi.ModTime()) {
		created = st.CreationTime
	}
	return &driver.Attributes{
		CacheControl:       a.CacheControl,
		ContentDisposition: a.ContentDisposition,
		ContentEncoding:    a.ContentEncoding,
		ContentLanguage:    a.ContentLanguage,
		ContentType:        contentTypeOr(a.ContentType),
		Metadata:           a.Metadata,
		CreateTime:         created,
		ModTime:            fi.ModTime(),
		Size:               fi.Size(),
		MD5:                a.MD5,
		ETag:               etag(fi),
	}, nil
}

const defaultPageSize = 1000

func (b *bucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	if opts.BeforeList != nil {
		if err := opts.BeforeList(func(any) bool { return false }); err != nil {
			return nil, err
		}
	}
	prefix := opts.Prefix
	// Walk from the deepest directory every matching key must be under.
	var root []string
	if prefix != "" {
		segs := escapeKey(prefix)
		root = segs[:len(segs)-1]
	}
	var objs []*driver.ListObject
	err := b.srv.do(ctx, func(share *smb2.Share) error {
		objs = objs[:0]
		return b.walk(ctx, share, root, prefix, &objs)
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })

	// Collapse into "directories" when a delimiter is given.
	if d := opts.Delimiter; d != "" {
		out := objs[:0]
		lastDir := ""
		for _, o := range objs {
			rest := o.Key[len(prefix):]
			i := strings.Index(rest, d)
			if i < 0 {
				out = append(out, o)
				continue
			}
			dirKey := prefix + rest[:i+len(d)]
			if dirKey == lastDir {
				continue
			}
			lastDir = dirKey
			out = append(out, &driver.ListObject{Key: dirKey, IsDir: true})
		}
		objs = out
	}

	start := 0
	if len(opts.PageToken) > 0 {
		token := string(opts.PageToken)
		start = sort.Search(len(objs), func(i int) bool { return objs[i].Key > token })
	}
	pageSize := opts.PageSize
	if pageSize <= 0 {
		pageSize = defaultPageSize
	}
	page := &driver.ListPage{}
	end := min(start+pageSize, len(objs))
	page.Objects = objs[start:end]
	if end < len(objs) {
		page.NextPageToken = []byte(objs[end-1].Key)
	}
	return page, nil
}

// walk appends every file under rel (segments below the bucket directory)
// whose key starts with prefix. A missing directory is empty.
func (b *bucket) walk(ctx context.Context, share *smb2.Share, rel []string, prefix string, objs *[]*driver.ListObject) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fis, err := share.ReadDir(b.path(rel...))
	if err != nil {
		if os.IsNotExist(err) || ntStatus(err) == statusObjectPathNotFound {
			return nil
		}
		return err
	}
	for _, fi := range fis {
		name := fi.Name()
		if strings.HasPrefix(name, ".") {
			continue // temporary files, ".", "..": never keys
		}
		segs := append(append([]string(nil), rel...), name)
		key := unescapePath(segs)
		if fi.IsDir() {
			dk := key + "/"
			if strings.HasPrefix(dk, prefix) || strings.HasPrefix(prefix, dk) {
				if err := b.walk(ctx, share, segs, prefix, objs); err != nil {
					return err
				}
			}
			continue
		}
		if strings.HasPrefix(key, prefix) {
			*objs = append(*objs, &driver.ListObject{Key: key, ModTime: fi.ModTime(), Size: fi.Size()})
		}
	}
	return nil
}

func (b *bucket) NewRangeReader(ctx context.Context, key string, offset, length int64, opts *driver.ReaderOptions) (driver.Reader, error) {
	path, err := b.keyPath(key)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		r, err := b.openReader(ctx, path, offset, length, opts)
		if err == nil || attempt > 0 || ctx.Err() != nil || !isConnectionError(err) {
			return r, err
		}
	}
}

// openReader opens path on a session the reader leases until it is closed.
func (b *bucket) openReader(ctx context.Context, path string, offset, length int64, opts *driver.ReaderOptions) (_ *reader, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := b.srv.lease(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	stop := s.watch(ctx, abandonGrace)
	share := s.share
	var f *smb2.File
	defer func() {
		if err != nil {
			if f != nil {
				_ = f.Close()
			}
			stop()
			b.srv.put(s, err)
			if ctx.Err() != nil {
				err = ctx.Err()
			}
		}
	}()
	// File.Stat is avoided: go-smb2 asks for FileAllInformation with an
	// output buffer of the maximum transaction size but charges only the
	// credits granted, so under concurrent load the server answers
	// STATUS_INVALID_PARAMETER. Share.Stat (from the CREATE response) and
	// Seek(0, io.SeekEnd) (a 24-byte query) do not have the problem.
	fi, err := share.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, errNotFound
	}
	f, err = share.Open(path)
	if err != nil {
		return nil, err
	}
	size, err := f.Seek(0, io.SeekEnd) // the size of what this handle reads
	if err != nil {
		return nil, err
	}
	if _, err = f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	a, err := b.readAttrs(share, path)
	if err != nil {
		return nil, err
	}
	as := func(i any) bool {
		if p, ok := i.(**smb2.File); ok {
			*p = f
			return true
		}
		return false
	}
	if opts.BeforeRead != nil {
		if err = opts.BeforeRead(as); err != nil {
			return nil, err
		}
	}
	if offset > 0 {
		if _, err = f.Seek(offset, io.SeekStart); err != nil {
			return nil, err
		}
	}
	var rd io.Reader = f
	if length >= 0 {
		rd = io.LimitReader(f, length)
	}
	return &reader{
		ctx: ctx, srv: b.srv, s: s, stop: stop, r: rd, f: f, as: as,
		attrs: driver.ReaderAttributes{ContentType: contentTypeOr(a.ContentType), ModTime: fi.ModTime(), Size: size},
	}, nil
}

// readSize is go-smb2's largest READ.
const readSize = 1 << 20

type reader struct {
	ctx   context.Context
	srv   *server
	s     *session
	stop  func()
	r     io.Reader
	f     *smb2.File
	as    func(any) bool
	attrs driver.ReaderAttributes

	connErr error // a connection error: the session is retired on Close
	closed  bool
}

func (r *reader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		if r.connErr == nil && isConnectionError(err) {
			r.connErr = err
		}
		if cerr := r.ctx.Err(); cerr != nil {
			err = cerr
		}
	}
	return n, err
}

func (r *reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.f.Close()
	r.stop()
	retire := r.connErr
	if retire == nil {
		retire = err
	}
	r.srv.put(r.s, retire)
	return err
}

func (r *reader) Attributes() *driver.ReaderAttributes { return &r.attrs }
func (r *reader) As(i any) bool                        { return r.as(i) }

// readOnly hides a reader's WriteTo from io.CopyBuffer.
type readOnly struct{ io.Reader }

func (r *reader) WriteTo(w io.Writer) (int64, error) {
	return io.CopyBuffer(w, readOnly{r}, make([]byte, readSize))
}

func (r *reader) Download(w io.Writer) error { _, err := r.WriteTo(w); return err }

// tempFile creates a temporary file beside path (creating the directory),
// named ".<base>.<random>.tmp".
func (b *bucket) tempFile(share *smb2.Share, path string) (*smb2.File, string, error) {
	dir, base := "", path
	if i := strings.LastIndexByte(path, '\\'); i >= 0 {
		dir, base = path[:i], path[i+1:]
	}
	if r := []rune(base); len(r) > 64 {
		base = string(r[:64])
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := "." + base + "." + hex.EncodeToString(rnd[:]) + ".tmp"
	if dir != "" {
		name = dir + `\` + name
	}
	var f *smb2.File
	var err error
	// A Delete pruning empty directories may remove dir between MkdirAll and
	// the create: try again once.
	for attempt := 0; attempt < 2; attempt++ {
		if dir != "" {
			if err = share.MkdirAll(dir, 0o755); err != nil {
				continue
			}
		}
		f, err = share.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
		if err == nil || !os.IsNotExist(err) {
			break
		}
	}
	if err != nil {
		return nil, "", err
	}
	return f, name, nil
}

func (b *bucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	path, err := b.keyPath(key)
	if err != nil {
		return nil, err
	}
	// The writer leases a session until it is closed, and watches ctx all
	// that time.
	var s *session
	var stop func()
	var f *smb2.File
	var temp string
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err = b.srv.lease(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		stop = s.watch(ctx, abandonGrace)
		f, temp, err = b.tempFile(s.share, path)
		if err == nil {
			break
		}
		stop()
		b.srv.put(s, err)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if attempt > 0 || !isConnectionError(err) {
			return nil, err
		}
	}
	w := &writer{
		ctx: ctx, b: b, s: s, stopWatch: stop, f: f, temp: temp, path: path,
		ifNotExist: opts.IfNotExist,
		attrs: fileAttrs{
			CacheControl:       opts.CacheControl,
			ContentDisposition: opts.ContentDisposition,
			ContentEncoding:    opts.ContentEncoding,
			ContentLanguage:    opts.ContentLanguage,
			ContentType:        contentType,
			Metadata:           opts.Metadata,
			MD5:                opts.ContentMD5,
		},
	}
	if len(w.attrs.Metadata) == 0 {
		w.attrs.Metadata = nil
	}
	if len(w.attrs.MD5) == 0 {
		w.attrs.MD5 = nil
	}
	w.size, w.maxBufs = bufferShape(opts.BufferSize, opts.MaxConcurrency)
	w.free = make(chan []byte, w.maxBufs)
	if opts.BeforeWrite != nil {
		as := func(i any) bool {
			if p, ok := i.(**smb2.File); ok {
				*p = f
				return true
			}
			return false
		}
		if err := opts.BeforeWrite(as); err != nil {
			w.end(err, w.abort())
			return nil, err
		}
	}
	return w, nil
}

// A write goes out as WRITE requests of writeSize bytes (less when the part
// size is smaller), up to maxWritesInFlight of them at once: many requests in
// flight, rather than big parts whose requests go one after the other, is
// what keeps the connection busy. Each request's data waits in a buffer of its
// own, and one more buffer is being filled: memory is at most
// (maxWritesInFlight + 1) × writeSize and never more than part size ×
// (concurrency + 1) as BufferSize and MaxConcurrency ask. Few buffers, reused
// at once, stay in the CPU's cache: copying into them costs half what copying
// into parts of many MiB does.
const (
	defaultPartSize    = 4 << 20
	minPartSize        = 64 << 10
	maxPartSize        = 64 << 20
	defaultConcurrency = 4
	// writeSize is go-smb2's largest WRITE payload (it splits bigger ones
	// into requests it sends one after the other).
	writeSize         = 1 << 20
	maxWritesInFlight = 16
	// flushEvery: after this many bytes, a FLUSH goes out in the background
	// (one at a time) while the writes go on, so that the server's disk
	// writes overlap the transfer and the FLUSH on Close, which makes the
	// file durable before it is renamed into place, finds little left to do.
	flushEvery = 32 << 20
)

// bufferShape returns the size of a writer's buffers and how many it may
// have, for the part size and concurrency asked (0: the defaults).
func bufferShape(partSize, conc int) (size, count int) {
	if partSize <= 0 {
		partSize = defaultPartSize
	}
	partSize = min(max(partSize, minPartSize), maxPartSize)
	if conc <= 0 {
		conc = defaultConcurrency
	}
	size = min(partSize, writeSize)
	inFlight := min(maxWritesInFlight, partSize/size*conc)
	return size, inFlight + 1
}

type writer struct {
	ctx        context.Context
	b          *bucket
	s          *session
	stopWatch  func()
	f          *smb2.File
	fileClosed bool
	temp, path string
	ifNotExist bool
	attrs      fileAttrs

	size    int         // of a buffer: one WRITE request
	maxBufs int         // buffers at most: the one being filled, the rest in flight
	nbufs   int         // buffers allocated
	free    chan []byte // buffers written out, to reuse
	buf     []byte      // the buffer being filled
	off     int64       // its offset in the file
	wg      sync.WaitGroup

	flushedAt int64       // offset at which the last background FLUSH went out
	flushing  atomic.Bool // a background FLUSH is in flight

	mu  sync.Mutex
	err error // the first failure (a WRITE, or reading Upload's source)
}

func (w *writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// getBuf returns an empty buffer, waiting for one to be written out when
// maxBufs exist.
func (w *writer) getBuf() []byte {
	select {
	case b := <-w.free:
		return b[:0]
	default:
	}
	if w.nbufs < w.maxBufs {
		w.nbufs++
		return make([]byte, 0, w.size)
	}
	return (<-w.free)[:0]
}

func (w *writer) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	if err := w.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = w.getBuf()
		}
		k := copy(w.buf[len(w.buf):w.size], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		if len(w.buf) == w.size {
			w.flush()
		}
	}
	return n, nil
}

// Upload implements driver.Uploader: the source is read straight into the
// buffers (one copy fewer than Write). A source that fails leaves the
// writer failed, so Close does not commit what was read.
func (w *writer) Upload(r io.Reader) error {
	for {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if err := w.failed(); err != nil {
			return err
		}
		if w.buf == nil {
			w.buf = w.getBuf()
		}
		n, err := io.ReadFull(r, w.buf[len(w.buf):w.size])
		w.buf = w.buf[:len(w.buf)+n]
		if len(w.buf) == w.size {
			w.flush()
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return nil
		case err != nil:
			w.fail(err)
			return err
		}
	}
}

// flush writes the buffer being filled in the background (one WRITE).
func (w *writer) flush() {
	buf, off := w.buf, w.off
	w.buf = nil
	w.off += int64(len(buf))
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if w.failed() == nil {
			if _, err := w.f.WriteAt(buf, off); err != nil {
				w.fail(err)
			}
		}
		w.free <- buf
	}()
	if w.off-w.flushedAt >= flushEvery && w.flushing.CompareAndSwap(false, true) {
		w.flushedAt = w.off
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer w.flushing.Store(false)
			if w.failed() == nil {
				if err := w.f.Sync(); err != nil {
					w.fail(err)
				}
			}
		}()
	}
}

func (w *writer) Close() error {
	if len(w.buf) > 0 && w.ctx.Err() == nil && w.failed() == nil {
		w.flush()
	}
	// Nothing of this writer's is in flight after this: go-smb2 requests are
	// never abandoned (see conn.go), so they all return — at once if the
	// watchdog closed the connection.
	w.wg.Wait()
	err := w.ctx.Err()
	if err == nil {
		err = w.failed()
	}
	if err == nil {
		err = w.commit()
	}
	if err == nil {
		w.end(nil, nil)
		return nil
	}
	w.end(err, w.abort())
	if cerr := w.ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// commit flushes the temporary file, stores its attributes and renames it
// over the final name.
func (w *writer) commit() error {
	if err := w.f.Sync(); err != nil {
		return err
	}
	w.fileClosed = true
	if err := w.f.Close(); err != nil {
		return err
	}
	if w.ifNotExist {
		if _, err := w.s.share.Stat(w.path); err == nil {
			return fmt.Errorf("%w: %s", errExists, w.path)
		} else if !os.IsNotExist(err) {
			return err
		}
	}
	if err := w.b.writeAttrs(w.s.share, w.temp, w.attrs); err != nil {
		return err
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	return w.s.share.Rename(w.temp, w.path)
}

// abort closes and removes the temporary file, within cleanupTimeout even
// when ctx has ended. Only call it when none of the writer's WRITEs is in
// flight.
func (w *writer) abort() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), cleanupTimeout)
	defer cancel()
	stop := w.s.watch(ctx, 0)
	defer stop()
	var err error
	if !w.fileClosed {
		w.fileClosed = true
		err = w.f.Close()
	}
	if rerr := w.s.share.Remove(w.temp); err == nil {
		err = rerr
	}
	return err
}

// end gives the session back; a connection error among the outcomes retires
// it.
func (w *writer) end(errs ...error) {
	w.stopWatch()
	var retire error
	for _, err := range append(errs, w.failed()) {
		if err != nil && isConnectionError(err) {
			retire = err
			break
		}
	}
	w.b.srv.put(w.s, retire)
}

func (b *bucket) Copy(ctx context.Context, dstKey, srcKey string, opts *driver.CopyOptions) error {
	src, err := b.keyPath(srcKey)
	if err != nil {
		return err
	}
	dst, err := b.keyPath(dstKey)
	if err != nil {
		return err
	}
	return b.srv.do(ctx, func(share *smb2.Share) error {
		if fi, err := share.Stat(src); err != nil {
			return err
		} else if fi.IsDir() {
			return errNotFound
		}
		sf, err := share.Open(src)
		if err != nil {
			return err
		}
		defer sf.Close()
		a, err := b.readAttrs(share, src)
		if err != nil {
			return err
		}
		df, temp, err := b.tempFile(share, dst)
		if err != nil {
			return err
		}
		ok := false
		defer func() {
			if !ok {
				_ = df.Close()
				_ = share.Remove(temp)
			}
		}()
		if opts.BeforeCopy != nil {
			if err := opts.BeforeCopy(func(i any) bool {
				if p, ok := i.(**smb2.File); ok {
					*p = df
					return true
				}
				return false
			}); err != nil {
				return err
			}
		}
		// Server-side copy when the server supports it.
		if _, err := df.ReadFrom(sf); err != nil {
			return err
		}
		if err := df.Sync(); err != nil {
			return err
		}
		if err := df.Close(); err != nil {
			return err
		}
		if err := b.writeAttrs(share, temp, a); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := share.Rename(temp, dst); err != nil {
			return err
		}
		ok = true
		return nil
	})
}

func (b *bucket) Delete(ctx context.Context, key string, opts *driver.DeleteOptions) error {
	path, err := b.keyPath(key)
	if err != nil {
		return err
	}
	return b.srv.do(ctx, func(share *smb2.Share) error {
		fi, err := share.Stat(path)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return errNotFound
		}
		if opts.BeforeDelete != nil {
			if err := opts.BeforeDelete(func(any) bool { return false }); err != nil {
				return err
			}
		}
		if err := share.Remove(path); err != nil {
			return err
		}
		// Prune directories left empty, up to the bucket's own.
		segs := strings.Split(path, `\`)
		for n := len(segs) - 1; n > len(b.dir); n-- {
			if share.Remove(strings.Join(segs[:n], `\`)) != nil {
				break
			}
		}
		return nil
	})
}
