package server_test

import (
	"fmt"
	"testing"
	"time"

	"chatbx/server"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// BenchmarkPEPPublishFanout: one PEP publish (an OMEMO device list) and
// its notification to 100 contacts whose clients advertise +notify
// (verified caps, cached), each on its own TLS stream. One op is the
// publish, its result and all 100 notifications read by the clients.
func BenchmarkPEPPublishFanout(b *testing.B) {
	const contacts = 100
	e := start(b, func(c *server.Config) { c.ConnPerSecond, c.ConnBurst, c.AuthFailBurst = 1e6, 1e6, 1e6 })
	e.user(b, "alice")
	cc := capsClient{name: "bench", features: []string{nsInfo, devicelist + "+notify"}}
	got := make(chan struct{}, contacts)
	for i := range contacts {
		name := fmt.Sprintf("c%03d", i)
		e.user(b, name)
		befriend(b, e.db, "alice", name)
		c := e.login(b, name)
		available(b, c, &cc, i == 0) // the first answers the caps query; the rest hit the cache
		go func() {
			for {
				el, err := c.Next()
				if err != nil {
					return
				}
				if len(events([]*wire.Element{el}, devicelist)) > 0 {
					got <- struct{}{}
				}
			}
		}()
	}
	a := e.login(b, "alice")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprint("p", i)
		r := a.IQ(publish(id, devicelist, "current", fmt.Sprintf("<list xmlns='eu.siacs.conversations.axolotl'><device id='%d'/></list>", i), ""))
		if r.Get("type") != "result" {
			b.Fatalf("publish: %s", xmpptest.String(r))
		}
		for range contacts {
			select {
			case <-got:
			case <-time.After(xmpptest.Wait):
				b.Fatal("a notification did not arrive")
			}
		}
	}
	b.ReportMetric(float64(contacts), "notifications/op")
}
