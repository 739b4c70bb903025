package console

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/reencrypt"
)

type versionCount struct {
	Version uint32
	Values  int
}

type cryptoData struct {
	Status   *reencrypt.Status
	Versions []versionCount
	Replicas []string
	Error    string
	Job      *novamed.ReencryptionJob
}

func (c *Console) cryptoStatus(q *req) (*cryptoData, error) {
	st, err := c.cfg.Reencrypt.Status(q.r.Context())
	if err != nil {
		return nil, err
	}
	d := &cryptoData{Status: st}
	for v, n := range st.ValuesByVersion {
		d.Versions = append(d.Versions, versionCount{v, n})
	}
	slices.SortFunc(d.Versions, func(a, b versionCount) int { return cmp.Compare(a.Version, b.Version) })
	for name, vs := range st.Replicas {
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = "v" + strconv.FormatUint(uint64(v), 10)
		}
		d.Replicas = append(d.Replicas, name+": "+strings.Join(parts, ", "))
	}
	slices.Sort(d.Replicas)
	return d, nil
}

// cryptoPage shows PHI values per master key version, the replicas'
// keyrings and recent re-encryptions, with the form that starts one.
func (c *Console) cryptoPage(q *req) error {
	if c.cfg.Reencrypt == nil {
		return novamed.Errorf(novamed.CodeNotFound, "This server does not run master-key re-encryptions.")
	}
	d, err := c.cryptoStatus(q)
	if err != nil {
		return err
	}
	c.render(q.w, q.r, http.StatusOK, "crypto", c.newView(q.r, q.s, "Master key", d))
	return nil
}

// startReencryption starts a re-encryption (after a recent password and
// code check) and opens its progress page; audited as crypto.rotation.
func (c *Console) startReencryption(q *req) error {
	if c.cfg.Reencrypt == nil {
		return novamed.Errorf(novamed.CodeNotFound, "This server does not run master-key re-encryptions.")
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(q.r.PostFormValue("to_version")), "v"), 10, 32)
	var job *novamed.ReencryptionJob
	if err != nil || v == 0 {
		err = novamed.Errorf(novamed.CodeInvalid, "Choose the master key version to re-seal under.")
	} else {
		job, err = c.cfg.Reencrypt.Start(q.r.Context(), uint32(v), q.actor())
	}
	if msg, ok := invalid(err); ok {
		if err := c.audit(q.r.Context(), q, "crypto.rotation", "crypto", "", http.StatusUnprocessableEntity); err != nil {
			return err
		}
		d, err := c.cryptoStatus(q)
		if err != nil {
			return err
		}
		d.Error = msg
		c.render(q.w, q.r, http.StatusUnprocessableEntity, "crypto", c.newView(q.r, q.s, "Master key", d))
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.audit(q.r.Context(), q, "crypto.rotation", "crypto", "", http.StatusOK, job.ID); err != nil {
		return err
	}
	c.redirect(q.w, q.r, Prefix+"/crypto/reencryptions/"+job.ID)
	return nil
}

// reencryptionPage shows a job's progress; while it runs the page polls
// itself through htmx.
func (c *Console) reencryptionPage(q *req) error {
	if c.cfg.Reencrypt == nil {
		return novamed.Errorf(novamed.CodeNotFound, "This server does not run master-key re-encryptions.")
	}
	j, err := c.cfg.Reencrypt.Job(q.r.Context(), strings.ToLower(q.r.PathValue("id")))
	if err != nil {
		return err
	}
	c.render(q.w, q.r, http.StatusOK, "reencryption", c.newView(q.r, q.s, "Re-encryption", &cryptoData{Job: j}))
	return nil
}
