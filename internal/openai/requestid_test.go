package openai

import (
	"regexp"
	"testing"
)

func TestFormatRequestID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, b := range [][16]byte{{}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}} {
		if id := FormatRequestID(b); !re.MatchString(id) {
			t.Errorf("%x -> %s", b, id)
		}
	}
	if got := FormatRequestID([16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}); got != "01020304-0506-4708-890a-0b0c0d0e0f10" {
		t.Errorf("got %s", got)
	}
}
