package netns_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// agent is a helper process in one client namespace that makes the calls
// the test sends it, so no call pays for a process start.
type agent struct {
	ns    string
	stdin io.WriteCloser

	mu      sync.Mutex
	next    int
	pending map[int]*stream
	err     error // set when the agent died; fails every later call
}

// stream is one call in flight: its body lines as they arrive (streams
// only) and its response once done.
type stream struct {
	lines *lineLog
	resp  chan response
}

// startAgents runs one agent in each client namespace, keyed by namespace.
func startAgents(t *testing.T, nss ...string) map[string]*agent {
	t.Helper()
	agents := map[string]*agent{}
	for _, ns := range nss {
		agents[ns] = startAgent(t, ns)
	}
	return agents
}

func startAgent(t *testing.T, ns string) *agent {
	t.Helper()
	cmd := helperCmd(t, ns, "agent", nil)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start agent in %s: %v", ns, err)
	}
	a := &agent{ns: ns, stdin: stdin, pending: map[int]*stream{}}
	done := make(chan struct{})
	go func() {
		a.read(stdout)
		err := cmd.Wait()
		a.fail(fmt.Errorf("agent in %s exited: %v: %s", ns, err, stderr.String()))
		close(done)
	}()
	t.Cleanup(func() {
		stdin.Close() // the agent finishes its calls and exits
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return a
}

func (a *agent) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var m agentMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			a.fail(fmt.Errorf("agent in %s: unreadable output %q: %v", a.ns, sc.Text(), err))
			return
		}
		a.mu.Lock()
		s := a.pending[m.ID]
		if m.Response != nil {
			delete(a.pending, m.ID)
		}
		a.mu.Unlock()
		switch {
		case s == nil:
		case m.Line != nil:
			s.lines.add(*m.Line)
		case m.Response != nil:
			s.lines.close()
			s.resp <- *m.Response
		}
	}
}

// fail ends every call in flight with err.
func (a *agent) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = err
	}
	for id, s := range a.pending {
		s.lines.close()
		s.resp <- response{Err: "harness: " + a.err.Error()}
		delete(a.pending, id)
	}
}

// start sends r to the agent and returns the call in flight.
func (a *agent) start(r request) *stream {
	s := &stream{lines: newLineLog(), resp: make(chan response, 1)}
	a.mu.Lock()
	if a.err != nil {
		a.mu.Unlock()
		s.resp <- response{Err: "harness: " + a.err.Error()}
		return s
	}
	a.next++
	id := a.next
	a.pending[id] = s
	a.mu.Unlock()
	b, err := json.Marshal(agentMsg{ID: id, Request: &r})
	if err == nil {
		_, err = a.stdin.Write(append(b, '\n'))
	}
	if err != nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.pending[id] == s {
			delete(a.pending, id)
			s.resp <- response{Err: "harness: send to agent: " + err.Error()}
		}
	}
	return s
}

// call makes one call from inside the agent's namespace. A failure of the
// harness itself comes back as an error, never as a response.
func (a *agent) call(r request) (response, error) {
	got := <-a.start(r).resp
	if strings.HasPrefix(got.Err, "harness: ") {
		return response{}, fmt.Errorf("%s", got.Err)
	}
	return got, nil
}
