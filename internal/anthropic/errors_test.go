package anthropic

import "testing"

func TestErrorBody(t *testing.T) {
	tests := []struct {
		status int
		msg    string
		want   string
	}{
		{400, "max_tokens: Field required", `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`},
		{401, "invalid x-api-key", `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`},
		{403, "no <access>", `{"type":"error","error":{"type":"permission_error","message":"no <access>"}}`},
		{404, "x", `{"type":"error","error":{"type":"not_found_error","message":"x"}}`},
		{413, "x", `{"type":"error","error":{"type":"request_too_large","message":"x"}}`},
		{429, "x", `{"type":"error","error":{"type":"rate_limit_error","message":"x"}}`},
		{500, "x", `{"type":"error","error":{"type":"api_error","message":"x"}}`},
		{502, "x", `{"type":"error","error":{"type":"api_error","message":"x"}}`},
		{503, "x", `{"type":"error","error":{"type":"overloaded_error","message":"x"}}`},
		{529, "x", `{"type":"error","error":{"type":"overloaded_error","message":"x"}}`},
	}
	for _, tt := range tests {
		if got := string(ErrorBody(ErrorType(tt.status), tt.msg)); got != tt.want {
			t.Errorf("%d: %s\nwant %s", tt.status, got, tt.want)
		}
	}
}
