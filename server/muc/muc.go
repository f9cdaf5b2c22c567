package muc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"mellium.im/xmpp/jid"

	"chatbx/server/iq"
	"chatbx/server/wire"
	"chatbx/store"
)

// Namespaces.
const (
	NS           = "http://jabber.org/protocol/muc"
	NSUser       = NS + "#user"
	NSAdmin      = NS + "#admin"
	NSOwner      = NS + "#owner"
	NSRoomConf   = NS + "#roomconfig"
	NSRoomInfo   = NS + "#roominfo"
	NSRequest    = NS + "#request"
	NSStableID   = NS + "#stable_id"
	NSSelfPing   = NS + "#self-ping-optimization"
	NSOccupant   = "urn:xmpp:occupant-id:0"
	NSSID        = "urn:xmpp:sid:0"
	NSDelay      = "urn:xmpp:delay"
	NSData       = "jabber:x:data"
	NSDiscoInfo  = "http://jabber.org/protocol/disco#info"
	NSDiscoItem  = "http://jabber.org/protocol/disco#items"
	NSPing       = "urn:xmpp:ping"
	NSRegister   = "jabber:iq:register"
	NSMAM        = "urn:xmpp:mam:2"
	NSRSM        = "http://jabber.org/protocol/rsm"
	NSForward    = "urn:xmpp:forward:0"
	NSConference = "jabber:x:conference"
)

// Who may create rooms (Config.Create).
const (
	CreateUsers  = "users"
	CreateAdmins = "admins"
)

// Config configures the service. Zero limits mean DefaultConfig's.
type Config struct {
	// Domain is the service's domain (conference.<host>).
	Domain string
	// Host is the server's own domain: its accounts may create rooms
	// when Create is "users".
	Host string
	// Create is who may create rooms: "users" (local accounts) or
	// "admins" (only the bare JIDs in Admins).
	Create string
	// Admins are bare JIDs that may create rooms with Create = "admins"
	// and act as owners of every room.
	Admins []string
	// MaxRoomsPerUser caps the rooms one account owns.
	MaxRoomsPerUser int
	// MaxOccupants caps the occupants of one room (and its maxusers).
	MaxOccupants int
	// MaxHistory caps the in-memory history of one room (and its history
	// length setting); HistoryDefault is a new room's history length.
	MaxHistory, HistoryDefault int
	// MessageRate is how many groupchat and private messages per second
	// one occupant may send on average, MessageBurst how many at once.
	MessageRate  float64
	MessageBurst int
	// ArchiveMaxAge is how long archived messages of rooms with archiving
	// on are kept; ArchiveBytes caps one room's archive (the oldest
	// messages make room).
	ArchiveMaxAge time.Duration
	ArchiveBytes  int64
	// StateBytes caps the stored state (configuration, affiliations,
	// subject) of one persistent room; MaxAffiliations the affiliations.
	StateBytes      int
	MaxAffiliations int
	Log             zerolog.Logger
	Now             func() time.Time
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Create:          CreateUsers,
		MaxRoomsPerUser: 20,
		MaxOccupants:    200,
		MaxHistory:      100,
		HistoryDefault:  20,
		MessageRate:     5,
		MessageBurst:    20,
		ArchiveMaxAge:   30 * 24 * time.Hour,
		ArchiveBytes:    16 << 20,
		StateBytes:      256 << 10,
		MaxAffiliations: 1000,
	}
}

// DefaultDomain returns the default service domain for host.
func DefaultDomain(host string) string { return "conference." + host }

// Store is what the service keeps in the database (package store).
type Store interface {
	PutMUCRoom(ctx context.Context, r store.MUCRoom, maxBytes int) error
	MUCRooms(ctx context.Context, fn func(store.MUCRoom) error) error
	DeleteMUCRoom(ctx context.Context, room string) error
	AppendMUCArchive(ctx context.Context, room string, at time.Time, occupantID string, stanza []byte, maxBytes int64) (string, error)
	QueryMUCArchive(ctx context.Context, room string, q store.MUCArchiveQuery) (store.MUCArchivePage, error)
	ExpireMUCArchive(ctx context.Context, before time.Time) (int, error)
	MUCForget(ctx context.Context, edit store.MUCForgetEdit) ([]string, int, error)
	Setting(ctx context.Context, key string) ([]byte, error)
	SetSetting(ctx context.Context, key string, v []byte) error
	Scrub(ctx context.Context) error
}

// Service is the MUC service. Safe for concurrent use.
type Service struct {
	cfg Config
	db  Store
	log zerolog.Logger
	key []byte // occupant ids (XEP-0421): HMAC of room and bare JID

	mu    sync.Mutex
	rooms map[string]*room // by localpart
	proxy map[string]proxied

	// archiveMu orders archive appends, which run without mu, against
	// what deletes archived messages (room destruction, archiving
	// switched off, account deletion): appends hold it shared, deletions
	// exclusively, so no append lands after a deletion meant to cover it.
	// Taken after mu when both are held.
	archiveMu sync.RWMutex
}

// deleteRoomData deletes a room's stored state and archive.
func (s *Service) deleteRoomData(ctx context.Context, room string) error {
	s.archiveMu.Lock()
	defer s.archiveMu.Unlock()
	return s.db.DeleteMUCRoom(ctx, room)
}

// proxied is an IQ forwarded to an occupant, awaiting its answer.
type proxied struct {
	id, from, to string // original id and requester, the occupant JID it went to
	at           time.Time
}

const settingKey = "muc-occupant-id-key"

// New returns the service with the persistent rooms loaded.
func New(ctx context.Context, cfg Config, db Store) (*Service, error) {
	def := DefaultConfig()
	if cfg.Create == "" {
		cfg.Create = def.Create
	}
	if cfg.Create != CreateUsers && cfg.Create != CreateAdmins {
		return nil, fmt.Errorf("muc: create %q: want users or admins", cfg.Create)
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain(cfg.Host)
	}
	pos := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	pos(&cfg.MaxRoomsPerUser, def.MaxRoomsPerUser)
	pos(&cfg.MaxOccupants, def.MaxOccupants)
	pos(&cfg.MaxHistory, def.MaxHistory)
	pos(&cfg.StateBytes, def.StateBytes)
	pos(&cfg.MaxAffiliations, def.MaxAffiliations)
	pos(&cfg.MessageBurst, def.MessageBurst)
	if cfg.HistoryDefault < 0 {
		cfg.HistoryDefault = 0
	}
	cfg.HistoryDefault = min(cfg.HistoryDefault, cfg.MaxHistory)
	if cfg.MessageRate <= 0 {
		cfg.MessageRate = def.MessageRate
	}
	if cfg.ArchiveBytes <= 0 {
		cfg.ArchiveBytes = def.ArchiveBytes
	}
	if cfg.ArchiveMaxAge <= 0 {
		cfg.ArchiveMaxAge = def.ArchiveMaxAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for i, a := range cfg.Admins {
		b := normBare(a)
		if b == "" || !strings.Contains(b, "@") {
			return nil, fmt.Errorf("muc: admin %q is not a bare JID (alice@example.org)", a)
		}
		cfg.Admins[i] = b
	}
	s := &Service{cfg: cfg, db: db, log: cfg.Log, rooms: map[string]*room{}, proxy: map[string]proxied{}}
	key, err := db.Setting(ctx, settingKey)
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(key) != 32) {
		key = make([]byte, 32)
		rand.Read(key)
		err = db.SetSetting(ctx, settingKey, key)
	}
	if err != nil {
		return nil, fmt.Errorf("muc: occupant id key: %w", err)
	}
	s.key = key
	err = db.MUCRooms(ctx, func(r store.MUCRoom) error {
		local, _, _ := strings.Cut(r.JID, "@")
		rm, err := s.decodeRoom(local, r.Data)
		if err != nil {
			s.log.Error().Err(err).Msg("load room")
			return nil
		}
		s.rooms[local] = rm
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Domain returns the service's domain.
func (s *Service) Domain() string { return s.cfg.Domain }

// Config returns the service's configuration with defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// occupantID returns the XEP-0421 occupant id of bare in room: stable
// for the room, unlinkable across rooms.
func (s *Service) occupantID(room, bare string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(room))
	m.Write([]byte{0})
	m.Write([]byte(bare))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// out collects the stanzas one request produces; they are sent after the
// lock is released.
type out []*wire.Element

func (o *out) add(el *wire.Element) { *o = append(*o, el) }

// Handle takes one stanza addressed to the service's domain (router.Handler).
func (s *Service) Handle(ctx context.Context, el *wire.Element, send func(*wire.Element)) {
	var o out
	s.handle(ctx, el, &o)
	for _, e := range o {
		send(e)
	}
}

func (s *Service) handle(ctx context.Context, el *wire.Element, o *out) {
	from := el.Get("from")
	if from == "" {
		return
	}
	to, err := jid.Parse(el.Get("to"))
	if err != nil {
		return
	}
	local, nick := to.Localpart(), to.Resourcepart()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch el.Local {
	case "presence":
		if local == "" {
			return
		}
		s.presence(ctx, el, local, nick, o)
	case "message":
		if local == "" {
			if el.Get("type") != "error" {
				o.add(errorReply(el, "cancel", "service-unavailable", ""))
			}
			return
		}
		s.message(ctx, el, local, nick, o)
	case "iq":
		s.iq(ctx, el, local, nick, o)
	}
}

// errorReply returns an error stanza answering el, from its to and to its
// from, with the original payload left out (RFC 6120 §8.3.1 allows that).
func errorReply(el *wire.Element, typ, cond, text string) *wire.Element {
	r := wire.New(el.Space, el.Local, "type", "error", "id", el.Get("id"), "from", el.Get("to"), "to", el.Get("from"))
	if el.Space == "" {
		r.Space = wire.NSClient
	}
	if el.Local == "presence" && el.Child(NS, "x") != nil {
		// §7.2.x examples: the join payload comes back (without the
		// password), and clients match errors on it (slixmpp).
		r.Add(wire.New(NS, "x"))
	}
	r.Add(iq.StanzaError(typ, cond, text))
	return r
}

func bareOf(s string) string {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return strings.ToLower(s)
}

// normBare parses a JID given in a form or item and returns its bare
// form, or "" if it is not a JID.
func normBare(s string) string {
	j, err := jid.Parse(strings.TrimSpace(s))
	if err != nil {
		return ""
	}
	return j.Bare().String()
}

// isAdmin reports whether bare is a service admin.
func (s *Service) isAdmin(bare string) bool { return slices.Contains(s.cfg.Admins, bare) }

// roomJID returns room@service.
func (s *Service) roomJID(local string) string { return local + "@" + s.cfg.Domain }

// Sweep deletes archived room messages older than ArchiveMaxAge at now
// (a retention.Policy's Run), scrubs the file if it deleted any, and
// returns how many it deleted.
func (s *Service) Sweep(ctx context.Context, now time.Time) (int, error) {
	n, err := s.db.ExpireMUCArchive(ctx, now.Add(-s.cfg.ArchiveMaxAge))
	if err != nil {
		return n, fmt.Errorf("muc: sweep: %w", err)
	}
	if n > 0 {
		if err := s.db.Scrub(ctx); err != nil {
			return n, fmt.Errorf("muc: sweep: %w", err)
		}
	}
	return n, nil
}

// Rooms returns the localparts of the rooms that exist, sorted (tests,
// the admin view).
func (s *Service) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.rooms))
	for k := range s.rooms {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Shutdown tells every occupant that the service is going away (status
// 332, XEP-0045 §7.2.x) and empties the rooms; persistent rooms stay
// stored. Call it before the sessions are closed.
func (s *Service) Shutdown(send func(*wire.Element)) {
	var o out
	s.mu.Lock()
	for _, local := range slices.Sorted(maps.Keys(s.rooms)) {
		r := s.rooms[local]
		for _, occ := range r.occupants {
			p := s.presenceOf(r, occ, occ, "unavailable", []int{332})
			for _, to := range occ.sessions {
				q := p.Copy()
				q.Set("to", to)
				o.add(q)
			}
		}
		r.occupants = map[string]*occupant{}
		r.byFull = map[string]*occupant{}
		if !r.cfg.Persistent {
			delete(s.rooms, local)
		}
	}
	s.mu.Unlock()
	for _, e := range o {
		send(e)
	}
}
