package simulator

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestFileListPaging: the files list is newest first and honours purpose,
// limit and after as OpenAI's does.
func TestFileListPaging(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	var ids []string
	for range 3 {
		_, body := upload(s, "/openai/v1/files", "batch", batchInput)
		var f struct{ ID string }
		_ = json.Unmarshal([]byte(body), &f)
		ids = append(ids, f.ID)
	}
	slices.Reverse(ids) // newest first
	tests := []struct {
		query  string
		status int
		want   []string
		more   bool
	}{
		{"", 200, ids, false},
		{"?purpose=batch", 200, ids, false},
		{"?purpose=fine-tune", 200, nil, false},
		{"?limit=2", 200, ids[:2], true},
		{"?limit=2&after=" + ids[1], 200, ids[2:], false},
		{"?after=" + ids[0], 200, ids[1:], false},
		{"?after=file-unknown", 200, nil, false},
		{"?limit=0", 400, nil, false},
		{"?limit=x", 400, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := call(s, "GET", "/openai/v1/files"+tt.query, "")
			if rec.Code != tt.status {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if tt.status != 200 {
				if !strings.Contains(rec.Body.String(), `"param":"limit"`) {
					t.Errorf("error without param: %s", rec.Body)
				}
				return
			}
			var l struct {
				Data []struct {
					ID string `json:"id"`
				} `json:"data"`
				HasMore bool `json:"has_more"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range l.Data {
				got = append(got, d.ID)
			}
			if !slices.Equal(got, tt.want) || l.HasMore != tt.more {
				t.Errorf("got %v more=%v, want %v more=%v", got, l.HasMore, tt.want, tt.more)
			}
		})
	}
	if rec := call(s, "GET", "/openai/v1/batches?limit=101", ""); rec.Code != 400 {
		t.Errorf("batches limit 101: %d", rec.Code)
	}
}
