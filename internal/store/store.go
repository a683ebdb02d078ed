// Package store holds kickstand's domain types (distros, profiles, machines,
// leases, events) and the Store interface that every backend implements.
package store

import (
	"context"
	"errors"
	"fmt"
	"kickstand/internal/events"
	"net"
	"net/netip"
	"strings"
	"time"
)

// ErrNotFound is returned when the named record does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when a record with the same key already exists.
var ErrExists = errors.New("already exists")

// ErrInUse is returned when a record cannot be removed because others refer to it.
var ErrInUse = errors.New("in use")

// SourceKind says where a distro's tree lives.
type SourceKind string

// The kinds of distro source.
const (
	SourceDir SourceKind = "dir" // an extracted tree or a mirror
	SourceISO SourceKind = "iso" // read straight out of an ISO file
)

// Distro is an installable operating system tree.
type Distro struct {
	Name     string
	Family   string // e.g. "Rocky Linux"
	Version  string // e.g. "9.6"
	Arch     string // e.g. "x86_64"
	Kind     SourceKind
	Source   string    // absolute path of the directory or ISO file
	Size     int64     // bytes: the ISO file, or the tree's files at import
	ModTime  time.Time // the ISO file's mtime at import (zero for directories)
	Checksum string    // sha256 of the ISO file, hex ("" for directories)
	Kernel   string    // path of the installer kernel, relative to the tree
	Initrd   string    // path of the installer initrd, relative to the tree
	Stage2   string    // path of the stage2 image, relative to the tree ("" if none)
	Variants []Variant // repositories inside the tree (BaseOS, AppStream...)
	Created  time.Time
}

// Variant is one repository of a distro tree.
type Variant struct {
	ID         string `json:"id"`
	Repository string `json:"repository"` // path relative to the tree
}

// Profile is how machines install: which distro, which kickstart, which kernel arguments.
type Profile struct {
	Name         string
	Distro       string
	Kickstart    string // template text; "" means the built-in default
	KernelArgs   string
	RepoProtocol string            // "http" or "ftp": how the installer reaches the tree
	Vars         map[string]string // template variables; a machine's own win
	// PasswordPolicy is what a plaintext password in its kickstart is:
	// "warn", "refuse", or "" for the server's --password-policy.
	PasswordPolicy string
	Created        time.Time
}

// Repo protocols a profile can choose.
const (
	RepoHTTP = "http"
	RepoFTP  = "ftp"
)

// State is where a machine is in its install.
type State string

// The machine states, in the order an install passes through them.
const (
	StateNew        State = "new"
	StateBooting    State = "booting"
	StateInstalling State = "installing"
	StateInstalled  State = "installed"
	StateFailed     State = "failed"
)

// ParseState returns the State named s.
func ParseState(s string) (State, error) {
	switch st := State(s); st {
	case StateNew, StateBooting, StateInstalling, StateInstalled, StateFailed:
		return st, nil
	}
	return "", fmt.Errorf("unknown machine state %q (want new, booting, installing, installed or failed)", s)
}

// Machine is one host known by its MAC address. A machine without a profile
// was discovered on the wire but not registered.
type Machine struct {
	MAC      net.HardwareAddr
	Profile  string
	Hostname string
	IP       netip.Addr // reserved address in full DHCP mode; zero if none
	UUID     string     // SMBIOS UUID (DHCP option 97), "" if not known
	Network  Network    // static settings for the installed system; zero: DHCP
	Vars     map[string]string
	State    State
	Token    string // secret part of the machine's kickstart and phone-home URLs
	Created  time.Time
	Updated  time.Time
	Seen     time.Time // the time of its newest event (zero: none yet)
}

// Registered reports whether an operator gave the machine a profile; the
// others were only seen on the wire (discovered) and never install unattended.
func (m Machine) Registered() bool { return m.Profile != "" }

// Network is a machine's static network configuration, as its kickstart
// sets it. The zero value means DHCP.
type Network struct {
	Address netip.Prefix `json:"address,omitzero"` // e.g. 10.0.0.5/24
	Gateway netip.Addr   `json:"gateway,omitzero"`
	DNS     []netip.Addr `json:"dns,omitempty"`
	Device  string       `json:"device,omitempty"` // "" is the NIC the machine booted from
}

// Static reports whether the machine has a static address.
func (n Network) Static() bool { return n.Address.IsValid() }

// Lease is an address handed out by the DHCP server.
type Lease struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Expires  time.Time
	Hostname string
}

// Event is one step in a machine's timeline.
type Event struct {
	ID     int64
	MAC    net.HardwareAddr
	Time   time.Time
	Kind   events.Kind
	Detail string
	Fields events.Fields
}

// InstallLog is one log file an installer sent home (anaconda.log, the
// kickstart as anaconda read it...), kept per install.
type InstallLog struct {
	ID  int64
	MAC net.HardwareAddr
	// Install says which install the log belongs to: the same for every log
	// sent on one phone-home token (a new install, a new token).
	Install string
	Name    string
	Created time.Time
	Body    []byte
}

// APIToken is a REST API token: its public ID, and a hash of its secret
// (the secret itself is shown once, at creation, and never stored).
type APIToken struct {
	ID       string
	Name     string
	Hash     string // hex SHA-256 of the secret part
	ReadOnly bool   // may read everything and change nothing
	Created  time.Time
	LastUsed time.Time // zero: never
}

// Store is the persistence every backend provides. All methods are safe for
// concurrent use, also from several processes sharing one data directory
// (SQLite) or one database (PostgreSQL, shared by several servers).
type Store interface {
	AddDistro(ctx context.Context, d Distro) error
	Distro(ctx context.Context, name string) (Distro, error)
	Distros(ctx context.Context) ([]Distro, error)
	RemoveDistro(ctx context.Context, name string) error

	AddProfile(ctx context.Context, p Profile) error
	// PutProfile creates the profile or replaces all its fields.
	PutProfile(ctx context.Context, p Profile) error
	Profile(ctx context.Context, name string) (Profile, error)
	Profiles(ctx context.Context) ([]Profile, error)
	RemoveProfile(ctx context.Context, name string) error

	// PutMachine creates the machine or replaces all its fields.
	PutMachine(ctx context.Context, m Machine) error
	Machine(ctx context.Context, mac net.HardwareAddr) (Machine, error)
	MachineByToken(ctx context.Context, token string) (Machine, error)
	// MachineByIP returns the machine whose reserved address is ip.
	MachineByIP(ctx context.Context, ip netip.Addr) (Machine, error)
	Machines(ctx context.Context) ([]Machine, error)
	// RemoveMachine deletes the machine with its events, install logs and
	// lease.
	RemoveMachine(ctx context.Context, mac net.HardwareAddr) error
	// SetToken replaces the machine's token (ErrNotFound if there is no such
	// machine), leaving every other field as it is.
	SetToken(ctx context.Context, mac net.HardwareAddr, token string) error
	// Discover adds m, a machine seen on the wire (no profile), unless a
	// machine with its MAC exists; then only keep discovered machines remain:
	// those seen longest ago go, with their events and install logs. It reports whether m was
	// added. Registered machines are never removed by it. m.Seen is when it
	// was seen (zero: now).
	Discover(ctx context.Context, m Machine, keep int) (bool, error)
	// PruneDiscovered deletes the discovered machines not seen since before,
	// with their events and install logs. It returns how many machines went.
	PruneDiscovered(ctx context.Context, before time.Time) (int64, error)
	// Record appends ev to the machine's timeline and, if step is not empty,
	// advances the machine toward it (see Advance), in one transaction, so
	// that concurrent reports can never move a machine backwards. It returns
	// the machine's state afterwards. An event for a MAC that is not a
	// machine is not kept: ErrNotFound.
	Record(ctx context.Context, ev Event, step State) (State, error)
	Events(ctx context.Context, mac net.HardwareAddr) ([]Event, error)
	// PruneEvents deletes events older than before and returns how many.
	PruneEvents(ctx context.Context, before time.Time) (int64, error)
	// TrimEvents deletes all but the newest keep events of every machine
	// and returns how many went.
	TrimEvents(ctx context.Context, keep int) (int64, error)

	// AddInstallLog keeps l (l.Created zero: now), replacing the log of
	// the same MAC, install and name; then only the logs of the machine's
	// keep newest installs remain (an install is as new as its newest log).
	// In one transaction. A log for a MAC that is not a machine is not
	// kept: ErrNotFound.
	AddInstallLog(ctx context.Context, l InstallLog, keep int) error
	// InstallLogs returns the machine's logs, oldest first (by ID, which
	// grows with every log added).
	InstallLogs(ctx context.Context, mac net.HardwareAddr) ([]InstallLog, error)
	// PruneInstallLogs deletes the logs created before before, of every
	// machine, and returns how many.
	PruneInstallLogs(ctx context.Context, before time.Time) (int64, error)

	// AddAPIToken records a REST API token (ErrExists if its name or ID is
	// taken); APIToken returns one by ID, APITokens all by name;
	// RemoveAPIToken deletes one by name; UsedAPIToken notes its last use.
	AddAPIToken(ctx context.Context, t APIToken) error
	APIToken(ctx context.Context, id string) (APIToken, error)
	APITokens(ctx context.Context) ([]APIToken, error)
	RemoveAPIToken(ctx context.Context, name string) error
	UsedAPIToken(ctx context.Context, id string, at time.Time) error

	Leases(ctx context.Context) ([]Lease, error)
	// PutLease records l, replacing the MAC's lease and any other lease
	// of its address.
	PutLease(ctx context.Context, l Lease) error
	RemoveLease(ctx context.Context, mac net.HardwareAddr) error
	// SaveLeases does PutLease for each of put and RemoveLease for each
	// of remove (no MAC is in both) in one transaction: the DHCP server's
	// group commit of concurrent ACKs.
	SaveLeases(ctx context.Context, put []Lease, remove []net.HardwareAddr) error

	Close() error
}

// Watcher is a Store that other processes share (other kickstand servers,
// the CLI) and that tells of the changes they commit, as they commit them:
// what a server caches or streams live stays true without polling.
type Watcher interface {
	// Watch calls w's functions, one at a time and in commit order, for
	// each change committed through another handle on the store, until ctx
	// ends (it returns nil) or the connection to the store fails (it
	// returns why: what changes meanwhile is missed, so call it again).
	Watch(ctx context.Context, w Watch) error
}

// Watch is what a Watcher calls; a nil function is not called.
type Watch struct {
	// Machine says that the machine with MAC mac was added, changed or
	// removed; mac nil says that any may have been (the watch has just
	// started, after whatever it could not see).
	Machine func(mac net.HardwareAddr)
	// Event says that ev was recorded, leaving its machine in state.
	Event func(ev Event, state State)
}

// ParseMAC parses a 6-byte Ethernet address in any of the usual spellings
// (aa:bb:.., aa-bb-.., aabb.ccdd..).
func ParseMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("bad MAC address %q: want six hex bytes like 52:54:00:12:34:56", s)
	}
	return mac, nil
}
