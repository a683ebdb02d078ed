package store

// Advance returns the state a machine in state cur moves to when step is
// observed, and whether that is a change. It never moves a machine backwards
// and keeps installed machines installed until someone asks for a reinstall.
// A failed machine stays failed when it boots again (it gets the menu) and
// starts over at any sign of installing (a kickstart or stage2 fetched, a
// report): someone chose to install it from the menu.
func Advance(cur, step State) (State, bool) {
	if cur == step {
		return cur, false
	}
	switch step {
	case StateBooting:
		if cur == StateNew {
			return StateBooting, true
		}
	case StateInstalling:
		if cur == StateNew || cur == StateBooting || cur == StateFailed {
			return StateInstalling, true
		}
	case StateInstalled, StateFailed:
		if cur != StateInstalled {
			return step, true
		}
	}
	return cur, false
}
