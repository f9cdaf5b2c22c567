package store

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Every stored value starts with a version byte, so a later schema can read
// old values or migrate them (see migrations in db.go).
// Keys carry no version byte: they are user names, JIDs and big-endian ids.
const codecV1 byte = 1

// appendBytes appends p with a uvarint length prefix.
func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// appendString appends s with a uvarint length prefix.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// u64key returns v as an 8-byte big-endian key, so that keys sort numerically.
func u64key(v uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v)
}

// timeKey returns t as a big-endian UTC UnixNano key (sorted by time).
func timeKey(t time.Time) []byte {
	return u64key(uint64(t.UnixNano()))
}

// decoder reads a value written with the append helpers.
// The first error sticks; later reads return zero values.
// Slices it returns alias the input.
type decoder struct {
	b   []byte
	err error
}

// newDecoder checks the version byte of v and returns a decoder for the rest.
func newDecoder(v []byte) decoder {
	if len(v) == 0 {
		return decoder{err: fmt.Errorf("%w: empty value", ErrCorrupt)}
	}
	if v[0] != codecV1 {
		return decoder{err: fmt.Errorf("%w: unknown value version %d", ErrCorrupt, v[0])}
	}
	return decoder{b: v[1:]}
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: short or malformed %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("uint64")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// bytes returns a length-prefixed field; the result aliases the input
// and its capacity is clipped so appends cannot overwrite what follows.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("bytes")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	return string(d.bytes())
}

// rest returns the remaining input (aliasing it).
func (d *decoder) rest() []byte {
	if d.err != nil {
		return nil
	}
	v := d.b
	d.b = nil
	return v
}

// done returns the sticky error, or an error if input is left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return d.err
}

// flagValue is the value stored for set members (blocklist entries):
// only the version byte.
var flagValue = []byte{codecV1}

// appendUvarint appends v as a uvarint.
func appendUvarint(b []byte, v uint64) []byte {
	return binary.AppendUvarint(b, v)
}
