package main

// childReport is what bench/launcher writes about the program it ran (see its doc comment for why the
// benchmark measures through it).
type childReport struct {
	WallNS    int64  `json:"wall_ns"`
	UserNS    int64  `json:"user_ns"`
	SysNS     int64  `json:"sys_ns"`
	MaxRSSKiB int64  `json:"maxrss_kib"`
	Exit      int    `json:"exit"`
	Err       string `json:"err,omitempty"`
}
