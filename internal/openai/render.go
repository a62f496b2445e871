package openai

import "github.com/moat-gw/moat/internal/httpx"

// Errors is the renderer of the Azure OpenAI client API: the dated and v1
// surfaces, OpenAI's /v1 (which shares Azure's shapes) and the management
// plane. It is the one place that turns an httpx.Error into Azure's bytes.
type Errors struct{}

var _ httpx.Renderer = Errors{}

// Body renders e in Azure's envelope for its shape.
func (Errors) Body(e *httpx.Error) []byte {
	switch e.Shape {
	case httpx.ShapeFrontDoor:
		msg := e.Message
		if msg == "" {
			msg = MsgInternalError
		}
		if compactCapture(e.Code, msg) {
			return FrontDoorErrorCompact(e.Code, msg)
		}
		return FrontDoorError(e.Code, msg)
	case httpx.ShapeStatus:
		return StatusError(e.Status, e.Message)
	case httpx.ShapeModel:
		return ModelError(e.Message, e.Type, e.Param, e.Code)
	}
	return nil
}

// compactCapture reports whether Azure's capture of this front-door error
// has no space after "message": the invalid-key 401 (§2.1),
// PermissionDenied (§2.4), the v1 "API version not supported" 400 (§2.7)
// and DeploymentNotFound (§2.8). Azure is not consistent; the renderer
// follows each error's capture so callers need not know the layout.
func compactCapture(code, message string) bool {
	switch code {
	case "PermissionDenied", "DeploymentNotFound":
		return true
	case "401":
		return message == MsgInvalidKey
	case "BadRequest":
		return message == MsgAPIVersionNotSupp
	}
	return false
}
