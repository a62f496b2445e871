package openai

import "strings"

// ModelKind is what a model family serves, for the capabilities a model
// listing reports and for which operations a deployment of it answers.
type ModelKind int

// Model kinds.
const (
	ModelChat ModelKind = iota
	ModelCompletions
	ModelEmbeddings
	ModelImages
	ModelTranscription // speech to text: transcriptions and translations
	ModelSpeech        // text to speech
)

// KindOfModel names the kind of a model by its family, as Azure and OpenAI
// name them (gpt-4o-2024-08-06 is chat, text-embedding-3-small embeddings,
// dall-e-3 images, whisper transcription, tts-1 speech). Unknown names are
// chat, the kind of every current text model.
func KindOfModel(model string) ModelKind {
	m := strings.ToLower(strings.TrimSpace(model))
	has := func(prefixes ...string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(m, p) {
				return true
			}
		}
		return false
	}
	switch {
	case strings.Contains(m, "embedding"):
		return ModelEmbeddings
	case has("dall-e", "gpt-image"):
		return ModelImages
	case has("whisper") || strings.Contains(m, "transcribe"):
		return ModelTranscription
	case has("tts") || strings.HasSuffix(m, "-tts") || strings.Contains(m, "-tts-"):
		return ModelSpeech
	case has("davinci", "babbage", "gpt-35-turbo-instruct", "gpt-3.5-turbo-instruct"):
		return ModelCompletions
	}
	return ModelChat
}

// Capabilities are Azure's model capability flags (§1.6).
type Capabilities struct {
	FineTune       bool `json:"fine_tune"`
	Inference      bool `json:"inference"`
	Completion     bool `json:"completion"`
	ChatCompletion bool `json:"chat_completion"`
	Embeddings     bool `json:"embeddings"`
}

// CapabilitiesOf reports a model's capabilities from its kind. Images and
// audio models infer but have none of the text capabilities, as Azure
// lists them.
func CapabilitiesOf(model string) Capabilities {
	k := KindOfModel(model)
	return Capabilities{
		Inference:      true,
		Completion:     k == ModelCompletions,
		ChatCompletion: k == ModelChat,
		Embeddings:     k == ModelEmbeddings,
	}
}
