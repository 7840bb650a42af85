package sqlsim

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"
)

// BACKUP TO URL and RESTORE FROM URL (doc.go, "Backups to URL"): the same
// bytes the simulator writes to DISK, split across the URLs given (a
// striped media set), written to and read from real object stores: Azure
// Blob Storage (https://, url_azure.go) and S3-compatible storage (s3://,
// url_s3.go).

const (
	maxURLs = 64 // "up to 64 URLs"
	// Azure block blobs: at most 50,000 blocks of MAXTRANSFERSIZE each.
	azureMaxBlocks   = 50000
	azureDefaultXfer = 1 << 20 // MAXTRANSFERSIZE default for URL
	azureMaxXfer     = 4 << 20
	// S3: at most 10,000 parts of MAXTRANSFERSIZE (5 MB to 20 MB, 10 MB by default).
	s3MaxParts    = 10000
	s3DefaultXfer = 10 << 20
	s3MinXfer     = 5 << 20
	s3MaxXfer     = 20 << 20
	urlTimeout    = 2 * time.Minute
)

// urlDevice is one URL of a BACKUP or RESTORE, parsed.
type urlDevice struct {
	raw       string
	s3        bool
	host      string // host[:port]
	account   string // Azure
	container string // Azure container or S3 bucket
	key       string // blob or object name
}

// parseURLDevice splits a backup URL: https://account.blob.core.windows.net/container/blob,
// https://host:port/account/container/blob (an emulator: the host is an IP
// address or localhost, the account the first path segment), or
// s3://host[:port]/bucket/key (path style).
func parseURLDevice(raw string) (urlDevice, *sqlError) {
	bad := errDeviceOpen(raw, "50(The request is not supported.)")
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return urlDevice{}, bad
	}
	d := urlDevice{raw: raw, host: u.Host}
	segs := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	switch strings.ToLower(u.Scheme) {
	case "s3":
		d.s3 = true
	case "https":
		h := u.Hostname()
		if net.ParseIP(h) != nil || strings.EqualFold(h, "localhost") {
			if len(segs) < 3 {
				return urlDevice{}, bad
			}
			d.account, segs = segs[0], segs[1:]
		} else {
			d.account = strings.SplitN(h, ".", 2)[0]
		}
	default:
		return urlDevice{}, bad
	}
	if len(segs) < 2 || segs[0] == "" || segs[len(segs)-1] == "" {
		return urlDevice{}, bad
	}
	d.container, d.key = segs[0], strings.Join(segs[1:], "/")
	return d, nil
}

// urlStore is one object store reached with one credential.
type urlStore interface {
	// exists reports whether the object is there.
	exists(ctx context.Context) (bool, *sqlError)
	// write stores data in chunks of at most xfer bytes (blocks, parts);
	// when the backup does not fit (tooBig) it fails with 3202, and a failed
	// S3 write leaves its multipart upload incomplete, as the real
	// connector does.
	write(ctx context.Context, data []byte, xfer int64, tooBig bool) *sqlError
	read(ctx context.Context) ([]byte, *sqlError)
}

// urlSet is the devices of one BACKUP or RESTORE FROM URL, each with its store.
type urlSet struct {
	devs   []urlDevice
	stores []urlStore
	xfer   int64 // MAXTRANSFERSIZE in force
	s3     bool
}

// openURLs resolves the URLs of a statement: every URL parses, all of one
// kind, at most 64, each with a credential (CREDENTIAL = names a storage
// account key credential; otherwise the credential whose name prefixes the
// URL: SAS for Azure, S3 Access Key for S3). Callers do not hold srv.mu.
func (x *execCtx) openURLs(paths []string, o *opts, backup bool) (*urlSet, *sqlError) {
	if len(paths) > maxURLs {
		return nil, newErr(3205, 16, "Too many backup devices specified for backup or restore; only %d are allowed.", maxURLs)
	}
	set := &urlSet{}
	for i, p := range paths {
		d, err := parseURLDevice(p)
		if err != nil {
			return nil, err
		}
		if i > 0 && d.s3 != set.devs[0].s3 {
			return nil, errDeviceOpen(p, "50(The request is not supported.)")
		}
		set.devs = append(set.devs, d)
	}
	set.s3 = set.devs[0].s3
	named := o.str("CREDENTIAL")
	srv := x.s.srv
	region := "us-east-1"
	if set.s3 {
		optName := "RESTORE_OPTIONS"
		if backup {
			optName = "BACKUP_OPTIONS"
		}
		if r, err := s3RegionOption(o.str(optName), optName); err != nil {
			return nil, err
		} else if r != "" {
			region = r
		}
	}
	scheme := "https"
	if srv.opts.URLPlainHTTP {
		scheme = "http"
	}
	for _, d := range set.devs {
		srv.mu.Lock()
		var c *credential
		if named != "" {
			c = srv.st.credential(named)
		} else {
			c = srv.st.credentialFor(d.raw)
		}
		var cc credential
		if c != nil {
			cc = *c
		}
		srv.mu.Unlock()
		switch {
		case c == nil:
			// No credential for the URL, or CREDENTIAL names none.
			return nil, errDeviceOpen(d.raw, "50(The request is not supported.)")
		case d.s3 && named != "":
			return nil, newErr(3032, 16, "One or more of the options (credential) are not supported for this statement, or are specified more than once.")
		case d.s3 && !strings.EqualFold(cc.Identity, "S3 Access Key"):
			return nil, errDeviceOpen(d.raw, "50(The request is not supported.)")
		case !d.s3 && named == "" && !strings.EqualFold(cc.Identity, "SHARED ACCESS SIGNATURE"):
			return nil, errDeviceOpen(d.raw, "50(The request is not supported.)")
		case !d.s3 && named != "" && strings.EqualFold(cc.Identity, "SHARED ACCESS SIGNATURE"):
			// A SAS credential named in CREDENTIAL = is taken for an
			// account key (page blobs): authentication fails.
			return nil, errDeviceOpen(d.raw, "86(The specified network password is not correct.)")
		case !d.s3 && named != "" && len(set.devs) > 1:
			return nil, newErr(3032, 16, "One or more of the options (credential) are not supported for this statement, or are specified more than once.")
		}
		var st urlStore
		var err *sqlError
		if d.s3 {
			st, err = newS3Store(d, cc, scheme, region)
		} else {
			st, err = newAzureStore(d, cc, scheme, named != "")
		}
		if err != nil {
			return nil, err
		}
		set.stores = append(set.stores, st)
	}
	xfer, err := urlTransferSize(o, set.s3)
	if err != nil {
		return nil, err
	}
	set.xfer = xfer
	return set, nil
}

// s3RegionOption reads {"s3": {"region": "…"}} from BACKUP_OPTIONS or RESTORE_OPTIONS.
func s3RegionOption(js, name string) (string, *sqlError) {
	if js == "" {
		return "", nil
	}
	var v struct {
		S3 struct {
			Region string `json:"region"`
		} `json:"s3"`
	}
	if err := json.Unmarshal([]byte(js), &v); err != nil {
		return "", newErr(3032, 16, "One or more of the options (%s) are not supported for this statement, or are specified more than once.", strings.ToLower(name))
	}
	return v.S3.Region, nil
}

// urlTransferSize checks MAXTRANSFERSIZE for the kind of URL: Azure takes
// multiples of 64 KB up to 4 MB (1 MB by default), S3 5 MB to 20 MB (10 MB
// by default).
func urlTransferSize(o *opts, s3 bool) (int64, *sqlError) {
	v, ok := o.vals["MAXTRANSFERSIZE"]
	if !ok {
		if s3 {
			return s3DefaultXfer, nil
		}
		return azureDefaultXfer, nil
	}
	n := toInt64(v)
	if s3 {
		if n < s3MinXfer || n > s3MaxXfer {
			return 0, newErr(50000, 16, "MAXTRANSFERSIZE %d is out of range for S3-compatible object storage: it must be between %d (5 MB) and %d (20 MB).", n, int64(s3MinXfer), int64(s3MaxXfer))
		}
		return n, nil
	}
	if n <= 0 || n%65536 != 0 || n > azureMaxXfer {
		return 0, newErr(50000, 16, "MAXTRANSFERSIZE %d is invalid: it must be a multiple of 65536 (64 KB) up to 4194304 (4 MB).", n)
	}
	return n, nil
}

// fits reports whether a backup of size bytes fits in the set's URLs: each
// holds its share in blocks (Azure, at most 50,000) or parts (S3, at most
// 10,000) of MAXTRANSFERSIZE. Options.URLMaxChunks lowers that count and
// Options.URLBlobLimit caps the bytes per URL, so tests can need striping.
func (s *urlSet) fits(size int64, o Options) bool {
	share := (size + int64(len(s.stores)) - 1) / int64(len(s.stores))
	max := int64(azureMaxBlocks)
	if s.s3 {
		max = s3MaxParts
	}
	if o.URLMaxChunks > 0 {
		max = o.URLMaxChunks
	}
	if (share+s.xfer-1)/s.xfer > max {
		return false
	}
	return o.URLBlobLimit <= 0 || share <= o.URLBlobLimit
}

// ---- striped media sets ----

const stripeMagic = "SQLSIM-STRIPE\x00"

type stripeHeader struct {
	MediaSet string `json:"media_set"`
	Family   int    `json:"family"` // 1-based
	Families int    `json:"families"`
}

// splitStripes cuts a backup file into n media families; one URL holds the
// file as it is on disk.
func splitStripes(data []byte, n int) [][]byte {
	if n == 1 {
		return [][]byte{data}
	}
	set := newGUID()
	size := (len(data) + n - 1) / n
	out := make([][]byte, n)
	for i := range out {
		lo, hi := min(i*size, len(data)), min((i+1)*size, len(data))
		hj, _ := json.Marshal(stripeHeader{MediaSet: set, Family: i + 1, Families: n})
		var b bytes.Buffer
		b.WriteString(stripeMagic)
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(hj))))
		b.Write(hj)
		b.Write(data[lo:hi])
		out[i] = b.Bytes()
	}
	return out
}

// joinStripes puts a media set back together: every family of it must be
// given (3132), once, and of one set.
func joinStripes(paths []string, parts [][]byte) ([]byte, *sqlError) {
	type fam struct {
		h    stripeHeader
		body []byte
	}
	var fams []fam
	for i, p := range parts {
		if !bytes.HasPrefix(p, []byte(stripeMagic)) {
			if len(parts) == 1 {
				return p, nil
			}
			return nil, errMediaFamily(paths[i])
		}
		rest := p[len(stripeMagic):]
		if len(rest) < 4 {
			return nil, errMediaFamily(paths[i])
		}
		n := int(binary.BigEndian.Uint32(rest))
		if 4+n > len(rest) {
			return nil, errMediaFamily(paths[i])
		}
		var h stripeHeader
		if json.Unmarshal(rest[4:4+n], &h) != nil || h.Family < 1 || h.Family > h.Families {
			return nil, errMediaFamily(paths[i])
		}
		fams = append(fams, fam{h: h, body: rest[4+n:]})
	}
	first := fams[0].h
	seen := map[int]bool{}
	for i, f := range fams {
		if f.h.MediaSet != first.MediaSet || f.h.Families != first.Families || seen[f.h.Family] {
			return nil, newErr(3231, 16, "The media loaded on \"%s\" is formatted to support %d media families, but %d media families are expected according to the backup device specification.", paths[i], f.h.Families, len(parts))
		}
		seen[f.h.Family] = true
	}
	if len(fams) != first.Families {
		return nil, newErr(3132, 16, "The media set has %d media families but only %d are provided. All members must be provided.", first.Families, len(fams))
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].h.Family < fams[j].h.Family })
	var out []byte
	for _, f := range fams {
		out = append(out, f.body...)
	}
	return out, nil
}

// ---- the statements ----

// urlPaths evaluates a device list's URLs.
func (x *execCtx) urlPaths(d device, first string) ([]string, *sqlError) {
	out := []string{first}
	for _, e := range d.more {
		p, err := x.devicePath(device{kind: d.kind, path: e})
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// checkURLBackup refuses what BACKUP TO URL refuses before writing: INIT
// (appending to or initialising a blob is not possible: FORMAT overwrites)
// and, without FORMAT, a URL that already holds an object.
func (x *execCtx) checkURLBackup(set *urlSet, o *opts) *sqlError {
	if o.has("INIT") || o.has("NOINIT") {
		return newErr(3032, 16, "One or more of the options (init) are not supported for this statement, or are specified more than once.")
	}
	if o.has("FORMAT") {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), urlTimeout)
	defer cancel()
	for i, st := range set.stores {
		ok, err := st.exists(ctx)
		if err != nil {
			return err
		}
		if ok {
			return errURLExists(set.devs[i].raw)
		}
	}
	return nil
}

func errURLExists(raw string) *sqlError {
	return newErr(3271, 16, "A nonrecoverable I/O error occurred on file \"%s:\" Backup to URL received an exception from the remote endpoint. Exception Message: The remote server returned an error: (409) Conflict. The blob already exists: use WITH FORMAT to overwrite it.", raw)
}

// writeURLs writes a backup file across the set's URLs. Whether it fits is
// judged by the backup's size as HEADERONLY reports it (BackupSize, the
// pages a real backup would write), not by the simulator's few bytes.
func (x *execCtx) writeURLs(set *urlSet, h *bakHeader, data []byte) *sqlError {
	ctx, cancel := context.WithTimeout(context.Background(), urlTimeout)
	defer cancel()
	tooBig := !set.fits(h.BackupSize, x.s.srv.opts)
	// Every family is written, a failed one stopping none of the others
	// (the server writes them side by side): a striped backup that fails
	// leaves each family's upload incomplete on S3 (doc.go).
	var first *sqlError
	for i, part := range splitStripes(data, len(set.stores)) {
		if err := set.stores[i].write(ctx, part, set.xfer, tooBig); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// readURLs reads a media set back.
func (x *execCtx) readURLs(set *urlSet) ([]byte, *sqlError) {
	ctx, cancel := context.WithTimeout(context.Background(), urlTimeout)
	defer cancel()
	parts := make([][]byte, len(set.stores))
	paths := make([]string, len(set.stores))
	for i, st := range set.stores {
		b, err := st.read(ctx)
		if err != nil {
			return nil, err
		}
		parts[i], paths[i] = b, set.devs[i].raw
	}
	return joinStripes(paths, parts)
}

// readURLBackup is readBackupFile for URLs.
func (x *execCtx) readURLBackup(d device, first string, o *opts, full bool) (*bakHeader, *bakPayload, *sqlError) {
	paths, err := x.urlPaths(d, first)
	if err != nil {
		return nil, nil, err
	}
	set, err := x.openURLs(paths, o, false)
	if err != nil {
		return nil, nil, err
	}
	b, err := x.readURLs(set)
	if err != nil {
		return nil, nil, err
	}
	h, p, derr := decodeBackup(b, full)
	if derr != nil {
		return nil, nil, errMediaFamily(first)
	}
	return h, p, nil
}

// errURLIO is a failed request to the store, worded as the server words an
// I/O device error (the store's answer is not repeated: its request URL
// may carry a SAS signature).
func errURLIO(raw string, write bool) *sqlError {
	const ioErr = "1117(The request could not be performed because of an I/O device error.)"
	if write {
		return errDeviceWrite(raw, ioErr)
	}
	return errDeviceOpen(raw, ioErr)
}

// chunks cuts data into pieces of at most size bytes (one, empty, for no data).
func chunks(data []byte, size int64) [][]byte {
	var out [][]byte
	for off := int64(0); off < int64(len(data)); off += size {
		out = append(out, data[off:min(off+size, int64(len(data)))])
	}
	if len(out) == 0 {
		out = append(out, data)
	}
	return out
}

// readDevice reads a RESTORE's backup: from disk, or from its URLs.
func (x *execCtx) readDevice(d *device, path string, o *opts, full bool) (*bakHeader, *bakPayload, *sqlError) {
	if d.kind != "URL" {
		return readBackupFile(path, full)
	}
	return x.readURLBackup(*d, path, o, full)
}

// execBackupURL is BACKUP … TO URL = '…'[, URL = '…']….
func (x *execCtx) execBackupURL(s *backupStmt, op, name, first string, o *opts, start time.Time) (result, *sqlError) {
	paths, err := x.urlPaths(s.device, first)
	if err != nil {
		return result{}, err.terminating(op)
	}
	set, err := x.openURLs(paths, o, true)
	if err != nil {
		return result{}, err.terminating(op)
	}
	srv := x.s.srv
	srv.mu.Lock()
	_, err = x.checkBackup(s.log, name, "", o)
	srv.mu.Unlock()
	if err != nil {
		return result{}, err.terminating(op)
	}
	if err := x.checkURLBackup(set, o); err != nil {
		return result{}, err.terminating(op)
	}
	if !x.progress(o.stats()) {
		return result{}, attnErr
	}
	srv.mu.Lock()
	d, err := x.checkBackup(s.log, name, "", o)
	if err != nil {
		srv.mu.Unlock()
		return result{}, err.terminating(op)
	}
	h, files, err := x.takeBackup(d, s.log, first, o, start, func(h *bakHeader, data []byte) *sqlError { return x.writeURLs(set, h, data) })
	if err == nil {
		// backupmediafamily: one row per URL, device type 9 (URL).
		st := srv.st
		fam := st.MediaFamilies[len(st.MediaFamilies)-1]
		fam.DeviceType = 9
		for i, p := range paths[1:] {
			st.MediaFamilies = append(st.MediaFamilies, &mediaFamilyRow{MediaSetID: fam.MediaSetID, FamilySequence: i + 2,
				MediaFamilyID: newGUID(), PhysicalDeviceName: p, DeviceType: 9})
		}
		srv.persist()
	}
	srv.mu.Unlock()
	if err != nil {
		return result{}, err.terminating(op)
	}
	x.finishMessages(op, h.DatabaseName, h, files, o.has("STATS"), start)
	return result{}, nil
}
