package pep

import (
	"errors"
	"strconv"

	"chatbx/server/wire"
	"chatbx/store"
)

// Data forms (XEP-0004) of node configuration and publish options.
const (
	nsData          = "jabber:x:data"
	formNodeConfig  = "http://jabber.org/protocol/pubsub#node_config"
	formPublishOpts = "http://jabber.org/protocol/pubsub#publish-options"
)

// Form bounds: a submitted form larger than this is refused.
const (
	maxFormFields = 64
	maxFormValues = 256 // over all fields (roster groups, whitelist)
	maxFormValue  = 1024
)

var errForm = errors.New("pep: malformed form")

// form is a submitted data form: var → values, in order of appearance.
type form struct {
	typ    string
	fields map[string][]string
	order  []string
}

// parseForm reads a <x xmlns='jabber:x:data'/> element. FORM_TYPE, if
// present, must be one of want.
func parseForm(x *wire.Element, want ...string) (*form, error) {
	if x == nil || x.Space != nsData || x.Local != "x" {
		return nil, errForm
	}
	f := &form{typ: x.Get("type"), fields: map[string][]string{}}
	values := 0
	for _, fe := range x.Elements() {
		if fe.Space != nsData || fe.Local != "field" {
			continue
		}
		v := fe.Get("var")
		if v == "" || len(v) > maxFormValue {
			return nil, errForm
		}
		if _, dup := f.fields[v]; dup {
			return nil, errForm
		}
		if len(f.order) >= maxFormFields {
			return nil, errForm
		}
		vals := []string{}
		for _, ve := range fe.Elements() {
			if ve.Space != nsData || ve.Local != "value" {
				continue
			}
			s := ve.Text()
			values++
			if len(s) > maxFormValue || values > maxFormValues {
				return nil, errForm
			}
			vals = append(vals, s)
		}
		f.fields[v] = vals
		f.order = append(f.order, v)
	}
	if ft, ok := f.fields["FORM_TYPE"]; ok {
		if len(ft) != 1 {
			return nil, errForm
		}
		good := false
		for _, w := range want {
			good = good || ft[0] == w
		}
		if !good {
			return nil, errForm
		}
	}
	return f, nil
}

func (f *form) one(v string) (string, bool) {
	vals, ok := f.fields[v]
	if !ok {
		return "", false
	}
	if len(vals) == 0 {
		return "", true
	}
	return vals[0], true
}

func parseBool(s string) (bool, error) {
	switch s {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, errForm
}

// options is the parsed form: each field present sets one node setting.
// check compares it with a node (publish-options preconditions), apply
// changes the node (configuration, creation).
type options struct {
	access, sendLast, title *string
	maxItems                *int
	persist, notifyRetract  *bool
	groups                  []string
	hasGroups               bool
}

// readOptions validates the known fields of f. Unknown fields are
// ignored (clients send fields of other servers' configurations). maxNode
// is what "max" means.
func readOptions(f *form, maxNode int) (options, error) {
	var o options
	for _, v := range f.order {
		s, _ := f.one(v)
		switch v {
		case "pubsub#access_model":
			switch s {
			case "open", "presence", "roster", "whitelist":
			default:
				return o, errForm
			}
			o.access = &s
		case "pubsub#send_last_published_item":
			switch s {
			case "never", "on_sub", "on_sub_and_presence":
			default:
				return o, errForm
			}
			o.sendLast = &s
		case "pubsub#title":
			o.title = &s
		case "pubsub#max_items":
			n := maxNode
			if s != "max" {
				var err error
				n, err = strconv.Atoi(s)
				if err != nil || n < 1 || n > maxNode {
					return o, errForm
				}
			}
			o.maxItems = &n
		case "pubsub#persist_items":
			b, err := parseBool(s)
			if err != nil {
				return o, err
			}
			o.persist = &b
		case "pubsub#notify_retract":
			b, err := parseBool(s)
			if err != nil {
				return o, err
			}
			o.notifyRetract = &b
		case "pubsub#roster_groups_allowed":
			o.groups, o.hasGroups = f.fields[v], true
		}
	}
	return o, nil
}

// matches reports whether n satisfies o (XEP-0060 §7.1.5).
func (o *options) matches(n *store.PEPNode) bool {
	switch {
	case o.access != nil && *o.access != n.Access,
		o.sendLast != nil && *o.sendLast != n.SendLast,
		o.title != nil && *o.title != n.Title,
		o.maxItems != nil && *o.maxItems != n.MaxItems,
		o.persist != nil && *o.persist != n.Persist,
		o.notifyRetract != nil && *o.notifyRetract != n.NotifyRetract:
		return false
	}
	if o.hasGroups {
		if len(o.groups) != len(n.Groups) {
			return false
		}
		for i := range o.groups {
			if o.groups[i] != n.Groups[i] {
				return false
			}
		}
	}
	return true
}

func (o *options) apply(n *store.PEPNode) {
	if o.access != nil {
		n.Access = *o.access
	}
	if o.sendLast != nil {
		n.SendLast = *o.sendLast
	}
	if o.title != nil {
		n.Title = *o.title
	}
	if o.maxItems != nil {
		n.MaxItems = *o.maxItems
	}
	if o.persist != nil {
		n.Persist = *o.persist
	}
	if o.notifyRetract != nil {
		n.NotifyRetract = *o.notifyRetract
	}
	if o.hasGroups {
		n.Groups = o.groups
	}
}

// configForm returns the node configuration form (XEP-0060 §8.2.4).
func configForm(n *store.PEPNode, typ string) *wire.Element {
	x := wire.New(nsData, "x", "type", typ)
	field := func(v, t, label string, vals ...string) *wire.Element {
		f := wire.New(nsData, "field", "var", v, "type", t, "label", label)
		for _, s := range vals {
			f.Add(wire.New(nsData, "value").AddText(s))
		}
		x.Add(f)
		return f
	}
	opts := func(f *wire.Element, vals ...string) {
		for _, s := range vals {
			f.Add(wire.New(nsData, "option").Add(wire.New(nsData, "value").AddText(s)))
		}
	}
	field("FORM_TYPE", "hidden", "", formNodeConfig)
	opts(field("pubsub#access_model", "list-single", "Who may subscribe and retrieve items", n.Access),
		"open", "presence", "roster", "whitelist")
	field("pubsub#max_items", "text-single", "Max number of items to persist", strconv.Itoa(n.MaxItems))
	field("pubsub#persist_items", "boolean", "Persist items", boolString(n.Persist))
	opts(field("pubsub#send_last_published_item", "list-single", "When to send the last published item", n.SendLast),
		"never", "on_sub", "on_sub_and_presence")
	field("pubsub#notify_retract", "boolean", "Notify subscribers when items are removed", boolString(n.NotifyRetract))
	field("pubsub#title", "text-single", "A friendly name for the node", n.Title)
	field("pubsub#roster_groups_allowed", "list-multi", "Roster groups allowed to subscribe", n.Groups...)
	field("pubsub#deliver_payloads", "boolean", "Deliver payloads with event notifications", "1")
	return x
}

func boolString(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
