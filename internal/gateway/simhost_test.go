package gateway

import (
	"bytes"
	"io"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestSimulatorKinds: a deployment of an instruct model on the built-in
// simulator answers legacy completions, and a chat call on it is Azure's
// OperationNotSupported, as each model family is served on Azure.
func TestSimulatorKinds(t *testing.T) {
	ts := startServer(t, `
upstreams: [{name: sim, type: simulator}]
deployments:
  - {name: instruct, model: gpt-35-turbo-instruct, upstreams: [{upstream: sim}]}
  - {name: embed, model: text-embedding-3-small, upstreams: [{upstream: sim}]}
  - {name: chat, model: gpt-4o-mini, upstreams: [{upstream: sim}]}
`)
	base := ts.url + "/openai/deployments/"
	const q = "?api-version=2024-10-21"
	tests := []struct {
		path, body string
		status     int
		want       string
	}{
		{"instruct/completions", `{"prompt":"Say hi","max_tokens":5}`, 200, `"object":"text_completion"`},
		{"instruct/chat/completions", chatBody, 400, "OperationNotSupported"},
		{"embed/embeddings", `{"input":"hi"}`, 200, `"object":"embedding"`},
		{"chat/chat/completions", chatBody, 200, `"object":"chat.completion"`},
		{"chat/completions", `{"prompt":"hi"}`, 400, "OperationNotSupported"},
	}
	for _, tt := range tests {
		status, _, body := do(t, "POST", base+tt.path+q, tt.body, "api-key", "k")
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s", tt.path, status, body)
		}
	}
}

// TestSimulatorMedia: images, transcription and speech deployments on the
// built-in simulator answer the official Go SDK through moat, multipart
// uploads included.
func TestSimulatorMedia(t *testing.T) {
	ts := startServer(t, `
upstreams: [{name: sim, type: simulator}]
deployments:
  - {name: dall-e-3, model: dall-e-3, upstreams: [{upstream: sim}]}
  - {name: whisper, model: whisper, upstreams: [{upstream: sim}]}
  - {name: tts, model: tts-1, upstreams: [{upstream: sim}]}
`)
	client := oai.NewClient(option.WithBaseURL(ts.url+"/openai/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	ctx := t.Context()
	img, err := client.Images.Generate(ctx, oai.ImageGenerateParams{Model: "dall-e-3", Prompt: "a moat",
		ResponseFormat: oai.ImageGenerateParamsResponseFormatB64JSON})
	if err != nil || len(img.Data) != 1 || img.Data[0].B64JSON == "" {
		t.Fatalf("image: %v %+v", err, img)
	}
	speech, err := client.Audio.Speech.New(ctx, oai.AudioSpeechNewParams{Model: "tts", Input: "hello from the gateway",
		Voice: oai.AudioSpeechNewParamsVoiceUnion{OfString: oai.String("alloy")}, ResponseFormat: oai.AudioSpeechNewParamsResponseFormatWAV})
	if err != nil {
		t.Fatal(err)
	}
	audio, _ := io.ReadAll(speech.Body)
	speech.Body.Close()
	if len(audio) < 44 || string(audio[:4]) != "RIFF" {
		t.Fatalf("speech: %d bytes", len(audio))
	}
	tr, err := client.Audio.Transcriptions.New(ctx, oai.AudioTranscriptionNewParams{Model: "whisper",
		File: oai.File(bytes.NewReader(audio), "hello.wav", "audio/wav")})
	if err != nil || tr.Text == "" {
		t.Fatalf("transcription: %v %+v", err, tr)
	}
}
