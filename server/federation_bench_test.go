package server_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"chatbx/server"
	"chatbx/server/wire"
)

// BenchmarkFederationMessage routes chat messages from alice@a.test to
// bob@b.test across two chatbx instances in this process (c2s → s2s →
// s2s → c2s, TLS on every hop). cpu-µs/msg is the process's user and
// system CPU time per message, both servers and both clients together.
func BenchmarkFederationMessage(b *testing.B) {
	// The per-domain inbound limit (s2s.stanzas_per_second) would pace
	// the benchmark: lifted here.
	a, bs, _ := federation(b, func(c *server.Config, _ *server.Deps) {
		c.S2S.StanzasPerSecond, c.S2S.StanzaBurst = 1e9, 1e6
		c.S2S.QueueBytes = 64 << 20 // all b.N messages may wait at once
	})
	a.user(b, "alice")
	bs.user(b, "bob")
	alice := a.login(b, "alice")
	bob := bs.login(b, "bob")
	// alice is bob's contact: the stranger limit (first contacts per
	// remote domain) does not apply.
	bob.IQ(`<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='alice@a.test'/></query></iq>`)
	bob.SendRaw(`<presence/>`)
	bob.IQ(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
	// Warm the link up.
	alice.SendRaw(`<message to='bob@b.test' type='chat'><body>warm</body></message>`)
	bob.Expect("warm-up", isMsg("warm"))
	done := make(chan error, 1)
	// At most window messages in flight, so that bob's session queue
	// (c2s.queue_bytes, 2000 stanzas) is never what limits the run.
	const window = 500
	credit := make(chan struct{}, window+1)
	for range window {
		credit <- struct{}{}
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ResetTimer()
	c0 := cpu()
	go func() {
		for i := 0; i < b.N; i++ {
			el, err := bob.Next()
			if err != nil {
				done <- err
				close(credit) // the sender stops waiting
				return
			}
			if el.Local != "message" || el.ChildText(wire.NSClient, "body") == "" {
				i--
				continue
			}
			credit <- struct{}{}
		}
		done <- nil
	}()
	for i := 0; i < b.N; i++ {
		if _, ok := <-credit; !ok {
			break
		}
		alice.SendRaw(fmt.Sprintf(`<message to='bob@b.test' type='chat' id='b%d'><body>benchmark message %d</body></message>`, i, i))
	}
	if err := <-done; err != nil {
		ac, bc := a.srv.S2S().Counters(), bs.srv.S2S().Counters()
		b.Fatalf("%v (a sent %d, bounced %d; b received %d)", err, ac.Sent.Load(), ac.Bounced.Load(), bc.Received.Load())
	}
	b.StopTimer()
	b.ReportMetric(float64((cpu()-c0).Microseconds())/float64(b.N), "cpu-µs/msg")
}
