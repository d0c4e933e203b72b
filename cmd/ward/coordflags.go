//go:build !ward_omit_coordinator

package main

import (
	"os"

	"fmt"
	"github.com/wardnet/ward/alert"
	"strconv"
	"strings"
	"time"
)

// daysDuration is a flag value holding a duration written in days ("30d")
// or as Go writes durations ("12h"); "0" means forever.
type daysDuration struct{ d *time.Duration }

// String implements pflag.Value.
func (v daysDuration) String() string {
	if v.d == nil {
		return ""
	}
	if *v.d%(24*time.Hour) == 0 && *v.d > 0 {
		return fmt.Sprintf("%dd", *v.d/(24*time.Hour))
	}
	return v.d.String()
}

// Set implements pflag.Value.
func (v daysDuration) Set(s string) error {
	d, err := parseDays(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

// Type implements pflag.Value.
func (daysDuration) Type() string { return "duration" }

// parseDays reads "30d", "12h", "0".
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is neither days (30d) nor a duration (12h)", s)
	}
	return d, nil
}

// alertsFlag reads and checks an alert rules file when the flag is set,
// so a mistake stops the start with its line and column.
type alertsFlag struct {
	rules **alert.Rules
	file  *string
}

// String implements pflag.Value.
func (alertsFlag) String() string { return "" }

// Type implements pflag.Value.
func (alertsFlag) Type() string { return "file" }

// Set implements pflag.Value.
func (f alertsFlag) Set(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	rs, err := alert.Parse(path, b)
	if err != nil {
		return fmt.Errorf("alert rules:\n%w", err)
	}
	*f.rules, *f.file = rs, path
	return nil
}
