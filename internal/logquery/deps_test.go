package logquery

import (
	"testing"

	"github.com/moat-gw/moat/internal/rbac"
)

// TestDataAction keeps DataAction in step with the role definitions.
func TestDataAction(t *testing.T) {
	if DataAction != rbac.DataActionLogsRead {
		t.Errorf("DataAction = %q, rbac says %q", DataAction, rbac.DataActionLogsRead)
	}
}
