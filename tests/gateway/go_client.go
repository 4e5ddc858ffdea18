// go_client: a Go program (net/http, Go's own TLS: nothing to hook) that
// makes one chat completion and one streamed Anthropic message through
// the base URLs `tokentap run --gateway` sets, and prints the bodies.
package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
)

func post(url, body string) {
	req, _ := http.NewRequest("POST", url, bytes.NewBufferString(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("authorization", "Bearer sk-go")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_client:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %d\n", resp.StatusCode, len(b))
	if resp.StatusCode != 200 {
		os.Exit(1)
	}
}

func main() {
	post(os.Getenv("OPENAI_BASE_URL")+"/chat/completions",
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi from go"}]}`)
	post(os.Getenv("ANTHROPIC_BASE_URL")+"/v1/messages",
		`{"model":"claude-sonnet-4-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
}
