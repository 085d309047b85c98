package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/node"
)

// cmdInit creates the data directory (0700), the store and the identity.
func cmdInit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlsnode init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := newConfigFlags(fs, false)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := cf.load(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode init:", err)
		return 2
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		fmt.Fprintln(stderr, "mlsnode init:", err)
		return 1
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		fmt.Fprintln(stderr, "mlsnode init:", err)
		return 1
	}
	id, err := node.InitStore(ctx, storeDir(&cfg))
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode init:", err)
		return 1
	}
	fmt.Fprintf(stdout, "initialised %s\npeer id %s\n", cfg.DataDir, id)
	return 0
}

func storeDir(c *config) string { return filepath.Join(c.DataDir, "store") }

// cmdRun runs the daemon until SIGINT/SIGTERM.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlsnode run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := newConfigFlags(fs, true)
	autoJoin := fs.Bool("auto-join", false, "join groups as soon as an invitation arrives")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := cf.load(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode run:", err)
		return 2
	}
	log := newLogger(&cfg, stderr)
	if err := runDaemon(ctx, &cfg, *autoJoin, log, stdout); err != nil {
		log.Error("daemon failed", "err", err)
		return 1
	}
	return 0
}

func runDaemon(ctx context.Context, cfg *config, autoJoin bool, log *slog.Logger, stdout io.Writer) error {
	if _, err := os.Stat(storeDir(cfg)); err != nil {
		return fmt.Errorf("no store in %s (run `mlsnode init` first): %w", cfg.DataDir, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := []node.Option{
		node.WithDataDir(storeDir(cfg)),
		node.WithListenAddrs(cfg.Listen...),
		node.WithBootstrap(cfg.Bootstrap...),
		node.WithMDNS(cfg.MDNS),
		node.WithLogger(log),
		node.WithMetrics(reg),
		node.WithTick(cfg.Tick),
		node.WithSuite(suite.ID(cfg.Suite)),
		node.WithAutoJoin(autoJoin),
	}
	if hb := os.Getenv("MLSNODE_HEARTBEAT"); hb != "" {
		d, err := time.ParseDuration(hb)
		if err != nil {
			return fmt.Errorf("MLSNODE_HEARTBEAT: %w", err)
		}
		opts = append(opts, node.WithHeartbeat(d))
	}
	n, err := node.New(ctx, opts...)
	if err != nil {
		return err
	}
	defer n.Close()

	ln, unix, err := listenControl(cfg.controlAddr())
	if err != nil {
		return err
	}
	token := ""
	if !unix {
		if token, err = writeToken(cfg.tokenPath()); err != nil {
			ln.Close()
			return err
		}
	}
	cs := newControlServer(n, ln, unix, token, log.With("part", "control"))
	errc := make(chan error, 2)
	go func() { errc <- cs.serve() }()

	var ms *http.Server
	if cfg.Metrics != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mln, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		ms = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := ms.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		log.Info("metrics", "addr", "http://"+mln.Addr().String()+"/metrics")
	}
	// One line on stdout that scripts and tests wait for.
	fmt.Fprintf(stdout, "ready peer=%s control=%s addrs=%s\n", n.ID(), cfg.controlAddr(), strings.Join(n.FullAddrs(), ","))
	log.Info("daemon ready", "peer", n.ID(), "control", cfg.controlAddr())

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-errc:
		if err != nil {
			log.Error("control server failed", "err", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cs.shutdown(sctx)
	if ms != nil {
		_ = ms.Shutdown(sctx)
	}
	return n.Close()
}

// writeToken makes a fresh random token for the TCP control API and
// writes it 0600 where clients of the same user read it.
func writeToken(path string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, os.Chmod(path, 0o600)
}
