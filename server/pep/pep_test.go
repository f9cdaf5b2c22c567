package pep

import (
	"testing"

	"chatbx/server/wire"
	"chatbx/store"
)

func parse(t testing.TB, s string) *wire.Element {
	t.Helper()
	el, err := wire.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return el
}

// XEP-0115 §5.2 and §5.3 examples.
func TestCapsVer(t *testing.T) {
	tests := []struct{ name, query, want string }{
		{"simple", `<query xmlns='http://jabber.org/protocol/disco#info'>
<identity category='client' name='Exodus 0.9.1' type='pc'/>
<feature var='http://jabber.org/protocol/caps'/>
<feature var='http://jabber.org/protocol/disco#info'/>
<feature var='http://jabber.org/protocol/disco#items'/>
<feature var='http://jabber.org/protocol/muc'/>
</query>`, "QgayPKawpkPSDYmwT/WM94uAlu0="},
		{"complex", `<query xmlns='http://jabber.org/protocol/disco#info'>
<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
<identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
<feature var='http://jabber.org/protocol/caps'/>
<feature var='http://jabber.org/protocol/disco#info'/>
<feature var='http://jabber.org/protocol/disco#items'/>
<feature var='http://jabber.org/protocol/muc'/>
<x xmlns='jabber:x:data' type='result'>
<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
<field var='ip_version'><value>ipv4</value><value>ipv6</value></field>
<field var='os'><value>Mac</value></field>
<field var='os_version'><value>10.5.1</value></field>
<field var='software'><value>Psi</value></field>
<field var='software_version'><value>0.11</value></field>
</x>
</query>`, "q07IKJEyjvHSyhy//CH0CxmKi8w="},
		{"duplicate feature", `<query xmlns='http://jabber.org/protocol/disco#info'><feature var='a'/><feature var='a'/></query>`, ""},
	}
	for _, tc := range tests {
		if got := CapsVer("sha-1", parse(t, tc.query)); got != tc.want {
			t.Errorf("%s: ver %q, want %q", tc.name, got, tc.want)
		}
	}
	if CapsVer("md5", parse(t, tests[0].query)) != "" {
		t.Error("md5 accepted")
	}
}

func TestOptions(t *testing.T) {
	form := func(fields string) *wire.Element {
		return parse(t, `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>`+formPublishOpts+`</value></field>`+fields+`</x>`)
	}
	tests := []struct {
		name, fields string
		ok           bool
		node         store.PEPNode
		match        bool
	}{
		{"open", `<field var='pubsub#access_model'><value>open</value></field>`, true, store.PEPNode{Access: "open"}, true},
		{"mismatch", `<field var='pubsub#access_model'><value>open</value></field>`, true, store.PEPNode{Access: "presence"}, false},
		{"max", `<field var='pubsub#max_items'><value>max</value></field>`, true, store.PEPNode{MaxItems: 256}, true},
		{"too many", `<field var='pubsub#max_items'><value>257</value></field>`, false, store.PEPNode{}, false},
		{"bad access", `<field var='pubsub#access_model'><value>authorize</value></field>`, false, store.PEPNode{}, false},
		{"persist", `<field var='pubsub#persist_items'><value>true</value></field>`, true, store.PEPNode{Persist: true}, true},
		{"unknown ignored", `<field var='pubsub#notify_sub'><value>1</value></field>`, true, store.PEPNode{}, true},
	}
	for _, tc := range tests {
		f, err := parseForm(form(tc.fields), formPublishOpts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		o, err := readOptions(f, 256)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.name, err)
			continue
		}
		if err == nil && o.matches(&tc.node) != tc.match {
			t.Errorf("%s: matches = %v", tc.name, !tc.match)
		}
	}
	if _, err := parseForm(parse(t, `<x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>other</value></field></x>`), formPublishOpts); err == nil {
		t.Error("foreign FORM_TYPE accepted")
	}
}

// FuzzPublishOptions feeds arbitrary forms to the publish-options parser:
// it never panics, and what it accepts applies to a node that then
// satisfies it.
func FuzzPublishOptions(f *testing.F) {
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>open</value></field></x>`)
	f.Add(`<x xmlns='jabber:x:data'><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#persist_items'><value>1</value></field></x>`)
	f.Add(`<x xmlns='jabber:x:data'><field var='pubsub#roster_groups_allowed'><value>a</value><value>b</value></field><field var='pubsub#send_last_published_item'><value>never</value></field></x>`)
	f.Add(`<x xmlns='jabber:x:data'><field var='a'/><field var='a'/></x>`)
	f.Fuzz(func(t *testing.T, s string) {
		el, err := wire.Parse([]byte(s))
		if err != nil {
			return
		}
		form, err := parseForm(el, formPublishOpts, formNodeConfig)
		if err != nil {
			return
		}
		o, err := readOptions(form, 256)
		if err != nil {
			return
		}
		var n store.PEPNode
		o.apply(&n)
		if !o.matches(&n) {
			t.Fatalf("applied options do not match: %q", s)
		}
		if n.MaxItems < 0 || n.MaxItems > 256 {
			t.Fatalf("max_items %d", n.MaxItems)
		}
		configForm(&n, "form")
	})
}
