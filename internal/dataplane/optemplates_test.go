package dataplane

import (
	"testing"

	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/rbac"
)

// TestOpTemplates: the table gives what rbac.OperationTemplate builds, for
// every operation on both surfaces and for one the table does not hold.
func TestOpTemplates(t *testing.T) {
	ops := append(openai.Operations(), openai.Operation{Name: "unknown", Method: "PUT", Suffix: "x/y"})
	tmpls := newOpTemplates()
	for _, op := range ops {
		for _, v1 := range []bool{false, true} {
			if got, want := tmpls.of(op, v1), rbac.OperationTemplate(op, v1); got != want {
				t.Errorf("%s, v1 %v: %q, want %q", op.Name, v1, got, want)
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { tmpls.of(ops[0], false) }); n != 0 {
		t.Errorf("%v allocations per template of the table, want 0", n)
	}
}
