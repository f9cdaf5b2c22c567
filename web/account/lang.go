package account

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// languages are the page languages; the first is the default.
var languages = []string{"en", "de"}

// pickLang returns the page language: the "lang" query parameter when it
// names a page language (the forms carry it, so an answer keeps the
// language of its form), else the visitor's preference among the page
// languages by Accept-Language quality, else English.
func pickLang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "de" || l == "en" {
		return l
	}
	best, bestQ := "en", 0.0
	for part := range strings.SplitSeq(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if (base == "de" || base == "en") && q > bestQ {
			best, bestQ = base, q
		}
	}
	return best
}

// tr returns msg in lang, formatted with args when there are any.
// Messages without a translation stay as they are.
func tr(lang, msg string, args ...any) string {
	if t, ok := german[msg]; ok && lang == "de" {
		msg = t
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// titles of the pages (English; tr translates).
var titles = map[string]string{
	"index":     "Your account",
	"delete":    "Delete your account",
	"export":    "Export your data",
	"password":  "Change your password",
	"archive":   "Message archive",
	"invite":    "Invitation",
	"lock":      "Lock your account",
	"invites":   "Invite a friend",
	"uploads":   "Your uploaded files",
	"devices":   "Login tokens and push",
	"strangers": "Messages from other servers",
}

// waitText says in lang how long to wait, rounded up to whole minutes or
// seconds.
func waitText(lang string, d time.Duration) string {
	if d > time.Minute {
		return tr(lang, "%d minutes", int((d+time.Minute-1)/time.Minute))
	}
	s := max(int((d+time.Second-1)/time.Second), 1)
	if s == 1 {
		return tr(lang, "1 second")
	}
	return tr(lang, "%d seconds", s)
}

// german translates the English messages.
var german = map[string]string{
	"Your account":          "Euer Konto",
	"Delete your account":   "Konto löschen",
	"Export your data":      "Daten exportieren",
	"Change your password":  "Passwort ändern",
	"Message archive":       "Nachrichtenarchiv",
	"Invitation":            "Einladung",
	"Lock your account":     "Konto sperren",
	"Invite a friend":       "Freunde einladen",
	"Your uploaded files":   "Eure hochgeladenen Dateien",
	"Login tokens and push": "Anmelde-Tokens und Push",
	"%d minutes":            "%d Minuten",
	"1 second":              "1 Sekunde",
	"%d seconds":            "%d Sekunden",

	msgCrossSite:                  "Dieses Formular wurde von einer anderen Website gesendet und deshalb abgelehnt. Öffnet die Seite auf dieser Website und versucht es noch einmal.",
	msgBadForm:                    "Das Formular konnte nicht gelesen werden. Bitte ladet die Seite neu und sendet es noch einmal.",
	msgNoToken:                    "Dem Formular fehlt sein Sicherheitsschlüssel. Bitte ladet die Seite neu und sendet es noch einmal.",
	msgForged:                     "Der Sicherheitsschlüssel des Formulars ist ungültig. Bitte ladet die Seite neu und sendet es noch einmal.",
	msgExpired:                    "Das Formular ist abgelaufen. Bitte sendet es noch einmal (unten steht ein neues).",
	msgAuth:                       "Benutzername oder Passwort falsch.",
	msgThrottled:                  "Zu viele Fehlversuche. Bitte wartet %s und versucht es dann noch einmal.",
	msgInternal:                   "Auf dem Server ist etwas schiefgegangen. Es wurde nichts geändert; bitte versucht es später noch einmal.",
	msgConfirmDelete:              "Bitte setzt das Häkchen, um zu bestätigen, dass das Konto mit allen Daten gelöscht werden soll.",
	msgMismatch:                   "Die beiden neuen Passwörter stimmen nicht überein.",
	msgPasswordRule:               "Das neue Passwort muss %d bis %d Zeichen lang sein.",
	msgPasswordDone:               "Euer Passwort wurde geändert. Eure verbundenen Geräte wurden getrennt; meldet euch mit dem neuen Passwort wieder an.",
	msgArchiveUnavailable:         "Dieser Server führt kein Nachrichtenarchiv.",
	msgArchiveAction:              "Bitte wählt eine der Aktionen.",
	msgConfirmPurge:               "Bitte setzt das Häkchen, um zu bestätigen, dass die archivierten Nachrichten gelöscht werden sollen.",
	msgArchiveOn:                  "Euer Nachrichtenarchiv ist eingeschaltet.",
	msgArchiveOff:                 "Euer Nachrichtenarchiv ist ausgeschaltet.",
	msgPurged:                     "%d archivierte Nachricht(en) gelöscht.",
	msgInviteInvalid:              "Diese Einladung ist nicht gültig: Sie ist vielleicht abgelaufen oder schon aufgebraucht.",
	msgUsernameRule:               "Dieser Benutzername kann nicht registriert werden. Verwendet Buchstaben und Ziffern, höchstens 64 Zeichen; manche Namen sind reserviert.",
	msgUsernameTaken:              "Dieser Benutzername ist vergeben. Bitte wählt einen anderen.",
	msgCreated:                    "Euer Konto wurde angelegt.",
	msgRegThrottled:               "Zu viele Registrierungsversuche. Bitte wartet %s und versucht es dann noch einmal.",
	msgInviteQuota:                "Ihr habt diese Woche so viele Einladungen erstellt, wie dieser Server erlaubt (%d). Bitte versucht es später noch einmal.",
	msgInviteRevoked:              "Die Einladung wurde zurückgezogen; ihr Link funktioniert nicht mehr.",
	msgInviteGone:                 "Diese Einladung wurde nicht gefunden; sie wurde vielleicht schon benutzt oder ist abgelaufen.",
	msgInviteCreated:              "Eure Einladung ist fertig. Schickt den Link an eine Person: Er gilt für ein Konto innerhalb von 7 Tagen und wird nur jetzt angezeigt.",
	msgUploadDeleted:              "Die Datei wurde gelöscht.",
	msgUploadGone:                 "Diese Datei wurde nicht gefunden; sie ist vielleicht abgelaufen oder schon gelöscht.",
	msgNoUploads:                  "Ihr habt keine hochgeladenen Dateien auf diesem Server.",
	msgLocked:                     "Dieses Konto ist gesperrt. Entsperrt es zuerst auf der Sperrseite mit eurem Passwort.",
	msgLockAction:                 "Bitte wählt, ob das Konto gesperrt oder entsperrt werden soll.",
	msgConfirmLock:                "Bitte setzt das Häkchen, um zu bestätigen, dass das Konto gesperrt werden soll.",
	msgLockDone:                   "Euer Konto ist gesperrt. Niemand kann sich damit anmelden und nichts wird ihm zugestellt; alle seine Daten bleiben erhalten. Entsperrt es hier mit eurem Passwort.",
	msgUnlockDone:                 "Euer Konto ist entsperrt. Ihr könnt euch wieder anmelden und Nachrichten werden wieder zugestellt.",
	msgNotLocked:                  "Euer Konto ist nicht gesperrt.",
	msgLockedAlready:              "Euer Konto ist bereits gesperrt.",
	msgDevicesUnavailable:         "Dieser Server gibt keine Anmelde-Tokens aus.",
	msgDeviceChoose:               "Bitte wählt das zu widerrufende Token in der Liste (zeigt zuerst die Liste an).",
	msgDeviceUnknown:              "Dieses Token gibt es nicht mehr; die Liste unten ist aktuell.",
	msgDevicesNone:                "Kein Gerät hat ein Anmelde-Token.",
	msgDevicesList:                "%d Gerät(e) haben ein Anmelde-Token.",
	msgDeviceRevoked:              "Das Token wurde widerrufen; das Gerät muss sich wieder mit dem Passwort anmelden.",
	msgDevicesRevoked:             "Alle Tokens wurden widerrufen; jedes Gerät muss sich wieder mit dem Passwort anmelden.",
	msgPushChoose:                 "Bitte wählt die zu widerrufende Push-Registrierung in der Liste (zeigt zuerst die Liste an).",
	msgPushUnknown:                "Diese Push-Registrierung gibt es nicht mehr; die Liste unten ist aktuell.",
	msgPushNone:                   "Kein Gerät ist für Push-Benachrichtigungen angemeldet.",
	msgPushList:                   "%d Gerät(e) sind für Push-Benachrichtigungen angemeldet.",
	msgPushRevoked:                "Die Push-Registrierung wurde widerrufen; das Gerät bekommt keine Benachrichtigungen mehr, bis sich seine App wieder registriert.",
	msgPushRevokedAll:             "Alle Push-Registrierungen wurden widerrufen; kein Gerät bekommt Benachrichtigungen, bis sich seine App wieder registriert.",
	msgStrangersAction:            "Bitte wählt eine der Einstellungen.",
	msgStrangersAccept:            "Nachrichten von Menschen auf anderen Servern, die nicht eure Kontakte sind, werden angenommen, wenige je Server auf einmal.",
	msgStrangersServers:           "Nachrichten von Menschen auf anderen Servern werden nur von Servern angenommen, auf denen ihr Kontakte habt.",
	msgStrangersContacts:          "Nachrichten von Menschen auf anderen Servern werden nur von euren Kontakten angenommen.",
	"Messages from other servers": "Nachrichten von anderen Servern",
}
