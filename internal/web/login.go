package web

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"kickstand/internal/api"
)

// maxForm bounds a login or logout form (a token is 64 characters).
const maxForm = 4 << 10

// loginPage is the login form's data.
type loginPage struct {
	Next  string
	Error string
}

// nextPage is where to go after logging in: a page of the dashboard, or
// its home (never another site: "/ui/..." cannot name one).
func nextPage(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login", view{Title: "Log in", Nav: "login",
		Data: loginPage{Next: nextPage(r.URL.Query().Get("next"))}})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	next := nextPage(r.PostForm.Get("next"))
	_, err := s.Sessions.Login(w, r, r.PostForm.Get("token"))
	status := http.StatusOK
	switch {
	case err == nil:
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	case errors.Is(err, api.ErrTooManyFailures):
		status = http.StatusTooManyRequests
	case errors.Is(err, api.ErrLoginRefused):
		status = http.StatusUnauthorized
	default:
		s.logger().Error("web: login", "err", err)
		status = http.StatusInternalServerError
	}
	s.render(w, status, "login", view{Title: "Log in", Nav: "login", Data: loginPage{Next: next, Error: err.Error()}})
}

// logout ends the session; the form carries the page's CSRF value, so that
// no other page can log the browser out.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	sess, err := s.Sessions.Session(r)
	if err == nil && subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(sess.CSRF)) != 1 {
		http.Error(w, "logout without its page's CSRF value: log out from a dashboard page", http.StatusForbidden)
		return
	}
	s.Sessions.Logout(w, r)
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}
