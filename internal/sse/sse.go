// Package sse reads and writes Server-Sent Events as the OpenAI and Anthropic
// streaming APIs frame them (https://html.spec.whatwg.org/multipage/server-sent-events.html).
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// MaxEventSize bounds one event's data; a longer event is an error rather
// than unbounded memory growth.
const MaxEventSize = 8 << 20

// ErrEventTooLarge is returned by Reader.Next for an event over MaxEventSize.
var ErrEventTooLarge = errors.New("sse: event too large")

// Event is one dispatched event.
type Event struct {
	// Event is the event type ("" means "message").
	Event string
	// Data holds the data lines joined by "\n". It is valid until the next call of Next.
	Data []byte
	// ID is the last event ID field seen, if any.
	ID string
}

// Reader reads events from a stream.
type Reader struct {
	br    *bufio.Reader
	data  []byte
	event string
	id    string
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 16<<10)}
}

// Next returns the next event. It returns io.EOF at the end of the stream; a
// stream that ends inside an event returns io.ErrUnexpectedEOF. Comments
// (":" lines) and retry fields are skipped.
func (r *Reader) Next() (Event, error) {
	r.data = r.data[:0]
	r.event = ""
	hasData := false
	sawField := false
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && (hasData || sawField) {
				if hasData {
					return Event{Event: r.event, Data: r.data, ID: r.id}, nil
				}
				return Event{}, io.EOF
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if hasData {
				return Event{Event: r.event, Data: r.data, ID: r.id}, nil
			}
			r.event = ""
			sawField = false
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		sawField = true
		switch string(field) {
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			if len(r.data)+len(value) > MaxEventSize {
				return Event{}, ErrEventTooLarge
			}
			r.data = append(r.data, value...)
			hasData = true
		case "event":
			r.event = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.id = string(value)
			}
		}
	}
}

// readLine returns one line without its terminator (LF, CRLF or CR).
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			if len(buf) > MaxEventSize {
				return nil, ErrEventTooLarge
			}
			line, err = r.br.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil && !(err == io.EOF && len(line) > 0) {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	// A lone CR also ends a line; split and keep the rest for later reads is
	// rare enough in LLM APIs that we treat an embedded CR as a terminator of
	// the field value only.
	if i := bytes.IndexByte(line, '\r'); i >= 0 {
		line = line[:i]
	}
	return line, nil
}

// AppendEvent appends the SSE framing of one event to b: an optional
// "event:" line, one "data:" line per line of data, and a blank line.
func AppendEvent(b []byte, event string, data []byte) []byte {
	if event != "" {
		b = append(b, "event: "...)
		b = append(b, event...)
		b = append(b, '\n')
	}
	for {
		i := bytes.IndexByte(data, '\n')
		b = append(b, "data: "...)
		if i < 0 {
			b = append(b, data...)
			b = append(b, '\n')
			break
		}
		b = append(b, data[:i]...)
		b = append(b, '\n')
		data = data[i+1:]
	}
	return append(b, '\n')
}

// Done is OpenAI's stream terminator event, framed.
var Done = []byte("data: [DONE]\n\n")
