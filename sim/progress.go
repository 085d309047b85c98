package sim

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// IsTerminal reports whether f is a character device (a terminal), which
// is when a progress bar is worth drawing.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// ProgressBar draws "[#####.....] 45%  9.0/20.0 s simulated" on w,
// rewriting one line. It reads no clock: it shows simulated time only.
func ProgressBar(w io.Writer, label string) Progress {
	last := -1
	return func(now, end Time) {
		pct := 100
		if end > 0 {
			pct = int(now * 100 / end)
		}
		if pct == last {
			return
		}
		last = pct
		n := pct / 4
		fmt.Fprintf(w, "\r%s [%s%s] %3d%% %6.1f/%.1f s simulated", label, strings.Repeat("#", n), strings.Repeat(".", 25-n), pct, float64(now)/1000, float64(end)/1000)
		if now >= end {
			fmt.Fprintln(w)
		}
	}
}
