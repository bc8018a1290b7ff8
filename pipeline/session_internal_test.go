package pipeline

import (
	"testing"
	"time"
)

// TestTimeoutMilliseconds: a timeout under a millisecond was sent as 0, which PostgreSQL takes for no
// limit: --lock-timeout 1us waited for locks without end.
func TestTimeoutMilliseconds(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0", time.Microsecond: "1", 1500 * time.Microsecond: "2", 5 * time.Second: "5000"} {
		if got := ms(d); got != want {
			t.Errorf("ms(%v) = %s, want %s", d, got, want)
		}
	}
}
