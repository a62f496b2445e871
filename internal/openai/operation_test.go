package openai

import (
	"strings"
	"testing"
)

// TestOperationTable keeps the table's behaviour fields consistent with
// what Azure's data actions already say: read actions are GETs, the rest
// POSTs, and every operation has a method.
func TestOperationTable(t *testing.T) {
	for _, op := range Operations() {
		t.Run(op.Name, func(t *testing.T) {
			want := "POST"
			if strings.HasSuffix(op.DataAction, "/read") {
				want = "GET"
			}
			if op.Method != want {
				t.Errorf("Method = %q, want %q for data action %s", op.Method, want, op.DataAction)
			}
			if op.StreamEndsWithUsage && !op.ReservesOutput {
				t.Error("a stream that ends with usage generates output, so it reserves output")
			}
		})
	}
}
