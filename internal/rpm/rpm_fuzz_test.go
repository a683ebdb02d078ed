package rpm

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzRPM feeds Extract damaged packages of each compression: it must
// return an error or verified files, never crash or run past its limits.
func FuzzRPM(f *testing.F) {
	for _, compress := range []func([]byte) []byte{gzipped, xzed, zstded} {
		f.Add(fakeRPM{files: loaderFiles, compress: compress}.build())
	}
	f.Add(fakeRPM{files: loaderFiles, noPayloadDigest: true, noHeaderDigest: true, noFileDigests: true, md5Sig: true}.build())
	f.Add(fakeRPM{files: loaderFiles, noPayloadDigest: true}.build())
	lim := Limits{MaxHeader: 1 << 20, MaxCompressed: 1 << 20, MaxArchive: 4 << 20, MaxFile: 1 << 20, MaxWindow: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		pkg, err := Extract(bytes.NewReader(data), func(string) bool { return true }, lim)
		if err != nil {
			return
		}
		if pkg.Verified == "" {
			t.Fatal("files returned unverified")
		}
		for name, content := range pkg.Files {
			if int64(len(content)) > lim.MaxFile || name == "" || name[0] != '/' || bytes.Contains([]byte(name), []byte("/../")) {
				t.Fatalf("file %q of %d bytes returned", name, len(content))
			}
		}
	})
}

// FuzzPayload feeds the decompressors and the cpio reader directly, past
// the digests that stop most of FuzzRPM's inputs early.
func FuzzPayload(f *testing.F) {
	archive := cpioArchive(loaderFiles)
	for _, compress := range []func([]byte) []byte{gzipped, xzed, zstded} {
		f.Add(compress(archive))
	}
	f.Add(xzWithDict(20))
	lim := Limits{MaxArchive: 4 << 20, MaxFile: 1 << 20, MaxWindow: 1 << 20}.withDefaults()
	f.Fuzz(func(t *testing.T, data []byte) {
		archive, _, err := decompress(bufio.NewReader(bytes.NewReader(data)), "", lim)
		if err != nil {
			return
		}
		defer archive.Close()
		files := map[string][]byte{}
		if err := readArchive(archive, func(string) bool { return true }, lim, files); err != nil {
			return
		}
		for name, content := range files {
			if int64(len(content)) > lim.MaxFile || !strings.HasPrefix(name, "/") || strings.Contains(name, "/../") {
				t.Fatalf("file %q of %d bytes returned", name, len(content))
			}
		}
	})
}
