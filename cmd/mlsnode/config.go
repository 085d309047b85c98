package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// config is the daemon's and the client's configuration. Precedence, last
// wins: defaults, the config file (<data-dir>/config.json or --config),
// environment variables MLSNODE_<NAME>, command-line flags.
type config struct {
	DataDir   string        `json:"data_dir"`
	Listen    []string      `json:"listen"`
	Bootstrap []string      `json:"bootstrap"`
	Control   string        `json:"control"`
	Metrics   string        `json:"metrics"`
	LogLevel  string        `json:"log_level"`
	LogFormat string        `json:"log_format"`
	MDNS      bool          `json:"mdns"`
	Tick      time.Duration `json:"tick"`
	Suite     uint16        `json:"suite"`
}

func defaultConfig() config {
	home, _ := os.UserHomeDir()
	return config{
		DataDir:   filepath.Join(home, ".mlsnode"),
		Listen:    []string{"/ip4/0.0.0.0/tcp/0"},
		LogLevel:  "info",
		LogFormat: "text",
		Tick:      100 * time.Millisecond,
		Suite:     1,
	}
}

// controlAddr is the control address, defaulting to the socket in the
// data directory.
func (c *config) controlAddr() string {
	if c.Control != "" {
		return c.Control
	}
	return "unix:" + filepath.Join(c.DataDir, "control.sock")
}

func (c *config) tokenPath() string { return filepath.Join(c.DataDir, "control.token") }

// listFlag is a repeatable or comma-separated flag.
type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.v = append(*l.v, p)
		}
	}
	return nil
}

// configFlags registers the common flags on fs, writing into a scratch
// config whose set values loadConfig applies last.
type configFlags struct {
	fs      *flag.FlagSet
	file    string
	scratch config
}

func newConfigFlags(fs *flag.FlagSet, daemon bool) *configFlags {
	cf := &configFlags{fs: fs}
	s := &cf.scratch
	fs.StringVar(&cf.file, "config", "", "config file (JSON; default <data-dir>/config.json)")
	fs.StringVar(&s.DataDir, "data-dir", "", "data directory (env MLSNODE_DATA_DIR; default ~/.mlsnode)")
	fs.StringVar(&s.Control, "control", "", "control API address: unix:/path or tcp:127.0.0.1:port (env MLSNODE_CONTROL; default unix:<data-dir>/control.sock)")
	fs.StringVar(&s.LogLevel, "log-level", "", "debug, info, warn or error (env MLSNODE_LOG_LEVEL)")
	if daemon {
		fs.Var(listFlag{&s.Listen}, "listen", "libp2p listen multiaddrs, repeatable (env MLSNODE_LISTEN)")
		fs.Var(listFlag{&s.Bootstrap}, "bootstrap", "bootstrap multiaddrs ending in /p2p/<id>, repeatable (env MLSNODE_BOOTSTRAP)")
		fs.StringVar(&s.Metrics, "metrics", "", "address of the Prometheus /metrics endpoint, e.g. 127.0.0.1:9464 (env MLSNODE_METRICS; default off)")
		fs.StringVar(&s.LogFormat, "log-format", "", "text or json (env MLSNODE_LOG_FORMAT)")
		fs.BoolVar(&s.MDNS, "mdns", false, "discover peers on the LAN with mDNS (env MLSNODE_MDNS)")
		fs.DurationVar(&s.Tick, "tick", 0, "logical tick of the ordering layer (env MLSNODE_TICK)")
	}
	return cf
}

// load resolves the configuration after fs.Parse.
func (cf *configFlags) load(env func(string) string) (config, error) {
	c := defaultConfig()
	set := map[string]bool{}
	cf.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// The data directory decides where the file is, so settle it first.
	if v := env("MLSNODE_DATA_DIR"); v != "" {
		c.DataDir = v
	}
	if set["data-dir"] {
		c.DataDir = cf.scratch.DataDir
	}
	file := cf.file
	if file == "" {
		file = env("MLSNODE_CONFIG")
	}
	explicit := file != ""
	if file == "" {
		file = filepath.Join(c.DataDir, "config.json")
	}
	if err := readConfigFile(file, &c); err != nil {
		if explicit || !errors.Is(err, os.ErrNotExist) {
			return c, err
		}
	}
	if err := applyEnv(&c, env); err != nil {
		return c, err
	}
	if set["data-dir"] {
		c.DataDir = cf.scratch.DataDir
	}
	s := cf.scratch
	for name := range set {
		switch name {
		case "control":
			c.Control = s.Control
		case "log-level":
			c.LogLevel = s.LogLevel
		case "listen":
			c.Listen = s.Listen
		case "bootstrap":
			c.Bootstrap = s.Bootstrap
		case "metrics":
			c.Metrics = s.Metrics
		case "log-format":
			c.LogFormat = s.LogFormat
		case "mdns":
			c.MDNS = s.MDNS
		case "tick":
			c.Tick = s.Tick
		}
	}
	return c, c.validate()
}

func readConfigFile(path string, c *config) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(io.LimitReader(f, 1<<20))
	dec.DisallowUnknownFields()
	var fc struct {
		config
		Tick string `json:"tick"`
	}
	fc.config = *c
	if err := dec.Decode(&fc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	*c = fc.config
	if fc.Tick != "" {
		d, err := time.ParseDuration(fc.Tick)
		if err != nil {
			return fmt.Errorf("config file %s: tick: %w", path, err)
		}
		c.Tick = d
	}
	return nil
}

func applyEnv(c *config, env func(string) string) error {
	str := func(name string, dst *string) {
		if v := env(name); v != "" {
			*dst = v
		}
	}
	list := func(name string, dst *[]string) {
		if v := env(name); v != "" {
			*dst = nil
			_ = listFlag{dst}.Set(v)
		}
	}
	str("MLSNODE_CONTROL", &c.Control)
	str("MLSNODE_METRICS", &c.Metrics)
	str("MLSNODE_LOG_LEVEL", &c.LogLevel)
	str("MLSNODE_LOG_FORMAT", &c.LogFormat)
	list("MLSNODE_LISTEN", &c.Listen)
	list("MLSNODE_BOOTSTRAP", &c.Bootstrap)
	if v := env("MLSNODE_MDNS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("MLSNODE_MDNS: %w", err)
		}
		c.MDNS = b
	}
	if v := env("MLSNODE_TICK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("MLSNODE_TICK: %w", err)
		}
		c.Tick = d
	}
	return nil
}

func (c *config) validate() error {
	if c.DataDir == "" {
		return errors.New("config: data directory is empty")
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("config: log format %q is neither text nor json", c.LogFormat)
	}
	if c.Tick <= 0 {
		return fmt.Errorf("config: tick %v must be positive", c.Tick)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("config: log level %q: %w", s, err)
	}
	return l, nil
}

func newLogger(c *config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
