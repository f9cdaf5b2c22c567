package site

import (
	"strconv"
	"strings"
	"time"
)

// pageData is what a page's Markdown template sees, for one language.
type pageData struct {
	Lang          string
	ServiceName   string
	Domain        string
	WebHost       string
	Hosts         []string
	Admin         string // Markdown links
	Abuse         string // Markdown links
	Account       accountURLs
	Archive       string // the archive default in words
	ArchiveOn     bool   // the archive is on for new accounts
	Anonymisation string
	Retention     retention
	Ports         ports
	GroupChat     string // the group chat service's domain; empty: none
	// PushSender, PushBody: push notifications carry the sender, the text.
	PushSender, PushBody bool
}

type accountURLs struct {
	Base, Delete, Export, Password, Archive, Devices string
}

type retention struct {
	Uploads, WebErrors, ConnectionLogs, Offline, LoginTokens string
	// Backups is "" when the operator names no backups.
	Backups      string
	GroupArchive string
}

type ports struct {
	C2S, C2STLS int
}

func newPageData(f Facts, lang string) pageData {
	host := f.Domain
	if len(f.Hosts) > 0 {
		host = f.Hosts[0]
	}
	base := strings.TrimSuffix(f.AccountURL, "/")
	abuse := f.ContactAbuse
	if len(abuse) == 0 {
		abuse = f.ContactAdmin
	}
	return pageData{
		Lang:        lang,
		ServiceName: f.ServiceName,
		Domain:      f.Domain,
		WebHost:     host,
		Hosts:       f.Hosts,
		Admin:       contactLinks(f.ContactAdmin, lang),
		Abuse:       contactLinks(abuse, lang),
		Account: accountURLs{
			Base:     base,
			Delete:   base + "/delete",
			Export:   base + "/export",
			Password: base + "/password",
			Archive:  base + "/archive",
			Devices:  base + "/devices",
		},
		Archive:       archiveWords[lang][f.ArchiveDefault],
		ArchiveOn:     f.ArchiveDefault != "never",
		Anonymisation: f.IPAnonymisation,
		Retention: retention{
			Uploads:        Duration(f.Uploads, lang),
			WebErrors:      Duration(f.WebErrors, lang),
			ConnectionLogs: Duration(f.ConnectionLogs, lang),
			Offline:        Duration(f.Offline, lang),
			Backups:        backupWords(f.Backups, lang),
			GroupArchive:   Duration(f.GroupArchive, lang),
			LoginTokens:    Duration(f.LoginTokens, lang),
		},
		GroupChat:  f.GroupChat,
		Ports:      ports{C2S: f.PortC2S, C2STLS: f.PortC2STLS},
		PushSender: f.PushSender,
		PushBody:   f.PushBody,
	}
}

var archiveWords = map[string]map[string]string{
	"en": {"never": "off", "always": "on", "roster": "on for messages with contacts in your roster"},
	"de": {"never": "aus", "always": "an", "roster": "an für Nachrichten mit Kontakten aus eurer Kontaktliste"},
}

// unit is one step of Duration's scale, largest first.
type unit struct {
	size          time.Duration
	one, many     string // English
	oneDE, manyDE string // German, nominative/accusative
}

var units = []unit{
	{24 * time.Hour, "day", "days", "Tag", "Tage"},
	{time.Hour, "hour", "hours", "Stunde", "Stunden"},
	{time.Minute, "minute", "minutes", "Minute", "Minuten"},
	{time.Second, "second", "seconds", "Sekunde", "Sekunden"},
}

// Duration formats d in the largest unit that divides it, for lang ("de"
// or anything else for English): "30 days", "24 Stunden", "90 minutes".
// Days are used from two days on, so one day reads "24 hours".
// A period that is not a whole number of seconds is rounded up, so the page
// never promises less than the server keeps.
// German forms are nominative/accusative ("30 Tage"), so page texts place
// them where that case fits ("30 Tage lang").
func Duration(d time.Duration, lang string) string {
	if d < 0 {
		d = 0
	}
	if rest := d % time.Second; rest != 0 {
		d += time.Second - rest
	}
	u := units[len(units)-1]
	for i, c := range units {
		// A single day reads better as 24 hours, as the policy has it.
		if i == 0 && d < 2*c.size {
			continue
		}
		if d >= c.size && d%c.size == 0 {
			u = c
			break
		}
	}
	n := int64(d / u.size)
	var word string
	switch {
	case lang == "de" && n == 1:
		word = u.oneDE
	case lang == "de":
		word = u.manyDE
	case n == 1:
		word = u.one
	default:
		word = u.many
	}
	return strconv.FormatInt(n, 10) + " " + word
}

// contactLinks renders contact URIs as a Markdown list of links joined by
// "or"/"oder". A bare address without a scheme is taken as an e-mail address.
func contactLinks(uris []string, lang string) string {
	if len(uris) == 0 {
		return uiText[lang].NoContact
	}
	links := make([]string, 0, len(uris))
	for _, u := range uris {
		u = strings.TrimSpace(u)
		scheme, rest, ok := strings.Cut(u, ":")
		if !ok {
			scheme, rest, u = "mailto", u, "mailto:"+u
		}
		label := rest
		switch strings.ToLower(scheme) {
		case "xmpp":
			label = rest + " (XMPP)"
		case "mailto":
		default:
			label = u
		}
		links = append(links, "["+escapeMarkdown(label)+"](<"+escapeDestination(u)+">)")
	}
	if len(links) == 1 {
		return links[0]
	}
	return strings.Join(links[:len(links)-1], ", ") + " " + uiText[lang].Or + " " + links[len(links)-1]
}

var markdownEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`,
	`<`, `\<`, `>`, `\>`, `!`, `\!`, `#`, `\#`, `|`, `\|`, "\n", " ", "\r", " ",
)

func escapeMarkdown(s string) string { return markdownEscaper.Replace(s) }

var destinationEscaper = strings.NewReplacer("<", "%3C", ">", "%3E", " ", "%20", "\n", "", "\r", "", `\`, "%5C")

func escapeDestination(s string) string { return destinationEscaper.Replace(s) }

// ui holds the layout's fixed words in one language.
type ui struct {
	LanguageName  string // the language's own name, for the switch
	SwitchTitle   string
	Home          string
	Privacy       string
	Imprint       string
	Account       string
	Delete        string
	Export        string
	Password      string
	Archive       string
	NotFoundTitle string
	NotFoundText  string
	NoContact     string
	Or            string
}

var uiText = map[string]ui{
	"en": {
		LanguageName:  "English",
		SwitchTitle:   "This page in English",
		Home:          "Home",
		Privacy:       "Privacy",
		Imprint:       "Imprint",
		Account:       "Your account",
		Delete:        "Delete account",
		Export:        "Export data",
		Password:      "Change password",
		Archive:       "Message archive",
		NotFoundTitle: "Page not found",
		NotFoundText:  "There is no page at this address.",
		NoContact:     "(no contact address configured)",
		Or:            "or",
	},
	"de": {
		LanguageName:  "Deutsch",
		SwitchTitle:   "Diese Seite auf Deutsch",
		Home:          "Start",
		Privacy:       "Datenschutz",
		Imprint:       "Impressum",
		Account:       "Euer Konto",
		Delete:        "Konto löschen",
		Export:        "Daten exportieren",
		Password:      "Passwort ändern",
		Archive:       "Nachrichtenarchiv",
		NotFoundTitle: "Seite nicht gefunden",
		NotFoundText:  "Unter dieser Adresse gibt es keine Seite.",
		NoContact:     "(keine Kontaktadresse eingerichtet)",
		Or:            "oder",
	},
}

// backupWords is the backup period for the privacy page, "" for none.
func backupWords(d time.Duration, lang string) string {
	if d <= 0 {
		return ""
	}
	return Duration(d, lang)
}
