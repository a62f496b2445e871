package openai

import "testing"

// TestEnvelopes pins Azure's error bodies byte for byte, as captured in the
// wire reference (§2). The lengths are those of the captures' Content-Length
// where the reference gives one.
func TestEnvelopes(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
		len  int
	}{
		{"invalid key 401 (§2.1)", FrontDoorErrorCompact("401", MsgInvalidKey),
			`{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}`, 224},
		{"firewall 403 (§2.6)", FrontDoorError("403", MsgFirewallDenied),
			`{"error":{"code":"403","message": "Access denied due to Virtual Network/Firewall rules."}}`, 90},
		{"public access disabled 403 (§2.6)", FrontDoorError("403", MsgPublicDisabled),
			`{"error":{"code":"403","message": "Public access is disabled. Please configure private endpoint."}}`, 0},
		{"local auth disabled 403 (§2.5)", FrontDoorError("AuthenticationTypeDisabled", MsgLocalAuthDisabled),
			`{"error":{"code":"AuthenticationTypeDisabled","message": "Key based authentication is disabled for this resource."}}`, 0},
		{"resource not found 404 (§2.7)", FrontDoorError("404", MsgResourceNotFound),
			`{"error":{"code":"404","message": "Resource not found"}}`, 0},
		{"deployment not found 404 (§2.8)", FrontDoorErrorCompact("DeploymentNotFound", MsgDeploymentNotFound),
			`{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}`, 0},
		{"permission denied 401 (§2.4)", FrontDoorErrorCompact("PermissionDenied", PermissionDeniedMessage("00000000-0000-0000-0000-000000000000",
			"Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action", "POST", "/openai/deployments/{deployment-id}/chat/completions")),
			"{\"error\":{\"code\":\"PermissionDenied\",\"message\":\"The principal `00000000-0000-0000-0000-000000000000` lacks the required data action `Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action` to perform `POST /openai/deployments/{deployment-id}/chat/completions` operation.\"}}", 0},
		{"v1 dated api-version 400 (§2.7)", FrontDoorErrorCompact("BadRequest", MsgAPIVersionNotSupp),
			`{"error":{"code":"BadRequest","message":"API version not supported"}}`, 0},
		{"token 401 (§2.3)", StatusError(401, MsgTokenInvalid),
			`{"statusCode": 401, "message": "Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."}`, 0},
		{"token rate 429 (§2.9)", FrontDoorError("429", RateLimitMessage("ChatCompletions_Create", "2024-10-21", "token", 6)),
			`{"error":{"code":"429","message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."}}`, 0},
		{"model error keeps > unescaped", ModelError("max_tokens must be >= 1", "invalid_request_error", "max_tokens", ""),
			`{"error":{"message":"max_tokens must be >= 1","type":"invalid_request_error","param":"max_tokens","code":null}}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Fatalf("got  %s\nwant %s", tt.got, tt.want)
			}
			if tt.len != 0 && len(tt.got) != tt.len {
				t.Fatalf("%d bytes, the capture's Content-Length is %d", len(tt.got), tt.len)
			}
		})
	}
}
