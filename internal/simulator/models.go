package simulator

import (
	"encoding/json"
	"net/http"
)

// modelCreated is the created_at the listings report for every model
// (2024-07-18), a fixed value so listings are reproducible.
const modelCreated = 1721260800

// azureModel is an entry of GET /openai/models (authoring shape, §1.6).
type azureModel struct {
	Capabilities    modelCapabilities `json:"capabilities"`
	LifecycleStatus string            `json:"lifecycle_status"`
	Deprecation     modelDeprecation  `json:"deprecation"`
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	CreatedAt       int64             `json:"created_at"`
	Object          string            `json:"object"`
}

type modelCapabilities struct {
	FineTune       bool `json:"fine_tune"`
	Inference      bool `json:"inference"`
	Completion     bool `json:"completion"`
	ChatCompletion bool `json:"chat_completion"`
	Embeddings     bool `json:"embeddings"`
}

type modelDeprecation struct {
	Inference int64 `json:"inference"`
}

// openaiModel is an entry of the OpenAI-shaped listings; the Azure v1
// listing adds the Azure fields.
type openaiModel struct {
	ID              string             `json:"id"`
	Object          string             `json:"object"`
	Created         int64              `json:"created"`
	OwnedBy         string             `json:"owned_by"`
	Capabilities    *modelCapabilities `json:"capabilities,omitempty"`
	LifecycleStatus string             `json:"lifecycle_status,omitempty"`
	Status          string             `json:"status,omitempty"`
}

type modelList[T any] struct {
	Data   []T    `json:"data"`
	Object string `json:"object"`
}

// serveModels lists what the resource offers. Azure's listings name models,
// not deployments, so /openai/models and /openai/v1/models list each
// deployed model once. Plain OpenAI clients send the listed id back as
// "model", which on this surface routes by deployment name, so /v1/models
// lists deployment names.
func (s *Server) serveModels(w http.ResponseWriter, rt route) {
	var body []byte
	switch rt.surface {
	case surfaceLegacy:
		list := modelList[azureModel]{Data: []azureModel{}, Object: "list"}
		for _, d := range s.uniqueModels() {
			list.Data = append(list.Data, azureModel{
				Capabilities:    capabilities(d.Kind),
				LifecycleStatus: "generally-available",
				Deprecation:     modelDeprecation{Inference: modelCreated + 2*365*86400},
				ID:              d.reported,
				Status:          "succeeded",
				CreatedAt:       modelCreated,
				Object:          "model",
			})
		}
		body, _ = json.Marshal(list)
	case surfaceV1:
		list := modelList[openaiModel]{Data: []openaiModel{}, Object: "list"}
		for _, d := range s.uniqueModels() {
			c := capabilities(d.Kind)
			list.Data = append(list.Data, openaiModel{
				ID: d.reported, Object: "model", Created: modelCreated, OwnedBy: "system",
				Capabilities: &c, LifecycleStatus: "generally-available", Status: "succeeded",
			})
		}
		body, _ = json.Marshal(list)
	default:
		list := modelList[openaiModel]{Data: []openaiModel{}, Object: "list"}
		for _, d := range s.order {
			if d.Kind == KindMessages {
				continue
			}
			list.Data = append(list.Data, openaiModel{ID: d.Name, Object: "model", Created: modelCreated, OwnedBy: "system"})
		}
		body, _ = json.Marshal(list)
	}
	writeJSON(w, http.StatusOK, body)
}

// uniqueModels is the deployments with distinct reported models, in
// configuration order. Claude deployments are left out: they answer the
// Messages API only, and Azure OpenAI's listings do not show them.
func (s *Server) uniqueModels() []*deployment {
	seen := map[string]bool{}
	var out []*deployment
	for _, d := range s.order {
		if d.Kind != KindMessages && !seen[d.reported] {
			seen[d.reported] = true
			out = append(out, d)
		}
	}
	return out
}

func capabilities(k Kind) modelCapabilities {
	return modelCapabilities{
		Inference:      true,
		Completion:     k == KindCompletions,
		ChatCompletion: k == KindChat,
		Embeddings:     k == KindEmbeddings,
	}
}
