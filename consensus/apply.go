package consensus

import "fmt"

// ApplyPolicy decides when the head may move onto the best candidate
// commit of a parent epoch. Both policies converge on the same fork choice
// (the best candidate known inside the window); they differ in how long a
// member waits before acting on it, trading latency for rollbacks.
type ApplyPolicy interface {
	Name() string
	// Settled reports whether the best candidate on a parent may be
	// applied, age ticks after the parent's first candidate arrived,
	// with a retention window of window ticks.
	Settled(age, window uint64) bool
}

// ApplySwitch applies the best commit at once and switches branch when a
// better rival arrives inside the window (the default).
type ApplySwitch struct{}

func (ApplySwitch) Name() string               { return "apply-switch" }
func (ApplySwitch) Settled(age, _ uint64) bool { return true }

// WaitDecide waits Wait ticks after the first candidate on a parent before
// applying the best one (zero waits half the window). A better rival that
// still arrives inside the window switches the branch as with ApplySwitch,
// so members that saw it agree; it is merely rarer.
type WaitDecide struct{ Wait uint64 }

func (WaitDecide) Name() string { return "wait-decide" }

func (w WaitDecide) Settled(age, window uint64) bool {
	wait := w.Wait
	if wait == 0 {
		wait = window / 2
	}
	return age >= wait
}

var applyPolicies = map[string]func() ApplyPolicy{
	"apply-switch": func() ApplyPolicy { return ApplySwitch{} },
	"wait-decide":  func() ApplyPolicy { return WaitDecide{} },
}

// ApplyByName returns the policy with the given name (ApplyNames lists
// them).
func ApplyByName(name string) (ApplyPolicy, error) {
	if f, ok := applyPolicies[name]; ok {
		return f(), nil
	}
	return nil, fmt.Errorf("%w: apply %q", ErrUnknownRule, name)
}

// ApplyNames lists the names ApplyByName accepts, sorted.
func ApplyNames() []string { return sortedNames(applyPolicies) }
