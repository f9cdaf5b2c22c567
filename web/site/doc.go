// Package site renders chatbx's public pages: the home page, the privacy
// policy and the imprint, in German and English.
//
// Pages are Markdown files embedded with go:embed (content/<lang>/<page>.md).
// Each one is first a Go text/template, filled from the running
// configuration (see Facts), and then rendered to HTML with goldmark and put
// into one small embedded layout (templates/layout.html) that links one
// embedded style sheet (static/style.css).
// Because retention periods, contact addresses and the archive default come
// from the same configuration the server runs with, the policy cannot drift
// from what the server does.
//
// An operator overrides any page, or adds one, by dropping
// <content_dir>/<lang>/<page>.md into the content directory.
// Names are checked against a strict pattern before the file is opened
// through an os.Root, so a request can never read outside that directory.
//
// Template fields available to pages (and to operator overrides):
//
//	{{.Lang}}                     "de" or "en"
//	{{.ServiceName}} {{.Domain}}  service name and XMPP domain
//	{{.WebHost}} {{.Hosts}}       first web host name, all web host names
//	{{.Admin}} {{.Abuse}}         contact addresses as Markdown links
//	{{.Account.Base}} {{.Account.Delete}} {{.Account.Export}}
//	{{.Account.Password}} {{.Account.Archive}}   account page URLs
//	{{.Archive}} {{.ArchiveOn}}   archive default in words; true unless "never"
//	{{.Anonymisation}}            e.g. "IPv4 /24, IPv6 /48"
//	{{.Retention.Uploads}} {{.Retention.WebErrors}}
//	{{.Retention.ConnectionLogs}} {{.Retention.Offline}}   e.g. "30 Tage"
//	{{.Ports.C2S}} {{.Ports.C2STLS}}                       client ports
//	{{.PushSender}} {{.PushBody}}  push notifications carry sender, text
package site
