// Package wire is chatbx's XML layer for XMPP streams (RFC 6120 §4, §11).
//
// It reads one top-level element at a time into a small tree, enforces the
// restricted XML profile of RFC 6120 §11.1 (no comments, processing
// instructions, DTDs or entity references beyond the five predefined ones),
// and writes elements back without going through encoding/xml.
//
// What one account sends reaches other accounts' parsers, so the decoder
// accepts only what strict parsers (expat, encoding/xml) accept: valid UTF-8,
// XML 1.0 characters and names, namespace-well-formed declarations, no
// duplicate attributes. Whatever it accepts the encoder writes as XML those
// parsers read back as the same tree (FuzzDecoder, TestExpat). Limits caps
// the bytes, elements and attributes of each stanza and the namespace
// declarations of each element, so that a stanza's tree stays within a
// small multiple of its bytes.
// The router only looks at a stanza's name and to/from/type/id attributes,
// so routing a message costs one parse and one serialisation.
//
// Every part of the XMPP side speaks in *Element: Decoder reads the TCP
// stream (package c2s), ParseFrame reads one WebSocket message (package
// server/ws, RFC 7395 §3.3.3), and handlers build replies with New.
// It imports nothing of chatbx.
package wire
