package wire

import "io"

// ParseFrame parses b as exactly one element, such as an XMPP-over-
// WebSocket message (RFC 7395 §3.3.3: every message is one complete
// element). Whitespace around the element is allowed; anything else, or
// no element at all, is ErrNotWellFormed. An element that declares no
// namespace is in jabber:client. The decoder's usual checks and limits
// apply; the caller bounds len(b).
func ParseFrame(b []byte) (*Element, error) {
	d := &Decoder{src: bytesReader(nil), rbuf: b, rend: len(b), rerr: io.EOF}
	d.binds = append(d.binds, binding{prefix: "", ns: NSClient})
	d.depth = 1
	el, err := d.Next()
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		// "</...>" alone, or a truncated element.
		return nil, ErrNotWellFormed
	}
	if err != nil {
		return nil, err
	}
	for _, c := range d.rbuf[d.rpos:d.rend] {
		if !isSpace(c) {
			return nil, ErrNotWellFormed
		}
	}
	return el, nil
}
