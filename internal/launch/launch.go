// Package launch is the report bench/launcher writes about the one program it runs. The benchmark and
// the integration tests start programs through the launcher to read their own peak RSS (see
// bench/launcher for why a program's parent cannot).
package launch

import (
	"encoding/json"
	"fmt"
	"os"
)

// Report is what the launcher found about its program, written as JSON to the file it was given.
type Report struct {
	WallNS    int64  `json:"wall_ns"`
	UserNS    int64  `json:"user_ns"`
	SysNS     int64  `json:"sys_ns"`
	MaxRSSKiB int64  `json:"maxrss_kib"`
	Exit      int    `json:"exit"`
	Err       string `json:"err,omitempty"` // why the program did not start; "" when it ran
}

// Read reads the report the launcher wrote to path.
func Read(path string) (Report, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Report{}, fmt.Errorf("launcher: no report: %w", err)
	}
	var rep Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return Report{}, fmt.Errorf("launcher: bad report %s: %w", path, err)
	}
	return rep, nil
}
