package dataplane

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// serveList answers the listing endpoints from config, in the shape of the
// surface that was called (§1.6): Azure's authoring list for /openai/models
// and /openai/deployments, OpenAI's list for /openai/v1/models and /v1/models.
func (p *Pipeline) serveList(w http.ResponseWriter, s *scope) error {
	created := p.now().Unix()
	var v any
	type openaiModel struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	type azureModel struct {
		Capabilities    openai.Capabilities `json:"capabilities"`
		LifecycleStatus string              `json:"lifecycle_status"`
		ID              string              `json:"id"`
		Status          string              `json:"status"`
		CreatedAt       int64               `json:"created_at"`
		Object          string              `json:"object"`
	}
	oaModel := func(name string) openaiModel {
		return openaiModel{ID: name, Object: "model", Created: created, OwnedBy: "organization-owner"}
	}
	azModel := func(m string) azureModel {
		return azureModel{Capabilities: openai.CapabilitiesOf(m), LifecycleStatus: "generally-available", ID: m,
			Status: "succeeded", CreatedAt: created, Object: "model"}
	}
	switch s.call.List {
	case listModelsOpenAI:
		data := []openaiModel{}
		for _, name := range p.depNames {
			data = append(data, oaModel(name))
		}
		v = map[string]any{"object": "list", "data": data}
	case getModelOpenAI:
		// These surfaces list deployment names, which clients send back
		// as "model"; retrieving one answers for that deployment.
		if p.deployments[s.call.ModelID] == nil {
			return modelNotFound(s.call.ModelID)
		}
		v = oaModel(s.call.ModelID)
	case listModelsAzure:
		seen := map[string]bool{}
		data := []azureModel{}
		for _, name := range p.depNames {
			m := p.deployments[name].model
			if seen[m] {
				continue
			}
			seen[m] = true
			data = append(data, azModel(m))
		}
		v = map[string]any{"data": data, "object": "list"}
	case getModelAzure:
		// The authoring surface lists models, not deployments.
		if !slices.ContainsFunc(p.depNames, func(n string) bool { return p.deployments[n].model == s.call.ModelID }) {
			return modelNotFound(s.call.ModelID)
		}
		v = azModel(s.call.ModelID)
	case listDeployments, getDeployment:
		type dep struct {
			ScaleSettings map[string]string `json:"scale_settings"`
			Model         string            `json:"model"`
			Owner         string            `json:"owner"`
			ID            string            `json:"id"`
			Status        string            `json:"status"`
			CreatedAt     int64             `json:"created_at"`
			UpdatedAt     int64             `json:"updated_at"`
			Object        string            `json:"object"`
		}
		mk := func(name string) dep {
			return dep{ScaleSettings: map[string]string{"scale_type": "standard"}, Model: p.deployments[name].model,
				Owner: "organization-owner", ID: name, Status: "succeeded", CreatedAt: created, UpdatedAt: created, Object: "deployment"}
		}
		if s.call.List == getDeployment {
			if p.deployments[s.call.Deployment] == nil {
				return errDeploymentNotFound()
			}
			v = mk(s.call.Deployment)
			break
		}
		data := []dep{}
		for _, name := range p.depNames {
			data = append(data, mk(name))
		}
		v = map[string]any{"data": data, "object": "list"}
	}
	return s.writeJSON(w, v)
}

// writeJSON answers 200 with v as JSON, for the answers moat writes itself
// (model and object lists), and records the status and size for the log.
func (s *scope) writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	s.status = http.StatusOK
	s.respBytes = int64(len(b))
	_, err = w.Write(b)
	return err
}

// modelNotFound is OpenAI's answer for a model the resource does not have.
func modelNotFound(id string) error {
	return httpx.Model(http.StatusNotFound, httpx.KindClientNotFound,
		fmt.Sprintf("The model '%s' does not exist", id), "invalid_request_error", "model", "model_not_found",
		errString("unknown model"))
}
