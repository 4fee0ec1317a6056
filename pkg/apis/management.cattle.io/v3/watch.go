package v3

import (
	"bytes"
	"fmt"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A watch response is a stream of events, {"type":"MODIFIED","object":{...}},
// one JSON object after the other. client-go splits the stream into frames
// with its framer, decodes each frame into a metav1.WatchEvent with the
// stream serializer, then decodes the event's object with the object
// decoder. jsonFramer and eventDecoder do the first two steps without
// checking the object: the object decoder of the same codecs, which always
// runs next, checks it.

// maxFrame bounds the bytes held for one event, as client-go's streaming
// decoder bounds what it reads (16 MiB).
const maxFrame = 16 << 20

// ErrFrameTooLarge is returned by the watch framer for an event longer
// than 16 MiB.
var ErrFrameTooLarge = fmt.Errorf("v3: watch event over %d bytes", maxFrame)

// jsonFramer splits a JSON stream by matching brackets.
type jsonFramer struct{ runtime.Framer }

func (f jsonFramer) NewFrameReader(r io.ReadCloser) io.ReadCloser { return &frameReader{r: r} }

// frameReader returns one JSON object per Read, or as much of it as fits
// with io.ErrShortBuffer and the rest on the next Reads, as client-go's
// framers do.
type frameReader struct {
	r   io.ReadCloser
	buf []byte
	// buf[start:end] is read and not yet returned; buf[start:start+scan]
	// is the part of the next frame scanned so far.
	start, end, scan int
	depth            int
	inString         bool // the scan stopped in a string, whose body starts at buf[start+strBody]
	strBody          int
	pending          []byte // the rest of a frame larger than the caller's buffer
	err              error
}

func (f *frameReader) Read(p []byte) (int, error) {
	if len(f.pending) > 0 {
		n := copy(p, f.pending)
		f.pending = f.pending[n:]
		if len(f.pending) > 0 {
			return n, io.ErrShortBuffer
		}
		return n, nil
	}
	frame, err := f.next()
	if err != nil {
		return 0, err
	}
	n := copy(p, frame)
	if n < len(frame) {
		f.pending = frame[n:]
		return n, io.ErrShortBuffer
	}
	return n, nil
}

// next returns the next frame, which stays valid until the next call.
func (f *frameReader) next() ([]byte, error) {
	for {
		if frame, ok, err := f.scanFrame(); err != nil || ok {
			return frame, err
		}
		if f.err != nil {
			if f.err == io.EOF && f.scan > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, f.err
		}
		f.fill()
	}
}

// scanFrame goes on scanning the buffered bytes for the end of a frame.
func (f *frameReader) scanFrame() ([]byte, bool, error) {
	if f.scan == 0 {
		f.start = skipSpace(f.buf[:f.end], f.start)
		if f.start == f.end {
			return nil, false, nil
		}
		if c := f.buf[f.start]; c != '{' && c != '[' {
			return nil, false, fmt.Errorf("watch stream: an event starts with %q: %w", c, errSyntax)
		}
	}
	b := f.buf[:f.end]
	j := f.start + f.scan
	if f.inString {
		// The string began in an earlier read: finish it.
		q := closeQuote(b, f.start+f.strBody, j)
		if q < 0 {
			f.scan = len(b) - f.start
			return nil, false, f.checkSize()
		}
		f.inString, j = false, q+1
	}
	for ; j < len(b); j++ {
		switch b[j] {
		case '"':
			q := closeQuote(b, j+1, j+1)
			if q < 0 {
				f.inString, f.strBody = true, j+1-f.start
				f.scan = len(b) - f.start
				return nil, false, f.checkSize()
			}
			j = q
		case '{', '[':
			f.depth++
		case '}', ']':
			f.depth--
			if f.depth == 0 {
				frame := b[f.start : j+1]
				f.start, f.scan = j+1, 0
				return frame, true, nil
			}
		}
	}
	f.scan = len(b) - f.start
	return nil, false, f.checkSize()
}

func (f *frameReader) checkSize() error {
	if f.scan > maxFrame {
		return ErrFrameTooLarge
	}
	return nil
}

// fill reads more of the stream, keeping the frame being scanned.
func (f *frameReader) fill() {
	if f.start > 0 {
		f.end = copy(f.buf, f.buf[f.start:f.end])
		f.start = 0
	}
	if f.end == len(f.buf) {
		f.buf = append(f.buf, make([]byte, max(32<<10, len(f.buf)))...)
	}
	n, err := f.r.Read(f.buf[f.end:])
	f.end += n
	f.err = err
}

func (f *frameReader) Close() error { return f.r.Close() }

// eventDecoder is the stock stream serializer with a decoder of watch
// events that leaves the event's object to the object decoder.
type eventDecoder struct{ runtime.Serializer }

func (d *eventDecoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if ev, ok := into.(*metav1.WatchEvent); ok {
		var got metav1.WatchEvent
		if err := decodeEvent(data, &got); err == nil {
			*ev = got
			gvk := SchemeGroupVersion.WithKind("WatchEvent")
			return ev, &gvk, nil
		}
	}
	return d.Serializer.Decode(data, defaults, into)
}

// decodeEvent reads the type of a watch event and finds its object, which
// it neither checks nor copies: ev.Object.Raw is part of data, and the
// object decoder reads it before the next event is read into the same
// buffer, keeping nothing of it. Any error leaves the event to the stock
// decoder.
func decodeEvent(data []byte, ev *metav1.WatchEvent) error {
	return decodeWhole(data, func(i int) (int, error) {
		if data[i] != '{' {
			return 0, errUnusual
		}
		end, _, err := walkObject(data, i, 0, func(key []byte, i, depth int) (int, error) {
			switch string(key) {
			case "type":
				end, err := skipValue(data, i, depth)
				if err != nil {
					return 0, err
				}
				s, ok := plainString(data[i:end])
				if !ok {
					return 0, errUnusual
				}
				ev.Type = s
				return end, nil
			case "object":
				end, err := matchValue(data, i)
				if err != nil {
					return 0, err
				}
				if !bytes.Equal(data[i:end], []byte("null")) {
					ev.Object.Raw = data[i:end:end]
				}
				return end, nil
			}
			if bytes.EqualFold(key, []byte("apiVersion")) || bytes.EqualFold(key, []byte("kind")) {
				return 0, errUnusual
			}
			return skipValue(data, i, depth)
		})
		return end, err
	})
}
