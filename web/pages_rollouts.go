package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/wire"
)

// pageRollouts lists the rollouts.
func (s *server) pageRollouts(c echo.Context) error {
	rs, err := s.b.ListRollouts(c.Request().Context())
	if err != nil {
		return err
	}
	v := s.newView(c, "Rollouts", "rollouts")
	v.Data = rs
	return s.render(c, http.StatusOK, "rollouts.html", v)
}

// rolloutPage is a rollout with each wave's tally, for its page.
type rolloutPage struct {
	wire.Rollout
	Waves []waveTally
}

// waveTally is one wave's devices counted by how their update stands.
type waveTally struct {
	wire.RolloutWave
	Number                                int
	Current                               bool
	Healthy, Failed, Updating, NotStarted int
}

func tallyWaves(r wire.Rollout) []waveTally {
	out := make([]waveTally, len(r.Progress))
	for i, w := range r.Progress {
		t := waveTally{RolloutWave: w, Number: i + 1, Current: i == r.Wave}
		for _, d := range w.Devices {
			switch d.State {
			case wire.UpdateHealthy:
				t.Healthy++
			case wire.UpdateFailed, wire.UpdateRolledBack:
				t.Failed++
			case wire.UpdateDownloading, wire.UpdateVerifying, wire.UpdateInstalling, "sent":
				t.Updating++
			default:
				t.NotStarted++
			}
		}
		out[i] = t
	}
	return out
}

// pageRollout shows one rollout's progress per wave, with pause, resume
// and abort for fleet admins.
func (s *server) pageRollout(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	r, err := s.b.Rollout(c.Request().Context(), id)
	if err != nil {
		return err
	}
	v := s.newView(c, "Rollout", "rollouts")
	v.Data = rolloutPage{Rollout: r, Waves: tallyWaves(r)}
	return s.render(c, http.StatusOK, "rollout.html", v)
}

// actOnRollout pauses, resumes or aborts a rollout from its page.
func (s *server) actOnRollout(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := paramID(c)
		if err != nil {
			return err
		}
		r, err := s.b.ActOnRollout(c.Request().Context(), id, action, principalOf(c))
		if err != nil {
			return err
		}
		return done(c, "/ui/rollouts/"+c.Param("id"), "rollout-"+r.Status)
	}
}
