package web_test

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"chatbx/web"
)

func TestHostMeta(t *testing.T) {
	const url = "wss://chat.example.org/xmpp-websocket"
	h := web.HostMeta(url)
	get := func(method, path string) *http.Response {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Origin", "https://other.example")
		h.ServeHTTP(rec, req)
		return rec.Result()
	}

	r := get("GET", "/.well-known/host-meta")
	body, _ := io.ReadAll(r.Body)
	var x struct {
		XMLName xml.Name `xml:"http://docs.oasis-open.org/ns/xri/xrd-1.0 XRD"`
		Links   []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"Link"`
	}
	if err := xml.Unmarshal(body, &x); err != nil {
		t.Fatalf("host-meta is not XRD: %v\n%s", err, body)
	}
	if len(x.Links) != 1 || x.Links[0].Rel != "urn:xmpp:alt-connections:websocket" || x.Links[0].Href != url {
		t.Errorf("host-meta links = %+v, want only the WebSocket URL", x.Links)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("CORS header = %q, want *", got)
	}

	r = get("GET", "/.well-known/host-meta.json")
	var j struct {
		Links []struct{ Rel, Href string } `json:"links"`
	}
	if err := json.NewDecoder(r.Body).Decode(&j); err != nil {
		t.Fatal(err)
	}
	if len(j.Links) != 1 || j.Links[0].Href != url || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("host-meta.json = %+v (%s)", j, r.Header.Get("Content-Type"))
	}
	if r.Header.Get("Set-Cookie") != "" {
		t.Error("host-meta sets a cookie")
	}

	if r := get("OPTIONS", "/.well-known/host-meta"); r.StatusCode != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight: %d %v", r.StatusCode, r.Header)
	}
	if r := get("POST", "/.well-known/host-meta"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", r.StatusCode)
	}
}
