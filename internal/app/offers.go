package app

import (
	"kickstand/internal/inventory"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Bounds of the menu offers.
const (
	// OfferLifetime is how long a menu entry's kickstart token stays valid:
	// the menu's timeout, loading kernel and initrd over a slow link, and
	// the installer's start, with room to spare.
	OfferLifetime = 30 * time.Minute
	// maxOffers bounds the tokens held at once; the oldest go first.
	maxOffers = 4096
)

// offer is one menu entry's one-time kickstart token: the machine it was
// shown to, the profile it installs and the address the menu went to.
type offer struct {
	mac     net.HardwareAddr
	profile string
	client  netip.Addr
	expires time.Time
}

// offers are the kickstart tokens of menu entries (and of --unknown
// install). A machine's own token is never written into a config that
// anyone may fetch; instead each menu gets fresh tokens, bound to the
// address that fetched it, valid once and for OfferLifetime. A new menu for
// a MAC replaces its previous tokens: the last one fetched is the one on
// the screen. Only the serving process knows them: a restart voids them.
type offers struct {
	mu      sync.Mutex
	byToken map[string]offer
	byMAC   map[string][]string
	now     func() time.Time // nil: time.Now
	token   func() string    // nil: NewToken
}

func (o *offers) clock() time.Time {
	if o.now != nil {
		return o.now()
	}
	return time.Now()
}

// mint returns a fresh token per profile for the menu client fetched for mac.
func (o *offers) mint(mac net.HardwareAddr, client netip.Addr, profiles []string) map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byToken == nil {
		o.byToken, o.byMAC = map[string]offer{}, map[string][]string{}
	}
	o.forget(mac.String())
	expires := o.clock().Add(OfferLifetime)
	out := make(map[string]string, len(profiles))
	var tokens []string
	for _, p := range profiles {
		t := inventory.NewToken()
		if o.token != nil {
			t = o.token()
		}
		o.byToken[t] = offer{mac: mac, profile: p, client: client, expires: expires}
		out[p] = t
		tokens = append(tokens, t)
	}
	if len(tokens) > 0 {
		o.byMAC[mac.String()] = tokens
	}
	o.trim()
	return out
}

// take returns the offer of token and voids it, if it is valid and ok
// accepts it (the caller checks the address); an offer ok refuses stays.
func (o *offers) take(token string, ok func(offer) bool) (offer, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	of, found := o.byToken[token]
	if !found {
		return offer{}, false
	}
	if o.clock().After(of.expires) {
		o.forget(of.mac.String())
		return offer{}, false
	}
	if !ok(of) {
		return offer{}, false
	}
	// One install per menu: the other entries go too.
	o.forget(of.mac.String())
	return of, true
}

// forget drops every token of a MAC; o.mu is held.
func (o *offers) forget(mac string) {
	for _, t := range o.byMAC[mac] {
		delete(o.byToken, t)
	}
	delete(o.byMAC, mac)
}

// trim keeps at most maxOffers tokens: expired ones go, then the MACs
// whose menus are oldest; o.mu is held.
func (o *offers) trim() {
	if len(o.byToken) <= maxOffers {
		return
	}
	now := o.clock()
	for mac, tokens := range o.byMAC {
		if len(tokens) == 0 || now.After(o.byToken[tokens[0]].expires) {
			o.forget(mac)
		}
	}
	for len(o.byToken) > maxOffers {
		var oldest string
		var when time.Time
		for mac, tokens := range o.byMAC {
			if e := o.byToken[tokens[0]].expires; oldest == "" || e.Before(when) {
				oldest, when = mac, e
			}
		}
		o.forget(oldest)
	}
}
