package disk

// This file holds the on-disk format of an entry and the start-up scan that
// rebuilds the index from the files.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// An entry file is a fixed header, the key and the value:
//
//	offset size field
//	0      4    magic "SBC1"
//	4      4    key length (uint32, little endian)
//	8      8    expiry (int64 Unix nanoseconds)
//	16     8    value length (uint64)
//	24     4    CRC-32C of bytes 0–23, the key and the value
//	28     …    key, then value
//
// Its name is the hex SHA-256 of the key, in a subdirectory named by the
// first two hex digits (256 shards). It is written to a temporary file
// (tmpPrefix) in the same directory and renamed into place.
const (
	headerSize = 28
	tmpPrefix  = ".tmp-"
	// maxKeyLen bounds the key length a header may claim.
	maxKeyLen = 1 << 20
)

var (
	magic      = [4]byte{'S', 'B', 'C', '1'}
	crc32cTab  = crc32.MakeTable(crc32.Castagnoli)
	errCorrupt = errors.New("corrupt entry file")
)

// keyHash is the SHA-256 of a key; its hex form names the entry's file.
type keyHash [sha256.Size]byte

func hashKey(key string) keyHash { return sha256.Sum256([]byte(key)) }

// path returns where the file of the key with hash h lives under root.
func (h keyHash) path(root string) string {
	name := hex.EncodeToString(h[:])
	return filepath.Join(root, name[:2], name)
}

// header is the decoded fixed part of an entry file.
type header struct {
	keyLen   uint32
	expires  int64
	valueLen uint64
	crc      uint32
}

// encodeHeader returns the header and key of an entry, with the checksum of
// the header, key and value filled in.
func encodeHeader(key string, value []byte, expires int64) []byte {
	buf := make([]byte, headerSize, headerSize+len(key))
	copy(buf, magic[:])
	binary.LittleEndian.PutUint32(buf[4:], uint32(len(key)))
	binary.LittleEndian.PutUint64(buf[8:], uint64(expires))
	binary.LittleEndian.PutUint64(buf[16:], uint64(len(value)))
	buf = append(buf, key...)
	crc := crc32.Update(0, crc32cTab, buf[:24])
	crc = crc32.Update(crc, crc32cTab, buf[headerSize:])
	crc = crc32.Update(crc, crc32cTab, value)
	binary.LittleEndian.PutUint32(buf[24:], crc)
	return buf
}

// decodeHeader parses the fixed header at the start of b.
func decodeHeader(b []byte) (header, error) {
	if len(b) < headerSize || !bytes.Equal(b[:4], magic[:]) {
		return header{}, fmt.Errorf("%w: bad header", errCorrupt)
	}
	h := header{
		keyLen:   binary.LittleEndian.Uint32(b[4:]),
		expires:  int64(binary.LittleEndian.Uint64(b[8:])),
		valueLen: binary.LittleEndian.Uint64(b[16:]),
		crc:      binary.LittleEndian.Uint32(b[24:]),
	}
	if h.keyLen > maxKeyLen {
		return header{}, fmt.Errorf("%w: key length %d", errCorrupt, h.keyLen)
	}
	return h, nil
}

// size is the length of the whole file the header describes.
func (h header) size() int64 {
	return headerSize + int64(h.keyLen) + int64(h.valueLen)
}

// decodeEntry checks a whole entry file against key and returns its value
// (a slice of b) and expiry.
func decodeEntry(b []byte, key string) (value []byte, expires int64, err error) {
	h, err := decodeHeader(b)
	if err != nil {
		return nil, 0, err
	}
	if h.valueLen > uint64(len(b)) || h.size() != int64(len(b)) {
		return nil, 0, fmt.Errorf("%w: %d bytes, header says %d", errCorrupt, len(b), h.size())
	}
	k := b[headerSize : headerSize+int(h.keyLen)]
	value = b[headerSize+int(h.keyLen):]
	crc := crc32.Update(0, crc32cTab, b[:24])
	crc = crc32.Update(crc, crc32cTab, k)
	crc = crc32.Update(crc, crc32cTab, value)
	if crc != h.crc {
		return nil, 0, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	if string(k) != key {
		return nil, 0, fmt.Errorf("%w: holds another key", errCorrupt)
	}
	return value, h.expires, nil
}

// writeEntry writes an entry to a new temporary file in dir and returns its
// path. The caller renames or removes it.
func writeEntry(dir, key string, value []byte, expires int64) (string, error) {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o750); err == nil {
			f, err = os.CreateTemp(dir, tmpPrefix+"*")
		}
	}
	if err != nil {
		return "", err
	}
	_, err = f.Write(encodeHeader(key, value, expires))
	if err == nil && len(value) > 0 {
		_, err = f.Write(value)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// scanned is an entry file found by the start-up scan.
type scanned struct {
	key     string
	hash    keyHash
	size    int64
	expires int64
	mtime   time.Time
}

// scanResult is what the start-up scan found.
type scanResult struct {
	entries []scanned
	removed int // corrupt, partial, expired or temporary files deleted
}

// scan reads the header of every entry file under root. It deletes
// temporary files, expired entries and files whose header, size or name is
// wrong; the checksum of the value is checked later, on Get. Files and
// directories it does not recognise are left alone.
func scan(ctx context.Context, root string, now int64) (scanResult, error) {
	dirs, err := os.ReadDir(root)
	if err != nil {
		return scanResult{}, err
	}
	var (
		res  scanResult
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, min(runtime.GOMAXPROCS(0), 8))
	)
	for _, d := range dirs {
		if !d.IsDir() || !isHex(d.Name(), 2) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := scanShard(filepath.Join(root, d.Name()), d.Name(), now)
			mu.Lock()
			defer mu.Unlock()
			res.entries = append(res.entries, r.entries...)
			res.removed += r.removed
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// scanShard scans one shard directory.
func scanShard(dir, shard string, now int64) (scanResult, error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return scanResult{}, err
	}
	var res scanResult
	for _, f := range files {
		name := f.Name()
		path := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			// Left by a write that never finished.
		case f.Type().IsRegular() && isHex(name, 2*sha256.Size) && strings.HasPrefix(name, shard):
			e, err := readHeader(path)
			if err == nil && e.expires > now {
				res.entries = append(res.entries, e)
				continue
			}
		default:
			continue
		}
		if err := os.Remove(path); err == nil {
			res.removed++
		}
	}
	return res, nil
}

// readHeader reads and checks the header and key of the entry file at path.
func readHeader(path string) (scanned, error) {
	f, err := os.Open(path)
	if err != nil {
		return scanned{}, err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return scanned{}, err
	}
	var hb [headerSize]byte
	if _, err := io.ReadFull(f, hb[:]); err != nil {
		return scanned{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	h, err := decodeHeader(hb[:])
	if err != nil {
		return scanned{}, err
	}
	if h.valueLen > uint64(fi.Size()) || h.size() != fi.Size() {
		return scanned{}, fmt.Errorf("%w: partial file", errCorrupt)
	}
	key := make([]byte, h.keyLen)
	if _, err := io.ReadFull(f, key); err != nil {
		return scanned{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	kh := hashKey(string(key))
	if hex.EncodeToString(kh[:]) != filepath.Base(path) {
		return scanned{}, fmt.Errorf("%w: name does not match key", errCorrupt)
	}
	return scanned{key: string(key), hash: kh, size: fi.Size(), expires: h.expires, mtime: fi.ModTime()}, nil
}

// isHex reports whether s is n lower-case hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
