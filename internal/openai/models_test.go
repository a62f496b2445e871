package openai

import "testing"

func TestKindOfModel(t *testing.T) {
	tests := []struct {
		model string
		want  ModelKind
	}{
		{"gpt-4o-mini", ModelChat},
		{"gpt-4o-2024-08-06", ModelChat},
		{"o3-mini", ModelChat},
		{"gpt-4.1", ModelChat},
		{"my-custom-model", ModelChat},
		{"text-embedding-3-small", ModelEmbeddings},
		{"text-embedding-ada-002", ModelEmbeddings},
		{"dall-e-3", ModelImages},
		{"gpt-image-1", ModelImages},
		{"whisper", ModelTranscription},
		{"gpt-4o-transcribe", ModelTranscription},
		{"gpt-4o-mini-transcribe", ModelTranscription},
		{"tts-1", ModelSpeech},
		{"tts-1-hd", ModelSpeech},
		{"gpt-4o-mini-tts", ModelSpeech},
		{"gpt-35-turbo-instruct", ModelCompletions},
		{"davinci-002", ModelCompletions},
		{"babbage-002", ModelCompletions},
	}
	for _, tt := range tests {
		if got := KindOfModel(tt.model); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.model, got, tt.want)
		}
	}
	if c := CapabilitiesOf("dall-e-3"); c.ChatCompletion || c.Completion || c.Embeddings || !c.Inference {
		t.Errorf("dall-e-3: %+v", c)
	}
}
