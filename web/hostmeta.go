package web

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
)

// HostMeta returns the handler of /.well-known/host-meta (XRD, RFC 6415)
// and /.well-known/host-meta.json (XEP-0156 §3): they list the XMPP over
// WebSocket endpoint wsURL and nothing else. Browser clients on other
// origins discover the endpoint with it, so the answer allows any origin
// (CORS); it carries no cookies and no personal data.
func HostMeta(wsURL string) http.Handler {
	const rel = "urn:xmpp:alt-connections:websocket"
	type link struct {
		Rel  string `xml:"rel,attr" json:"rel"`
		Href string `xml:"href,attr" json:"href"`
	}
	type xrd struct {
		XMLName xml.Name `xml:"http://docs.oasis-open.org/ns/xri/xrd-1.0 XRD"`
		Links   []link   `xml:"Link"`
	}
	xmlBody, _ := xml.Marshal(xrd{Links: []link{{rel, wsURL}}})
	xmlBody = append([]byte(xml.Header), xmlBody...)
	jsonBody, _ := json.Marshal(struct {
		Links []link `json:"links"`
	}{[]link{{rel, wsURL}}})
	mux := http.NewServeMux()
	serve := func(ctype string, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Cross-Origin-Resource-Policy", "cross-origin")
			h.Set("Content-Type", ctype)
			h.Set("Cache-Control", "max-age=3600")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.Write(body)
		}
	}
	for _, m := range []string{"GET", "OPTIONS"} { // GET patterns match HEAD too
		mux.Handle(m+" /.well-known/host-meta", serve("application/xrd+xml; charset=utf-8", xmlBody))
		mux.Handle(m+" /.well-known/host-meta.json", serve("application/json", jsonBody))
	}
	return mux
}
