package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// apiClient calls a patchday server's admin API as the bootstrap admin.
type apiClient struct {
	base   string
	client *http.Client
	token  string
}

// call sends v as JSON (nil: no body) and decodes a want-status answer into out (nil: the
// answer is dropped).
func (c *apiClient) call(ctx context.Context, method, path string, v any, want int, out any) error {
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if v != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req, want, out)
}

// do sends req with the admin's token and decodes a want-status answer into out.
func (c *apiClient) do(req *http.Request, want int, out any) error {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %.500s", req.Method, req.URL.Path, res.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: answer: %w", req.Method, req.URL.Path, err)
		}
	}
	return nil
}

// login logs in as the bootstrap admin and keeps the token.
func (c *apiClient) login(ctx context.Context) error {
	var tok struct{ Token string }
	err := c.call(ctx, http.MethodPost, "/api/v1/auth/login",
		map[string]string{"username": "admin", "password": adminPassword}, http.StatusCreated, &tok)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	c.token = tok.Token
	return nil
}

// enrollToken makes an enrollment token in the default organisation and returns its secret.
func (c *apiClient) enrollToken(ctx context.Context) (string, error) {
	var tok struct{ Token string }
	err := c.call(ctx, http.MethodPost, "/api/v1/orgs/default/enroll-tokens",
		map[string]any{"name": "agentload", "expires_in": "24h"}, http.StatusCreated, &tok)
	if err != nil {
		return "", fmt.Errorf("enrollment token: %w", err)
	}
	return tok.Token, nil
}

// parallel runs fn(i) for i in [0, n) on workers goroutines and returns the first error;
// after an error the remaining items are skipped.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var once sync.Once
	var first error
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
