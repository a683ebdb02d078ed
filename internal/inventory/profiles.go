package inventory

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"

	"kickstand/internal/kickstart"
	"kickstand/internal/kickstart/validate"
	"kickstand/internal/store"
)

// ProfileSpec is a profile as a request gives it.
type ProfileSpec struct {
	Name           string            `json:"name"`
	Distro         string            `json:"distro"`
	Kickstart      string            `json:"kickstart,omitempty"` // template text; "" the built-in one
	KernelArgs     string            `json:"kernel_args,omitempty"`
	RepoProtocol   string            `json:"repo_protocol,omitempty"`   // http (default) or ftp
	Vars           map[string]string `json:"vars,omitempty"`            // template variables; a machine's own win
	PasswordPolicy string            `json:"password_policy,omitempty"` // warn, refuse; "" the server's
}

// ProfilePatch changes a profile: nil fields stay as they are.
type ProfilePatch struct {
	Distro         *string           `json:"distro,omitempty"`
	Kickstart      *string           `json:"kickstart,omitempty"`
	KernelArgs     *string           `json:"kernel_args,omitempty"`
	RepoProtocol   *string           `json:"repo_protocol,omitempty"`
	PasswordPolicy *string           `json:"password_policy,omitempty"`
	Vars           map[string]string `json:"vars,omitempty"`       // set these
	UnsetVars      []string          `json:"unset_vars,omitempty"` // remove these
}

// ProfileView is a profile with what anaconda would warn about in its
// kickstart (rendered for a sample machine).
type ProfileView struct {
	store.Profile
	Warnings Warnings
}

var varKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkVars refuses variable names a template cannot use, and values a
// built-in variable does not take.
func checkVars(vars map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if !varKeyRE.MatchString(k) {
			return invalid("vars", "variable %q: use letters, digits and '_', not starting with a digit", k)
		}
		if choices, ok := kickstart.VarChoices[k]; ok && !slices.Contains(choices, vars[k]) {
			return invalid("vars", "variable %s=%q: want one of %s", k, vars[k], strings.Join(choices, ", "))
		}
	}
	return nil
}

// profile turns a spec into the profile it describes, checked on its own.
func (spec ProfileSpec) profile() (store.Profile, error) {
	p := store.Profile{Name: spec.Name, Distro: spec.Distro, Kickstart: spec.Kickstart, KernelArgs: spec.KernelArgs,
		RepoProtocol: spec.RepoProtocol, Vars: spec.Vars, PasswordPolicy: spec.PasswordPolicy}
	if err := CheckName("profile", p.Name); err != nil {
		return p, err
	}
	if p.RepoProtocol == "" {
		p.RepoProtocol = store.RepoHTTP
	}
	if p.Vars == nil {
		p.Vars = map[string]string{}
	}
	return p, checkProfileFields(p)
}

func checkProfileFields(p store.Profile) error {
	if p.Distro == "" {
		return invalid("distro", "profile %s needs a distro", p.Name)
	}
	if p.RepoProtocol != store.RepoHTTP && p.RepoProtocol != store.RepoFTP {
		return invalid("repo_protocol", "repo protocol %q: want http or ftp", p.RepoProtocol)
	}
	if p.PasswordPolicy != "" {
		if _, err := validate.ParsePasswordPolicy(p.PasswordPolicy); err != nil {
			return invalid("password_policy", "password policy: %v", err)
		}
	}
	if err := checkVars(p.Vars); err != nil {
		return err
	}
	if p.Kickstart != "" {
		if err := kickstart.Parse("profile "+p.Name, p.Kickstart, nil); err != nil {
			return &Error{Kind: Invalid, Field: "kickstart", Msg: err.Error(), Err: err}
		}
	}
	return nil
}

// checkProfile checks p against the store: its distro exists, and its
// kickstart renders without errors. It returns the kickstart's warnings.
func (inv *Inventory) checkProfile(ctx context.Context, s store.Store, p store.Profile) (Warnings, error) {
	if _, err := s.Distro(ctx, p.Distro); errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Kind: Invalid, Field: "distro", Err: err,
			Msg: "distro " + p.Distro + " does not exist: import it with kickstand distro import " + p.Distro + " PATH"}
	} else if err != nil {
		return nil, err
	}
	w, err := CheckProfile(ctx, s, p, inv.site(ctx))
	return w, inField("kickstart", kickstartError(err))
}

// kickstartError makes a kickstart that does not render or validate an
// Invalid error.
func kickstartError(err error) error {
	var invalidKS *InvalidError
	var missing *kickstart.MissingVarError
	switch {
	case errors.As(err, &invalidKS), errors.As(err, &missing):
		return &Error{Kind: Invalid, Msg: err.Error(), Err: err}
	}
	return err
}

// AddProfile creates a profile.
func (inv *Inventory) AddProfile(ctx context.Context, spec ProfileSpec) (ProfileView, error) {
	p, err := spec.profile()
	if err != nil {
		return ProfileView{}, err
	}
	w, err := inv.checkProfile(ctx, inv.Store, p)
	if err != nil {
		return ProfileView{}, err
	}
	if err := inv.Store.AddProfile(ctx, p); errors.Is(err, store.ErrExists) {
		return ProfileView{}, conflict("profile %s already exists: choose another name", p.Name)
	} else if err != nil {
		return ProfileView{}, err
	}
	p, err = inv.Store.Profile(ctx, p.Name)
	return ProfileView{p, w}, err
}

// apply returns p changed by patch, and the names of what changed.
func (patch ProfilePatch) apply(p store.Profile) (store.Profile, []string, error) {
	var changes []string
	set := func(name string, field *string, v *string) {
		if v != nil && *v != *field {
			*field = *v
			changes = append(changes, name)
		}
	}
	set("distro", &p.Distro, patch.Distro)
	set("kickstart template", &p.Kickstart, patch.Kickstart)
	set("kernel-args", &p.KernelArgs, patch.KernelArgs)
	set("repo-protocol", &p.RepoProtocol, patch.RepoProtocol)
	set("password-policy", &p.PasswordPolicy, patch.PasswordPolicy)
	vars, changed, err := patchVars(p.Vars, patch.Vars, patch.UnsetVars)
	if err != nil {
		return p, nil, err
	}
	if changed {
		p.Vars = vars
		changes = append(changes, "vars")
	}
	return p, changes, nil
}

// patchVars returns vars with set added and unset removed, and whether
// that changed them.
func patchVars(vars, set map[string]string, unset []string) (map[string]string, bool, error) {
	out := maps.Clone(vars)
	if out == nil {
		out = map[string]string{}
	}
	if err := checkVars(set); err != nil {
		return nil, false, err
	}
	maps.Copy(out, set)
	for _, k := range unset {
		if _, ok := out[k]; !ok {
			return nil, false, invalid("unset_vars", "variable %s is not set: nothing to remove", k)
		}
		delete(out, k)
	}
	return out, !maps.Equal(out, vars), nil
}

// UpdateProfile changes a profile; its machines install the new one next.
func (inv *Inventory) UpdateProfile(ctx context.Context, name string, patch ProfilePatch) (ProfileView, []string, error) {
	old, err := inv.Store.Profile(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return ProfileView{}, nil, notFound("profile %s does not exist (see kickstand profile list)", name)
	} else if err != nil {
		return ProfileView{}, nil, err
	}
	p, changes, err := patch.apply(old)
	if err != nil {
		return ProfileView{}, nil, err
	}
	if err := checkProfileFields(p); err != nil {
		return ProfileView{}, nil, err
	}
	w, err := inv.checkProfile(ctx, inv.Store, p)
	if err != nil || len(changes) == 0 {
		return ProfileView{p, w}, changes, err
	}
	if err := inv.Store.PutProfile(ctx, p); err != nil {
		return ProfileView{}, nil, err
	}
	p, err = inv.Store.Profile(ctx, name)
	return ProfileView{p, w}, changes, err
}

// RemoveProfile deletes a profile no machine uses.
func (inv *Inventory) RemoveProfile(ctx context.Context, name string) error {
	err := inv.Store.RemoveProfile(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("profile %s does not exist (see kickstand profile list)", name)
	case errors.Is(err, store.ErrInUse):
		return conflict("profile %s is used by a machine: remove or re-register those machines first (kickstand machine list)", name)
	}
	return err
}

// Profile returns a profile with its kickstart's warnings; a kickstart that
// no longer renders (a snippet changed since) is a warning too.
func (inv *Inventory) Profile(ctx context.Context, name string) (ProfileView, error) {
	p, err := inv.Store.Profile(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return ProfileView{}, notFound("profile %s does not exist (see kickstand profile list)", name)
	} else if err != nil {
		return ProfileView{}, err
	}
	w, err := CheckProfile(ctx, inv.Store, p, inv.site(ctx))
	if err != nil {
		w = append(w, errorProblem(err))
	}
	return ProfileView{p, w}, nil
}

// Profiles returns every profile by name.
func (inv *Inventory) Profiles(ctx context.Context) ([]store.Profile, error) {
	ps, err := inv.Store.Profiles(ctx)
	if ps == nil {
		ps = []store.Profile{}
	}
	return ps, err
}
