package sim

import (
	"errors"
	"fmt"
	"sort"
)

// ErrUnknownScenario is returned for a scenario name that is not defined.
var ErrUnknownScenario = errors.New("sim: unknown scenario")

// PartitionKind names a way of cutting the network.
type PartitionKind string

// The partition kinds. A symmetric split cuts two random halves from each
// other; an asymmetric one cuts only the traffic from the first half to the
// second; isolating one cuts one random member from all others both ways.
const (
	PartitionNone       PartitionKind = ""
	PartitionSymmetric  PartitionKind = "symmetric"
	PartitionAsymmetric PartitionKind = "asymmetric"
	PartitionIsolate    PartitionKind = "isolate"
)

// Workload says what the members are asked to do, at what rates.
type Workload struct {
	// AppPerMemberPerSec is the rate of application messages per member.
	AppPerMemberPerSec float64
	// CommitsPerSec is the group-wide rate of commits; each picks a random
	// member and a kind by the weights below.
	CommitsPerSec                         float64
	UpdateWeight, AddWeight, RemoveWeight float64
	// MinMembers stops removals below this group size.
	MinMembers int
	// MessageBytes is the size of an application payload.
	MessageBytes int
}

// Config is everything a run depends on besides the Population. A Config and
// a Seed determine the run.
type Config struct {
	Scenario string
	Members  int
	Seed     Seed

	// The run: faults and workload during [0, Duration); then the network
	// is whole, everyone online and the workload stops; the settle time
	// follows, then CheckMs during which the fork invariant is asserted
	// after every event.
	DurationMs, SettleMs, CheckMs Time
	TickMs                        Time

	// Partitions: Kind, each PartitionMs long. Flapping alternates cut and
	// whole every FlapMs between 20% and 80% of the duration; otherwise one
	// partition starts at 20% of the duration.
	Partition   PartitionKind
	PartitionMs Time
	FlapMs      Time

	// Churn: this fraction of the members goes offline once, for a random
	// time up to ChurnMaxOfflineMs, during the duration.
	ChurnFraction     float64
	ChurnMaxOfflineMs Time

	Net      NetConfig
	Workload Workload

	// For the cores: the retention window, the ordering rules and the
	// cipher suite. The engine only reports them; the Population uses them.
	WindowMs    Time
	Rank, Apply string
	Suite       uint16
	// BeaconTicks is fork's beacon interval in ticks (0: its default).
	// Every member verifies every beacon, so the cost grows as members^2
	// per interval; large runs raise it.
	BeaconTicks uint64
	// NoStore skips persisting each member's state to its in-memory store
	// (and the cores' encoding of it), for runs too large to afford it.
	NoStore bool
}

// Scenarios lists the scenario names in a stable order.
func Scenarios() []string {
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ScenarioDoc describes a scenario in one line.
func ScenarioDoc(name string) string { return scenarios[name].doc }

type scenarioDef struct {
	doc   string
	apply func(*Config)
}

var scenarios = map[string]scenarioDef{
	"split-brain": {"two random halves cut from each other for the partition length, then healed", func(c *Config) {
		c.Partition = PartitionSymmetric
	}},
	"asymmetric": {"one half cannot reach the other, the other still reaches it", func(c *Config) {
		c.Partition = PartitionAsymmetric
	}},
	"isolate-one": {"one random member cut from everyone for the partition length", func(c *Config) {
		c.Partition = PartitionIsolate
	}},
	"flapping": {"random halves cut and healed every flap period from 20% to 80% of the run", func(c *Config) {
		c.Partition = PartitionSymmetric
		c.FlapMs = 1500
	}},
	"commit-storm": {"no partition; commits at a high rate, so rivals race on most epochs", func(c *Config) {
		c.Workload.CommitsPerSec = 5
	}},
	"lossy": {"no partition; 20% loss, 5% duplication, 20% of copies delayed up to 300 ms", func(c *Config) {
		c.Net.Loss = 0.20
		c.Net.Duplicate = 0.05
		c.Net.Reorder = 0.20
		c.Net.ReorderMs = 300
	}},
	"churn": {"a third of the members go offline for up to 8 s; members join and leave often", func(c *Config) {
		c.ChurnFraction = 0.34
		c.ChurnMaxOfflineMs = 8000
		c.Workload.AddWeight = 2
		c.Workload.RemoveWeight = 2
		c.Workload.UpdateWeight = 1
	}},
	"quiet": {"no faults at all: the baseline", func(c *Config) {}},
}

// DefaultConfig is the base every scenario starts from.
func DefaultConfig() Config {
	return Config{
		Members:    16,
		Seed:       1,
		DurationMs: 20000, SettleMs: 15000, CheckMs: 3000,
		TickMs:      100,
		PartitionMs: 5000,
		Net: NetConfig{
			Latency: DefaultLatency,
		},
		Workload: Workload{
			AppPerMemberPerSec: 0.2,
			CommitsPerSec:      0.5,
			UpdateWeight:       3, AddWeight: 1, RemoveWeight: 1,
			MinMembers:   4,
			MessageBytes: 64,
		},
		WindowMs: 2000,
		Rank:     "", Apply: "",
		Suite: 1,
	}
}

// ScenarioConfig returns the default Config with the named scenario applied.
// Callers then override fields from flags.
func ScenarioConfig(name string) (Config, error) {
	def, ok := scenarios[name]
	if !ok {
		return Config{}, fmt.Errorf("%w: %q (have %v)", ErrUnknownScenario, name, Scenarios())
	}
	c := DefaultConfig()
	c.Scenario = name
	def.apply(&c)
	return c, nil
}

// Validate rejects a Config the engine cannot run.
func (c *Config) Validate() error {
	switch {
	case c.Members < 2:
		return fmt.Errorf("sim: members %d: need at least 2", c.Members)
	case c.DurationMs == 0 || c.TickMs == 0:
		return errors.New("sim: duration and tick must be positive")
	case c.Net.Loss < 0 || c.Net.Loss >= 1:
		return fmt.Errorf("sim: loss %v: want 0 <= loss < 1", c.Net.Loss)
	case c.Net.Duplicate < 0 || c.Net.Duplicate > 1 || c.Net.Reorder < 0 || c.Net.Reorder > 1:
		return errors.New("sim: duplicate and reorder are probabilities")
	case c.Partition != PartitionNone && c.PartitionMs == 0:
		return errors.New("sim: a partition needs a positive length")
	}
	return nil
}
