package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"kickstand/internal/inventory"
)

// Client calls a kickstand's API; it has the methods of inventory.Service,
// so that the command line works the same on a remote server.
type Client struct {
	URL   string // e.g. http://10.0.0.1 or http://10.0.0.1:8080
	Token string
	// HTTP is the client to use; nil: one with a 60 s timeout.
	HTTP *http.Client
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 60 * time.Second}
}

// do sends a request with body (JSON, if not nil) and decodes the answer
// into out (if not nil). A refused request is an *inventory.Error carrying
// the server's message, so that it reads the same as a local one.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, r)
	if err != nil {
		return fmt.Errorf("--server %s: %w", c.URL, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("kickstand at %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("kickstand at %s: %w", c.URL, err)
	}
	if resp.StatusCode >= 300 {
		var e ErrorBody
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			return fmt.Errorf("kickstand at %s: %s %s: %s", c.URL, method, path, resp.Status)
		}
		kind := map[int]inventory.Kind{http.StatusNotFound: inventory.NotFound, http.StatusConflict: inventory.Conflict}[resp.StatusCode]
		return &inventory.Error{Kind: kind, Field: e.Field, Msg: e.Error}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("kickstand at %s: %s %s: %w", c.URL, method, path, err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// Distros lists the distros.
func (c *Client) Distros(ctx context.Context) ([]inventory.DistroJSON, error) {
	var out []inventory.DistroJSON
	return out, c.do(ctx, "GET", "/api/v1/distros", nil, &out)
}

// ImportDistro imports the media at path on the server.
func (c *Client) ImportDistro(ctx context.Context, name, path string) (inventory.DistroJSON, error) {
	var out inventory.DistroJSON
	body := map[string]string{"name": name, "path": path}
	return out, c.do(ctx, "POST", "/api/v1/distros", body, &out)
}

// RemoveDistro forgets a distro.
func (c *Client) RemoveDistro(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/api/v1/distros/"+esc(name), nil, nil)
}

// Profiles lists the profiles.
func (c *Client) Profiles(ctx context.Context) ([]inventory.ProfileJSON, error) {
	var out []inventory.ProfileJSON
	return out, c.do(ctx, "GET", "/api/v1/profiles", nil, &out)
}

// Profile returns one profile.
func (c *Client) Profile(ctx context.Context, name string) (inventory.ProfileJSON, error) {
	var out inventory.ProfileJSON
	return out, c.do(ctx, "GET", "/api/v1/profiles/"+esc(name), nil, &out)
}

// AddProfile creates a profile.
func (c *Client) AddProfile(ctx context.Context, spec inventory.ProfileSpec) (inventory.ProfileJSON, error) {
	var out inventory.ProfileJSON
	return out, c.do(ctx, "POST", "/api/v1/profiles", spec, &out)
}

// UpdateProfile changes a profile.
func (c *Client) UpdateProfile(ctx context.Context, name string, patch inventory.ProfilePatch) (inventory.ProfileJSON, error) {
	var out inventory.ProfileJSON
	return out, c.do(ctx, "PATCH", "/api/v1/profiles/"+esc(name), patch, &out)
}

// RemoveProfile deletes a profile.
func (c *Client) RemoveProfile(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/api/v1/profiles/"+esc(name), nil, nil)
}

// Machines lists the machines.
func (c *Client) Machines(ctx context.Context) ([]inventory.MachineJSON, error) {
	var out []inventory.MachineJSON
	return out, c.do(ctx, "GET", "/api/v1/machines", nil, &out)
}

// Machine returns one machine with its timeline.
func (c *Client) Machine(ctx context.Context, mac string) (inventory.MachineJSON, error) {
	var out inventory.MachineJSON
	return out, c.do(ctx, "GET", "/api/v1/machines/"+esc(mac), nil, &out)
}

// AddMachine registers a machine.
func (c *Client) AddMachine(ctx context.Context, spec inventory.MachineSpec) (inventory.WriteJSON, error) {
	var out inventory.WriteJSON
	return out, c.do(ctx, "POST", "/api/v1/machines", spec, &out)
}

// UpdateMachine changes a registered machine.
func (c *Client) UpdateMachine(ctx context.Context, mac string, patch inventory.MachinePatch) (inventory.WriteJSON, error) {
	var out inventory.WriteJSON
	return out, c.do(ctx, "PATCH", "/api/v1/machines/"+esc(mac), patch, &out)
}

// Reinstall sends a registered machine back to new.
func (c *Client) Reinstall(ctx context.Context, mac string) (inventory.WriteJSON, error) {
	var out inventory.WriteJSON
	return out, c.do(ctx, "POST", "/api/v1/machines/"+esc(mac)+"/reinstall", nil, &out)
}

// RemoveMachine forgets a machine.
func (c *Client) RemoveMachine(ctx context.Context, mac string) error {
	return c.do(ctx, "DELETE", "/api/v1/machines/"+esc(mac), nil, nil)
}

// Kickstart renders a machine's kickstart, or a profile's for a sample
// machine, as the server has it; the API never sends secrets.
func (c *Client) Kickstart(ctx context.Context, mac, profile string, opt inventory.RenderOptions) (inventory.KickstartJSON, error) {
	var out inventory.KickstartJSON
	if opt.Secrets {
		return out, &inventory.Error{Kind: inventory.Invalid, Field: "secrets",
			Msg: "--secrets works only on the server itself: the API never sends passwords"}
	}
	path := "/api/v1/machines/" + esc(mac) + "/kickstart"
	if mac == "" {
		path = "/api/v1/profiles/" + esc(profile) + "/kickstart"
	}
	q := url.Values{}
	if opt.BaseURL != "" {
		q.Set("base_url", opt.BaseURL)
		q.Set("ftp_base", opt.FTPBase)
		path += "?" + q.Encode()
	}
	return out, c.do(ctx, "GET", path, nil, &out)
}

// InstallLogs returns the logs a machine's installs sent home.
func (c *Client) InstallLogs(ctx context.Context, mac string, q inventory.LogQuery) ([]inventory.InstallLogJSON, error) {
	v := url.Values{}
	if q.Name != "" {
		v.Set("name", q.Name)
	}
	switch {
	case q.All:
		v.Set("install", "all")
	case q.Install > 0:
		v.Set("install", fmt.Sprint(q.Install))
	}
	path := "/api/v1/machines/" + esc(mac) + "/logs"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []inventory.InstallLogJSON
	return out, c.do(ctx, "GET", path, nil, &out)
}

// Apply brings the server's inventory to req.
func (c *Client) Apply(ctx context.Context, req inventory.ApplyRequest, dryRun bool) (inventory.Plan, error) {
	var out inventory.Plan
	return out, c.do(ctx, "POST", fmt.Sprintf("/api/v1/apply?dry_run=%t", dryRun), req, &out)
}

// Leases lists the server's leases.
func (c *Client) Leases(ctx context.Context) ([]inventory.LeaseJSON, error) {
	var out []inventory.LeaseJSON
	return out, c.do(ctx, "GET", "/api/v1/leases", nil, &out)
}
