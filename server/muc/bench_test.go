package muc

import (
	"context"
	"strconv"
	"testing"

	"chatbx/server/wire"
)

// BenchmarkGroupchatFanout100: one groupchat message to a room of 100
// occupants (the service's work: checks, ids, history, 100 addressed
// copies); the send function only counts. Reports ns per delivered copy.
func BenchmarkGroupchatFanout100(b *testing.B) {
	h := newHarness(b, func(c *Config) { c.MessageRate = 1e9; c.MessageBurst = 1 << 30 })
	for i := range 100 {
		h.join("u"+strconv.Itoa(i), "room", "n"+strconv.Itoa(i))
	}
	el, err := wire.Parse([]byte(`<message xmlns='jabber:client' type='groupchat' id='x' from='u0@example.org/r' to='room@conference.example.org'><body>hello everyone, a message of ordinary length</body></message>`))
	if err != nil {
		b.Fatal(err)
	}
	delivered := 0
	send := func(*wire.Element) { delivered++ }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.s.Handle(ctx, el, send)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(delivered), "ns/delivered")
}
