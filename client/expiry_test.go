package client_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/client"
)

// TestKeyExpiryNotification: a session whose key has ten minutes or less
// left tells the person to log in again, through the notification the
// OS shows (Config.Notify), once.
func TestKeyExpiryNotification(t *testing.T) {
	w := newWorld(t, 5*time.Minute)
	notes := make(chan string, 4)
	l := w.startLaptop(func(c *client.Config) {
		c.Notify = func(title, body string) error { notes <- title + ": " + body; return nil }
	})
	if res, _ := l.login(w, "alice", "ops", ""); res.Error != "" {
		t.Fatalf("login: %+v", res)
	}
	select {
	case n := <-notes:
		for _, want := range []string{"log in again", "expires in 5 minutes", "ward login"} {
			if !strings.Contains(n, want) {
				t.Errorf("notification %q lacks %q", n, want)
			}
		}
	case <-time.After(deadline):
		t.Fatal("no notification for a key with 5 minutes left")
	}
	select {
	case n := <-notes:
		t.Errorf("a second notification: %q", n)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestNoExpiryNotificationEarly: a key with more than ten minutes left
// gives no notification at login.
func TestNoExpiryNotificationEarly(t *testing.T) {
	w := newWorld(t, time.Hour)
	notes := make(chan string, 4)
	l := w.startLaptop(func(c *client.Config) {
		c.Notify = func(title, body string) error { notes <- body; return nil }
	})
	if res, _ := l.login(w, "alice", "ops", ""); res.Error != "" || !res.Ready {
		t.Fatalf("login: %+v", res)
	}
	select {
	case n := <-notes:
		t.Errorf("notification with an hour left: %q", n)
	case <-time.After(200 * time.Millisecond):
	}
}
