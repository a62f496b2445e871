package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type listAnswer struct {
	Object string `json:"object"`
	Data   []struct {
		ID        string `json:"id"`
		CreatedAt int64  `json:"created_at"`
	} `json:"data"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
	HasMore bool    `json:"has_more"`
}

func (l listAnswer) ids() []string {
	var out []string
	for _, d := range l.Data {
		out = append(out, d.ID)
	}
	return out
}

func getList(t *testing.T, url string, hdr ...string) listAnswer {
	t.Helper()
	status, _, out := do(t, "GET", url, "", hdr...)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", url, status, out)
	}
	var l listAnswer
	if err := json.Unmarshal([]byte(out), &l); err != nil || l.Object != "list" {
		t.Fatalf("GET %s: not a list: %v %s", url, err, out)
	}
	return l
}

// TestObjectLists: GET files and GET batches merge every member's list on
// every surface, newest first, with limit and after paging; a member that
// fails fails the list rather than hiding its objects.
func TestObjectLists(t *testing.T) {
	a, b := startSeededBatch(t, 1), startSeededBatch(t, 2)
	ts := startServer(t, batchPool(a.URL, b.URL, ""))
	const input = `{"custom_id":"1","method":"POST","url":"/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_tokens":5}}
`
	// The pool picks a member at random for each upload: six or more,
	// until both members hold some (six on one member alone happen one
	// time in 32).
	var files []string
	var onA, onB []string
	for len(files) < 6 || len(onA) == 0 || len(onB) == 0 {
		if len(files) == 40 {
			t.Fatalf("40 uploads did not land on both members: a %v, b %v", onA, onB)
		}
		status, out := uploadBatchFile(t, ts.url+"/openai/v1/files", input)
		if status != 200 {
			t.Fatalf("upload: %d %s", status, out)
		}
		files = append(files, responseID(t, out))
		onA = getList(t, a.URL+"/openai/v1/files", "api-key", "key-a").ids()
		onB = getList(t, b.URL+"/openai/v1/files", "api-key", "key-b").ids()
	}
	if len(onA)+len(onB) != len(files) {
		t.Fatalf("%d uploads, but a holds %v and b %v", len(files), onA, onB)
	}
	want := slices.Sorted(slices.Values(files))

	surfaces := []string{"/openai/v1/files", "/v1/files", "/openai/files?api-version=2025-04-01-preview",
		"/openai/v1/files?purpose=batch"}
	for _, path := range surfaces {
		l := getList(t, ts.url+path)
		if got := slices.Sorted(slices.Values(l.ids())); !slices.Equal(got, want) {
			t.Errorf("%s: ids %v, want %v", path, got, want)
		}
		if l.HasMore || *l.FirstID != l.Data[0].ID || *l.LastID != l.Data[len(l.Data)-1].ID {
			t.Errorf("%s: has_more %v first %v last %v", path, l.HasMore, *l.FirstID, *l.LastID)
		}
		if !slices.IsSortedFunc(l.Data, func(x, y struct {
			ID        string `json:"id"`
			CreatedAt int64  `json:"created_at"`
		}) int {
			return int(y.CreatedAt - x.CreatedAt)
		}) {
			t.Errorf("%s: not newest first", path)
		}
	}
	full := getList(t, ts.url+"/openai/v1/files").ids()

	// Paging: limit and after walk the merged list without gaps or repeats.
	n := len(files)
	for _, tc := range []struct {
		limit string
		pages int
	}{{"1", n}, {"4", (n + 3) / 4}, {strconv.Itoa(n), 1}} {
		var got []string
		after := ""
		for page := 1; ; page++ {
			url := ts.url + "/openai/v1/files?limit=" + tc.limit
			if after != "" {
				url += "&after=" + after
			}
			l := getList(t, url)
			got = append(got, l.ids()...)
			if !l.HasMore {
				if page != tc.pages {
					t.Errorf("limit %s: %d pages, want %d", tc.limit, page, tc.pages)
				}
				break
			}
			if page > n+1 {
				t.Fatalf("limit %s: paging does not end", tc.limit)
			}
			after = *l.LastID
		}
		if !slices.Equal(got, full) {
			t.Errorf("limit %s: paged %v, want %v", tc.limit, got, full)
		}
	}

	for _, tc := range []struct{ path, want string }{
		{"/openai/v1/files?limit=0", `"param":"limit"`},
		{"/openai/v1/batches?limit=101", `"param":"limit"`},
		{"/openai/v1/files?after=file-nope", "File with id 'file-nope' not found."},
	} {
		status, _, out := do(t, "GET", ts.url+tc.path, "")
		if status/100 != 4 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %d %s, want 4xx with %s", tc.path, status, out, tc.want)
		}
	}

	// Batches: one per file, listed through the dated surface.
	var batches []string
	for _, f := range files[:3] {
		status, _, out := do(t, "POST", ts.url+"/openai/v1/batches", `{"input_file_id":"`+f+`","endpoint":"/chat/completions","completion_window":"24h"}`)
		if status != 200 {
			t.Fatalf("batch: %d %s", status, out)
		}
		batches = append(batches, responseID(t, out))
	}
	for _, path := range []string{"/openai/batches?api-version=2025-04-01-preview", "/v1/batches", "/openai/v1/batches?limit=3"} {
		got := slices.Sorted(slices.Values(getList(t, ts.url+path).ids()))
		if !slices.Equal(got, slices.Sorted(slices.Values(batches))) {
			t.Errorf("%s: %v, want %v", path, got, batches)
		}
	}
	if l := getList(t, ts.url+"/openai/v1/batches?limit=2"); len(l.Data) != 2 || !l.HasMore {
		t.Errorf("batches limit 2: %d entries, has_more %v", len(l.Data), l.HasMore)
	}

	// A member down: the list fails, it is not silently partial.
	b.Close()
	status, _, out := do(t, "GET", ts.url+"/openai/v1/files", "")
	if status != 502 || strings.Contains(out, b.URL) {
		t.Errorf("member down: %d %s, want 502 without the member's address", status, out)
	}

	// Every list is logged, naming its operation and the members asked.
	seen := map[string]int{}
	for _, r := range ts.records() {
		if r.Operation == "Files_List" || r.Operation == "Batch_List" {
			seen[r.Operation]++
			if r.Status == 200 && r.Upstream != "a,b" {
				t.Errorf("%s logged upstream %q, want a,b", r.Operation, r.Upstream)
			}
			if r.Status == 502 {
				seen["502"]++
			}
		}
	}
	if seen["Files_List"] == 0 || seen["Batch_List"] == 0 || seen["502"] != 1 {
		t.Errorf("list calls logged: %v", seen)
	}
}

// TestObjectListRBAC: listing needs files/read or batches/read; a caller
// granted it on one deployment lists the members of that deployment only.
func TestObjectListRBAC(t *testing.T) {
	const (
		allKey    = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		scopedKey = "ssssssssssssssssssssssssssssssssssss"
		noneKey   = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	)
	a, b := startSeededBatch(t, 1), startSeededBatch(t, 2)
	ts := startServer(t, fmt.Sprintf(`
upstreams:
  - {name: a, type: azure, endpoint: '%s', api_key: key-a}
  - {name: b, type: azure, endpoint: '%s', api_key: key-b}
deployments:
  - {name: gpt-4o-mini, model: gpt-4o-mini, upstreams: [{upstream: a}]}
  - {name: other, model: gpt-4o-mini, upstreams: [{upstream: b}]}
auth:
  key_rbac: assigned
  keys: [{name: all, key: %s}, {name: scoped, key: %s}, {name: none, key: %s}]
  assignments:
    - {role: Cognitive Services OpenAI Contributor, principal: 'key:all'}
    - {role: Cognitive Services OpenAI User, principal: 'key:scoped', scope: /deployments/gpt-4o-mini}
`, a.URL, b.URL, allKey, scopedKey, noneKey))
	const line = `{"custom_id":"1","method":"POST","url":"/chat/completions","body":{"model":"%s","messages":[{"role":"user","content":"Hi"}]}}
`
	for _, dep := range []string{"gpt-4o-mini", "other"} {
		if status, out := uploadBatchFileAs(t, ts.url+"/openai/v1/files", fmt.Sprintf(line, dep), allKey); status != 200 {
			t.Fatalf("upload for %s: %d %s", dep, status, out)
		}
	}
	tests := []struct {
		name, key string
		status    int
		n         int
	}{
		{"account scope", allKey, 200, 2},
		{"one deployment", scopedKey, 200, 1},
		{"no role", noneKey, 401, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/openai/v1/files", "/openai/batches?api-version=2025-04-01-preview"} {
				status, _, out := do(t, "GET", ts.url+path, "", "api-key", tt.key)
				if status != tt.status {
					t.Fatalf("%s: %d %s", path, status, out)
				}
				var l listAnswer
				_ = json.Unmarshal([]byte(out), &l)
				if strings.Contains(path, "files") && status == 200 && len(l.Data) != tt.n {
					t.Errorf("%s: %d files, want %d", path, len(l.Data), tt.n)
				}
			}
		})
	}
}

// uploadBatchFileAs uploads a batch file with an API key.
func uploadBatchFileAs(t *testing.T, url, content, key string) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("purpose", "batch")
	fw, _ := mw.CreateFormFile("file", "in.jsonl")
	_, _ = fw.Write([]byte(content))
	_ = mw.Close()
	status, _, out := do(t, "POST", url, body.String(), "Content-Type", mw.FormDataContentType(), "api-key", key)
	return status, out
}
