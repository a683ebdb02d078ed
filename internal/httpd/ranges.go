package httpd

import (
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// maxRanges is how many ranges one request may ask for. Over it the Range
// header is ignored and the whole file is sent with 200, as nginx's
// max_ranges and Apache's MaxRanges do (RFC 9110 §14.2 lets a server
// ignore Range): the client still gets its bytes, where a 416 would fail
// it, and the answer is never bigger than a plain GET — thousands of tiny
// ranges no longer make a multipart answer of megabytes.
const maxRanges = 32

// serveContent is http.ServeContent (conditional requests, Range, exact
// Content-Length) after checkRange.
func serveContent(w http.ResponseWriter, r *http.Request, name string, modtime time.Time, content io.ReadSeeker, size int64) {
	checkRange(r, size)
	http.ServeContent(w, r, name, modtime, content)
}

// checkRange prepares r's Range header for http.ServeContent, which parses
// it, after If-Range and the other preconditions. It removes a header in a
// unit other than bytes (which RFC 9110 says to ignore), one with more than
// maxRanges ranges, and any range on an empty file; and it drops suffix
// ranges of zero bytes (bytes=-0), which are unsatisfiable but which
// ServeContent would answer 206 with an inverted Content-Range. When no
// range is left, the header asks for bytes past the end, which
// ServeContent answers 416 with Content-Range: bytes */SIZE.
func checkRange(r *http.Request, size int64) {
	header := r.Header.Get("Range")
	if header == "" {
		return
	}
	set, ok := strings.CutPrefix(header, "bytes=")
	if !ok || size == 0 {
		r.Header.Del("Range")
		return
	}
	var kept []string
	count := 0
	for spec := range strings.SplitSeq(set, ",") {
		spec = textproto.TrimString(spec)
		if spec == "" {
			continue
		}
		if count++; count > maxRanges {
			r.Header.Del("Range")
			return
		}
		if !zeroSuffix(spec) {
			kept = append(kept, spec)
		}
	}
	switch {
	case len(kept) == count:
	case len(kept) == 0:
		r.Header.Set("Range", "bytes="+strconv.FormatInt(size, 10)+"-")
	default:
		r.Header.Set("Range", "bytes="+strings.Join(kept, ","))
	}
}

// zeroSuffix reports whether spec asks for the last zero bytes ("-0",
// "-+00"), read the way net/http's parser reads it.
func zeroSuffix(spec string) bool {
	start, end, ok := strings.Cut(spec, "-")
	end = textproto.TrimString(end)
	if !ok || textproto.TrimString(start) != "" || end == "" || end[0] == '-' {
		return false
	}
	n, err := strconv.ParseInt(end, 10, 64)
	return err == nil && n == 0
}
