package admin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// SocketName is the socket's file name inside the data directory.
const SocketName = "admin.sock"

// SocketPath returns <dataDir>/admin.sock.
func SocketPath(dataDir string) string {
	return filepath.Join(dataDir, SocketName)
}

// MaxRequest bounds one request line in bytes, the newline included.
// Passwords, names and file names fit many times over; imports and
// backups pass file names, never contents.
const MaxRequest = 1 << 20

// Request is one command sent to the running server.
type Request struct {
	Cmd  string   `json:"cmd"`            // "user add", "user list", ...
	Args []string `json:"args,omitempty"` // positional arguments
	// Flags holds command options such as "for" of maintenance on.
	Flags map[string]string `json:"flags,omitempty"`
	// Secret holds values that must never be logged, such as "password".
	Secret map[string]string `json:"secret,omitempty"`
}

// Response is the server's answer.
type Response struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Output string `json:"output,omitempty"` // text for the user's terminal
	Data   []byte `json:"data,omitempty"`   // binary output (exports), written after Output
}

var (
	// ErrTooLarge is returned by ReadRequest for a line longer than
	// MaxRequest; the server answers it and closes the connection.
	ErrTooLarge = fmt.Errorf("admin: request too large (more than %d bytes)", MaxRequest)
	// ErrMalformed is returned by ReadRequest for a line that is not a
	// JSON request object.
	ErrMalformed = errors.New("malformed request")
)

// ReadRequest reads one request line from r and decodes it.
// It returns io.EOF when r ends before a request starts, ErrTooLarge for
// a line over MaxRequest bytes (having read at most MaxRequest bytes plus
// r's buffer of it), ErrMalformed for a line that is not a JSON object,
// and r's error otherwise. A last line without a newline counts.
func ReadRequest(r *bufio.Reader) (Request, error) {
	line, err := readLine(r, MaxRequest)
	if err != nil {
		return Request{}, err
	}
	return DecodeRequest(line)
}

// DecodeRequest decodes one request line (with or without its newline).
// Anything but a single JSON object, such as a JSON null or trailing data,
// is ErrMalformed.
func DecodeRequest(line []byte) (Request, error) {
	// json.Unmarshal accepts null as "no change": only an object counts.
	if t := bytes.TrimLeft(line, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return Request{}, ErrMalformed
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return Request{}, ErrMalformed
	}
	return req, nil
}

// readLine reads one '\n'-terminated line of at most max bytes.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			return nil, ErrTooLarge
		}
		line = append(line, chunk...)
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return line, nil
			}
			return nil, err
		}
	}
}
