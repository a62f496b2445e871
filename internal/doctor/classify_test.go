package doctor

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"model refuses the empty probe", 400, bodyEmptyMessages, "reached"},
		{"public access disabled", 403, bodyPublicDisabled, "public_access_disabled"},
		{"public access disabled, AccessDenied variant", 403, `{"error":{"code":"AccessDenied","message": "Public access is disabled. Please configure private endpoint."}}`, "public_access_disabled"},
		{"firewall", 403, bodyFirewall, "firewall"},
		{"regional endpoint, bare envelope", 403, `{"code":"403","message":"A Virtual Network is configured for this resource. Please use the correct endpoint for making requests. Check https://aka.ms/cogsvc-vnet for more details."}`, "regional_endpoint"},
		{"key auth disabled", 403, `{"error":{"code":"AuthenticationTypeDisabled","message": "Key based authentication is disabled for this resource."}}`, "key_auth_disabled"},
		{"missing role, Azure's 401", 401, bodyNoRole, "missing_role"},
		{"missing role, older message", 401, `{"error":{"code":"PermissionDenied","message":"Principal does not have access to API/Operation."}}`, "missing_role"},
		{"missing role as 403", 403, bodyNoRole, "missing_role"},
		{"bad key", 401, bodyInvalidKey, "bad_api_key"},
		{"bad token", 401, bodyTokenInvalid, "bad_token"},
		{"deployment not found", 404, bodyNoDeployment, "deployment_not_found"},
		{"wrong path", 404, `{"error":{"code":"404","message": "Resource not found"}}`, "not_found"},
		{"v1 with a dated version", 400, `{"error":{"code":"BadRequest","message":"API version not supported"}}`, "upstream_error"},
		{"rate limited", 429, `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded call rate limit."}}`, "rate_limited"},
		{"not JSON", 502, "<html>Bad Gateway</html>", "upstream_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := Classify(tt.status, []byte(tt.body), "gpt"); d.Code != tt.want {
				t.Fatalf("Classify = %s (%s), want %s", d.Code, d.Cause, tt.want)
			}
		})
	}
}

// FuzzClassify: an upstream's body is untrusted input; any bytes get a
// diagnosis with a status and a code, never a panic.
func FuzzClassify(f *testing.F) {
	for _, b := range []string{bodyPublicDisabled, bodyFirewall, bodyNoRole, bodyInvalidKey, bodyTokenInvalid, bodyNoDeployment,
		`{"error":null}`, `{"code":{"x":1},"message":7}`, `[]`, ``} {
		f.Add(403, []byte(b))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		d := Classify(status, body, "gpt")
		if d.Status == "" || d.Code == "" {
			t.Fatalf("Classify(%d, %q) = %+v", status, body, d)
		}
	})
}
