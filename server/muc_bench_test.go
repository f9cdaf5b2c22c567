package server_test

import (
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"chatbx/server/muc"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMUCFanout100: one occupant sends groupchat messages to a room
// of 100 occupants connected over loopback TLS; each op is one message
// delivered to all 100. Reports the process CPU per delivered copy
// (server and the 100 test clients' TLS reads and parsing together: an
// upper bound for the server's share) and the muc service's part is
// BenchmarkGroupchatFanout100 in server/muc.
func BenchmarkMUCFanout100(b *testing.B) {
	e, _ := startMUC(b, nil, func(c *muc.Config) { c.MessageRate = 1e6; c.MessageBurst = 1 << 20 })
	const n = 100
	clients := make([]*xmpptest.Client, n)
	for i := range n {
		name := "u" + strconv.Itoa(i)
		e.user(b, name)
		clients[i] = e.login(b, name)
		occ := "bench@" + mucDomain + "/" + name
		clients[i].SendRaw(`<presence to='` + occ + `'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`)
		clients[i].Expect("joined", func(el *wire.Element) bool {
			return el.Local == "message" && el.Child(wire.NSClient, "subject") != nil
		})
		if i == 0 {
			configure(b, clients[0], "bench", map[string]string{"muc#roomconfig_maxusers": "200"})
		}
	}
	var wg sync.WaitGroup
	counts := make(chan int, n)
	start := make(chan int)
	for i := range n {
		wg.Add(1)
		go func(c *xmpptest.Client) {
			defer wg.Done()
			want := <-start
			got := 0
			for got < want {
				el, err := c.Next()
				if err != nil {
					break
				}
				if el.Local == "message" && el.Get("type") == "groupchat" && el.Child(wire.NSClient, "body") != nil {
					got++
				}
			}
			counts <- got
		}(clients[i])
	}
	msgs := b.N
	for range n {
		start <- msgs
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < msgs; i++ {
		clients[0].SendRaw(`<message type='groupchat' to='bench@` + mucDomain + `'><body>hello everyone, message ` + strconv.Itoa(i) + `</body></message>`)
	}
	wg.Wait()
	cpu := cpuTime() - cpu0
	b.StopTimer()
	close(counts)
	total := 0
	for c := range counts {
		total += c
	}
	if total != msgs*n {
		b.Fatalf("delivered %d, want %d", total, msgs*n)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(total), "cpu-ns/delivered")
}
