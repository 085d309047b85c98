package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/mlsnode/mlsnode/node"
)

// controlClient calls a daemon's control API.
type controlClient struct {
	hc    *http.Client
	base  string
	token string
}

func newControlClient(addr, token string) *controlClient {
	tr := &http.Transport{}
	base := "http://mlsnode"
	if strings.HasPrefix(addr, "tcp:") {
		base = "http://" + strings.TrimPrefix(addr, "tcp:")
	} else {
		path := strings.TrimPrefix(addr, "unix:")
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	}
	return &controlClient{hc: &http.Client{Transport: tr}, base: base, token: token}
}

func (c *controlClient) post(ctx context.Context, verb string, req *request) (*http.Response, error) {
	body := encodeJSON(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+apiPrefix+verb, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		hr.Header.Set(tokenHeader, "Bearer "+c.token)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%w (is `mlsnode run` running with this data directory?): %v", ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var eb errorBody
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &eb) != nil || eb.Error == nil {
			return nil, &apiError{Status: resp.StatusCode, Code: codeInternal, Message: strings.TrimSpace(string(data))}
		}
		eb.Error.Status = resp.StatusCode
		return nil, eb.Error
	}
	return resp, nil
}

// call performs one unary call and decodes its result into out (if not nil).
func (c *controlClient) call(ctx context.Context, verb string, req *request, out any) error {
	if req == nil {
		req = &request{}
	}
	resp, err := c.post(ctx, verb, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out)
}

// tail streams events to fn until ctx ends, fn returns false, or the
// daemon closes the stream.
func (c *controlClient) tail(ctx context.Context, req *request, fn func(node.Event) bool) error {
	resp, err := c.post(ctx, "tail", req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var e node.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("tail: %w", err)
		}
		if !fn(e) {
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}
