package simulator

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"image/png"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"
)

func mediaServer(t *testing.T) *Server {
	t.Helper()
	opts := testOptions(newClock())
	opts.Deployments = append(opts.Deployments,
		Deployment{Name: "dall-e-3", Model: "dall-e-3", Kind: KindImages},
		Deployment{Name: "whisper", Model: "whisper", Kind: KindTranscription},
		Deployment{Name: "tts", Model: "tts-1", Kind: KindSpeech})
	return newServer(t, opts)
}

func TestImages(t *testing.T) {
	s := mediaServer(t)
	path := "/openai/deployments/dall-e-3/images/generations?api-version=2024-10-21"
	rec := call(s, "POST", path, `{"prompt":"a gateway in a closed network","size":"1792x1024","response_format":"b64_json"}`)
	var out struct {
		Data []struct {
			B64JSON       string `json:"b64_json"`
			URL           string `json:"url"`
			RevisedPrompt string `json:"revised_prompt"`
		} `json:"data"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil || len(out.Data) != 1 {
		t.Fatalf("%d %.300s", rec.Code, rec.Body)
	}
	raw, err := base64.StdEncoding.DecodeString(out.Data[0].B64JSON)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil || img.Bounds().Dx() != 1792 || img.Bounds().Dy() != 1024 {
		t.Fatalf("png: %v %v", err, img.Bounds())
	}
	rec = call(s, "POST", path, `{"prompt":"x"}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"url":"data:image/png;base64,`) {
		t.Fatalf("url format: %d %.200s", rec.Code, rec.Body)
	}
	for _, tt := range []struct{ body, want string }{
		{`{"prompt":"x","n":2}`, `"param":"n"`},
		{`{"prompt":"x","size":"640x480"}`, `"param":"size"`},
		{`{"n":1}`, `"param":"prompt"`},
		{`{"prompt":"moat:filter:prompt:violence"}`, `"code":"contentFilter"`},
	} {
		if rec := call(s, "POST", path, tt.body); rec.Code != 400 || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("%s: %d %s", tt.body, rec.Code, rec.Body)
		}
	}
	if rec := call(s, "POST", "/openai/deployments/gpt-4o-mini/images/generations?api-version=2024-10-21", `{"prompt":"x"}`); rec.Code != 400 ||
		!strings.Contains(rec.Body.String(), "OperationNotSupported") {
		t.Fatalf("images on a chat deployment: %d %s", rec.Code, rec.Body)
	}
}

// multipartAudio builds a transcription request with a one-second WAV.
func multipartAudio(t *testing.T, fields map[string]string) (string, *bytes.Buffer) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "hello.wav")
	fw.Write(wav(tone(1, 220)))
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	mw.Close()
	return mw.FormDataContentType(), &b
}

func TestTranscription(t *testing.T) {
	s := mediaServer(t)
	for _, tt := range []struct {
		op, format, ct, want string
	}{
		{"transcriptions", "", "application/json", `{"text":"`},
		{"transcriptions", "text", "text/plain", "."},
		{"transcriptions", "srt", "text/plain", "1\n00:00:00,000 --> 00:00:01,000\n"},
		{"transcriptions", "vtt", "text/vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n"},
		{"transcriptions", "verbose_json", "application/json", `"task":"transcribe","language":"english","duration":1,`},
		{"translations", "verbose_json", "application/json", `"task":"translate"`},
	} {
		fields := map[string]string{"model": "whisper"}
		if tt.format != "" {
			fields["response_format"] = tt.format
		}
		ct, body := multipartAudio(t, fields)
		req := httptest.NewRequest("POST", "/openai/deployments/whisper/audio/"+tt.op+"?api-version=2024-10-21", body)
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.ct) || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("%s %s: %d %s %q", tt.op, tt.format, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
	// The v1 surface takes the deployment from the form's model field.
	ct, body := multipartAudio(t, map[string]string{"model": "whisper"})
	req := httptest.NewRequest("POST", "/openai/v1/audio/transcriptions", body)
	req.Header.Set("Content-Type", ct)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("v1: %d %s", rec.Code, rec.Body)
	}
}

func TestSpeech(t *testing.T) {
	s := mediaServer(t)
	path := "/openai/deployments/tts/audio/speech?api-version=2025-03-01-preview"
	rec := call(s, "POST", path, `{"input":"one two three four five","voice":"alloy","response_format":"wav"}`)
	b := rec.Body.Bytes()
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "audio/wav" || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("wav: %d %v", rec.Code, rec.Header())
	}
	// Five words at 2.5 words a second: two seconds of 16-bit mono at 24 kHz.
	if n := binary.LittleEndian.Uint32(b[40:44]); n != 2*2*speechRate || int(n) != len(b)-44 {
		t.Fatalf("wav data %d bytes, body %d", n, len(b))
	}
	rec = call(s, "POST", path, `{"input":"hello there","voice":"nova"}`)
	b = rec.Body.Bytes()
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "audio/mpeg" || len(b)%417 != 0 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		t.Fatalf("mp3: %d %v %d bytes", rec.Code, rec.Header(), len(b))
	}
	for _, tt := range []struct{ body, param string }{
		{`{"voice":"alloy"}`, "input"},
		{`{"input":"x","voice":"robot"}`, "voice"},
		{`{"input":"x","voice":"alloy","response_format":"opus"}`, "response_format"},
		{`{"input":"x","voice":"alloy","speed":9}`, "speed"},
	} {
		if rec := call(s, "POST", path, tt.body); rec.Code != 400 || !strings.Contains(rec.Body.String(), `"param":"`+tt.param+`"`) {
			t.Errorf("%s: %d %s", tt.body, rec.Code, rec.Body)
		}
	}
}
