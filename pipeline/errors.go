package pipeline

import "errors"

// ErrLimit stops a run once --max-diffs differences are written; the run then succeeds, incomplete.
var ErrLimit = errors.New("difference limit reached")
