package wire

import (
	"errors"
	"io"
	"strings"
)

// CorpusCase is one input of the expat test: a stanza, and whether a strict
// parser must refuse it.
type CorpusCase struct {
	In     string
	Refuse bool
}

// Corpus returns the fuzz seeds, the strict and accepted cases and
// generated stanzas.
func Corpus() []CorpusCase {
	var out []CorpusCase
	for _, tc := range strictCases {
		// An element in the xml namespace is well-formed; the decoder
		// refuses it because the encoder could not write it back.
		out = append(out, CorpusCase{In: tc.in, Refuse: tc.name != "element in xml namespace"})
	}
	for _, tc := range acceptedCases {
		out = append(out, CorpusCase{In: tc.in, Refuse: tc.want == ""})
	}
	for _, in := range []string{`<message to='a@b'><body>hi</body></message>`,
		`<iq type='get'><query xmlns='jabber:iq:roster'/></iq> <presence/>`,
		`<a:b xmlns:a='x' a:c='d'><![CDATA[z]]>&#65;</a:b>`} {
		out = append(out, CorpusCase{In: in})
	}
	for _, in := range generated(3000) {
		out = append(out, CorpusCase{In: in})
	}
	return out
}

// Header is the stream header the corpus is decoded under.
const Header = header

// DecodeAll decodes every element of in after Header; it fails if any
// element fails.
func DecodeAll(in string) ([]*Element, error) {
	d := NewDecoder(strings.NewReader(header+in), 1<<16)
	if _, err := d.Header(); err != nil {
		return nil, err
	}
	var out []*Element
	for {
		e, err := d.Next()
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && len(out) > 0 {
				return out, nil
			}
			return nil, err
		}
		out = append(out, e)
	}
}
