package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func loadWith(t *testing.T, args []string, env map[string]string) (config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf := newConfigFlags(fs, true)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cf.load(func(k string) string { return env[k] })
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := `{"listen":["/ip4/127.0.0.1/tcp/1"],"metrics":"127.0.0.1:1","log_level":"warn","tick":"250ms","bootstrap":["/file"]}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	// File only.
	c, err := loadWith(t, []string{"--data-dir", dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics != "127.0.0.1:1" || c.LogLevel != "warn" || c.Tick != 250*time.Millisecond ||
		!reflect.DeepEqual(c.Listen, []string{"/ip4/127.0.0.1/tcp/1"}) {
		t.Fatalf("file not applied: %+v", c)
	}
	// Environment beats the file.
	env := map[string]string{"MLSNODE_METRICS": "127.0.0.1:2", "MLSNODE_LISTEN": "/a,/b", "MLSNODE_TICK": "1s"}
	c, err = loadWith(t, []string{"--data-dir", dir}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics != "127.0.0.1:2" || c.Tick != time.Second || !reflect.DeepEqual(c.Listen, []string{"/a", "/b"}) || c.LogLevel != "warn" {
		t.Fatalf("env not applied over the file: %+v", c)
	}
	// Flags beat both.
	c, err = loadWith(t, []string{"--data-dir", dir, "--metrics", "127.0.0.1:3", "--listen", "/c", "--tick", "2s"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics != "127.0.0.1:3" || c.Tick != 2*time.Second || !reflect.DeepEqual(c.Listen, []string{"/c"}) {
		t.Fatalf("flags not applied over env: %+v", c)
	}
	// The data directory itself can come from the environment.
	c, err = loadWith(t, nil, map[string]string{"MLSNODE_DATA_DIR": dir})
	if err != nil || c.Metrics != "127.0.0.1:1" {
		t.Fatalf("MLSNODE_DATA_DIR: %+v %v", c, err)
	}
	if c.controlAddr() != "unix:"+filepath.Join(dir, "control.sock") {
		t.Fatalf("control address %q", c.controlAddr())
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown key": `{"listne":[]}`,
		"bad tick":    `{"tick":"soon"}`,
		"bad level":   `{"log_level":"loud"}`,
		"not json":    `listen = x`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := loadWith(t, []string{"--data-dir", dir}, nil); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	os.Remove(filepath.Join(dir, "config.json"))
	if _, err := loadWith(t, []string{"--data-dir", dir}, map[string]string{"MLSNODE_TICK": "-1s"}); err == nil {
		t.Fatal("negative tick accepted")
	}
	if _, err := loadWith(t, []string{"--config", filepath.Join(dir, "missing.json")}, nil); err == nil {
		t.Fatal("a missing explicit config file was accepted")
	}
}
