package server_test

import (
	"bufio"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// BenchmarkMUCFanout100Server is BenchmarkMUCFanout100 with the 100
// occupants in another process (the test binary re-executed as
// TestMUCFanoutClientHelper), so the CPU measured is the server's alone:
// c2s reading the one message, the muc service, delivery and the TLS
// writes of 100 copies.
func BenchmarkMUCFanout100Server(b *testing.B) {
	e, _ := startMUC(b, nil, func(c *muc.Config) { c.MessageRate = 1e6; c.MessageBurst = 1 << 20 })
	const n = 100
	for i := range n {
		e.user(b, "u"+strconv.Itoa(i))
	}
	e.user(b, "owner")
	owner := e.login(b, "owner")
	occ := "bench@" + mucDomain + "/owner"
	owner.SendRaw(`<presence to='` + occ + `'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	owner.Expect("created", func(el *wire.Element) bool { return el.Local == "presence" && el.Get("from") == occ })
	configure(b, owner, "bench", map[string]string{"muc#roomconfig_persistentroom": "1", "muc#roomconfig_maxusers": "200"})
	owner.SendRaw(`<presence type='unavailable' to='` + occ + `'/>`)
	owner.Expect("left", func(el *wire.Element) bool { return el.Local == "presence" && el.Get("type") == "unavailable" })
	ca := filepath.Join(b.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, e.ca.PEM, 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMUCFanoutClientHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CHATBX_MUC_HELPER_ADDR="+e.plain, "CHATBX_MUC_HELPER_CA="+ca)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer in.Close()
	lines := bufio.NewScanner(outPipe)
	wait := func(prefix string) string {
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), prefix) {
				return lines.Text()
			}
		}
		b.Fatalf("helper ended before %q", prefix)
		return ""
	}
	wait("READY")
	b.ResetTimer()
	cpu0 := cpuTime()
	fmt.Fprintf(in, "%d\n", b.N)
	done := wait("DONE")
	cpu := cpuTime() - cpu0
	b.StopTimer()
	total, _ := strconv.Atoi(strings.TrimPrefix(done, "DONE "))
	if total != b.N*n {
		b.Fatalf("delivered %d, want %d", total, b.N*n)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(total), "server-cpu-ns/delivered")
}

// TestMUCFanoutClientHelper is the client side of
// BenchmarkMUCFanout100Server when re-executed with its environment.
func TestMUCFanoutClientHelper(t *testing.T) {
	addr := os.Getenv("CHATBX_MUC_HELPER_ADDR")
	if addr == "" {
		t.Skip("helper process of BenchmarkMUCFanout100Server")
	}
	pem, err := os.ReadFile(os.Getenv("CHATBX_MUC_HELPER_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	const n = 100
	clients := make([]*xmpptest.Client, n)
	for i := range n {
		name := "u" + strconv.Itoa(i)
		clients[i] = xmpptest.Login(t, addr, domain, name, "secret-"+name, xmpptest.Options{Pool: pool})
		occ := "bench@" + mucDomain + "/" + name
		clients[i].SendRaw(`<presence to='` + occ + `'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`)
		clients[i].Expect("joined", func(el *wire.Element) bool {
			return el.Local == "message" && el.Child(wire.NSClient, "subject") != nil
		})
	}
	fmt.Println("READY")
	var msgs int
	if _, err := fmt.Scan(&msgs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	counts := make(chan int, n)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := 0
			for got < msgs {
				el, err := c.Next()
				if err != nil {
					break
				}
				if el.Local == "message" && el.Get("type") == "groupchat" && el.Child(wire.NSClient, "body") != nil {
					got++
				}
			}
			counts <- got
		}()
	}
	for i := range msgs {
		clients[0].SendRaw(`<message type='groupchat' to='bench@` + mucDomain + `'><body>hello everyone, message ` + strconv.Itoa(i) + `</body></message>`)
	}
	wg.Wait()
	close(counts)
	total := 0
	for c := range counts {
		total += c
	}
	fmt.Println("DONE", total)
}
