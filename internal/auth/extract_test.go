package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

const (
	testJWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	testKey = "moat_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)

func TestExtract(t *testing.T) {
	keyBody := string(openai.FrontDoorErrorCompact("401", openai.MsgInvalidKey))
	tokenBody := string(openai.StatusError(401, openai.MsgTokenInvalid))
	tests := []struct {
		name       string
		h          http.Header
		v1         bool
		want       Credential
		wantBody   string // set when an error is expected
		wantReason error
	}{
		{name: "api-key", h: http.Header{"Api-Key": {key1}}, want: Credential{CredentialKey, key1, "api-key"}},
		{name: "api-key lower-case header", h: hdr("api-key", key1), want: Credential{CredentialKey, key1, "api-key"}},
		{name: "api-key upper-case header", h: hdr("API-KEY", key1), want: Credential{CredentialKey, key1, "api-key"}},
		{name: "api-key surrounding spaces", h: http.Header{"Api-Key": {" " + key1 + " "}}, want: Credential{CredentialKey, key1, "api-key"}},
		{name: "bearer JWT legacy", h: hdr("Authorization", "Bearer "+testJWT), want: Credential{CredentialToken, testJWT, "authorization"}},
		{name: "bearer JWT v1", h: hdr("Authorization", "Bearer "+testJWT), v1: true, want: Credential{CredentialToken, testJWT, "authorization"}},
		{name: "scheme case-insensitive", h: hdr("Authorization", "bearer   "+testJWT), want: Credential{CredentialToken, testJWT, "authorization"}},
		{name: "bearer key on v1 is a key", h: hdr("Authorization", "Bearer "+testKey), v1: true, want: Credential{CredentialKey, testKey, "authorization"}},
		{name: "bearer azure key on v1 is a key", h: hdr("Authorization", "Bearer "+key1), v1: true, want: Credential{CredentialKey, key1, "authorization"}},
		{name: "bearer key on legacy is a token (fails as Azure would)", h: hdr("Authorization", "Bearer "+testKey), want: Credential{CredentialToken, testKey, "authorization"}},
		{name: "both: JWT wins over api-key", h: http.Header{"Api-Key": {key1}, "Authorization": {"Bearer " + testJWT}}, want: Credential{CredentialToken, testJWT, "authorization"}},
		{name: "both: api-key wins over bearer key (v1)", h: http.Header{"Api-Key": {key1}, "Authorization": {"Bearer " + testKey}}, v1: true, want: Credential{CredentialKey, key1, "api-key"}},
		{name: "both: api-key wins over bearer non-JWT (legacy)", h: http.Header{"Api-Key": {key1}, "Authorization": {"Bearer " + testKey}}, want: Credential{CredentialKey, key1, "api-key"}},
		{name: "basic auth ignored", h: http.Header{"Api-Key": {key1}, "Authorization": {"Basic dXNlcjpwYXNz"}}, want: Credential{CredentialKey, key1, "api-key"}},
		{name: "basic auth alone is no credential", h: hdr("Authorization", "Basic dXNlcjpwYXNz"), wantBody: keyBody, wantReason: ErrNoCredential},
		{name: "nothing", h: http.Header{}, wantBody: keyBody, wantReason: ErrNoCredential},
		{name: "empty api-key", h: http.Header{"Api-Key": {""}}, wantBody: keyBody, wantReason: ErrMalformedCredential},
		{name: "two api-keys", h: http.Header{"Api-Key": {key1, key1}}, wantBody: keyBody, wantReason: ErrMalformedCredential},
		{name: "api-key with control char", h: http.Header{"Api-Key": {"ab\x01cd"}}, wantBody: keyBody, wantReason: ErrMalformedCredential},
		{name: "api-key too long", h: http.Header{"Api-Key": {strings.Repeat("a", 513)}}, wantBody: keyBody, wantReason: ErrMalformedCredential},
		{name: "bearer empty", h: hdr("Authorization", "Bearer "), wantBody: tokenBody, wantReason: ErrMalformedCredential},
		{name: "bearer with space inside", h: hdr("Authorization", "Bearer a b"), wantBody: tokenBody, wantReason: ErrMalformedCredential},
		{name: "two authorization headers", h: http.Header{"Authorization": {"Bearer " + testJWT, "Bearer " + testJWT}}, wantBody: tokenBody, wantReason: ErrMalformedCredential},
		{name: "token too long", h: hdr("Authorization", "Bearer eyJ"+strings.Repeat("a", 17000)), wantBody: tokenBody, wantReason: ErrMalformedCredential},
		{name: "bearer key too long on v1", h: hdr("Authorization", "Bearer "+strings.Repeat("a", 600)), v1: true, wantBody: keyBody, wantReason: ErrMalformedCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Extract(tt.h, tt.v1)
			if tt.wantBody == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("Extract = %v %q, want %v %q", got, got.Secret, tt.want, tt.want.Secret)
				}
				return
			}
			var he *httpx.Error
			if !errors.As(err, &he) || he.Status != 401 || string(httpx.Render(openai.Errors{}, he)) != tt.wantBody {
				t.Fatalf("Extract error = %v, want 401 with %s", err, tt.wantBody)
			}
			if !errors.Is(err, tt.wantReason) {
				t.Errorf("cause = %v, want %v", err, tt.wantReason)
			}
		})
	}
}

// hdr sets a header by its raw (non-canonical) name, as a server may receive it.
func hdr(name, value string) http.Header {
	h := http.Header{}
	h.Set(name, value)
	return h
}

func TestCredentialNeverPrintsSecret(t *testing.T) {
	c := Credential{Kind: CredentialKey, Secret: key1, Header: "api-key"}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "cred", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), logged.String()} {
		if strings.Contains(s, key1) {
			t.Errorf("%q contains the secret", s)
		}
	}
}

func TestLooksLikeJWT(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{testJWT, true}, {"eyJ.a.b", true}, {"eyJa.b", false}, {"eyJ.a.b.c", false}, {"eyJ..b", false},
		{"eyJ.a.", false}, {"abc.a.b", false}, {"eyJ.a+b.c", false}, {testKey, false}, {key1, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := LooksLikeJWT(tt.in); got != tt.want {
				t.Errorf("LooksLikeJWT(%q) = %v", tt.in, got)
			}
		})
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(key1, "Bearer "+testJWT, true)
	f.Add("", "Bearer "+testKey, false)
	f.Add("", "bearer eyJ.a.b", true)
	f.Add("x", "Basic abc", false)
	f.Add("\x00", "Bearer \xff", true)
	f.Fuzz(func(t *testing.T, apiKey, authz string, v1 bool) {
		h := http.Header{}
		if apiKey != "" {
			h.Set("Api-Key", apiKey)
		}
		if authz != "" {
			h.Set("Authorization", authz)
		}
		c, err := Extract(h, v1)
		if err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) || he.Status != 401 {
				t.Fatalf("error %v is not a 401 *httpx.Error", err)
			}
			if c != (Credential{}) {
				t.Fatal("credential returned with an error")
			}
			if apiKey != "" && len(apiKey) > 3 && strings.Contains(string(httpx.Render(openai.Errors{}, he)), apiKey) {
				t.Fatal("error body echoes the key")
			}
			return
		}
		if c.Kind == CredentialNone || c.Secret == "" || !printable(c.Secret) {
			t.Fatalf("Extract = %v with secret %q", c, c.Secret)
		}
		if LooksLikeJWT(c.Secret) && c.Header == "authorization" && c.Kind != CredentialToken {
			t.Fatal("a JWT in Authorization was not taken as a token")
		}
		if c.Kind == CredentialKey && len(c.Secret) > maxKeyLen {
			t.Fatal("over-long key accepted")
		}
	})
}

func BenchmarkExtract(b *testing.B) {
	h := http.Header{"Authorization": {"Bearer " + testJWT}, "Api-Key": {key1}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Extract(h, true); err != nil {
			b.Fatal(err)
		}
	}
}
