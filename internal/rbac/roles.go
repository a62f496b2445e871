package rbac

// RoleDefinition is an Azure-style role: the data actions it grants minus the
// data actions it excludes. As in Azure, NotDataActions is not a deny rule:
// it only trims this role, and another role may still grant the action.
type RoleDefinition struct {
	// ID is the role definition ID (a GUID for built-ins); assignments may
	// name a role by ID or by Name.
	ID string
	// Name is the display name, unique case-insensitively.
	Name string
	// Description says what the role is for.
	Description string
	// DataActions are the granted data actions, with '*' wildcards.
	DataActions []string
	// NotDataActions are removed from DataActions, with '*' wildcards.
	NotDataActions []string
}

// Names of the built-in roles, for config and tests.
const (
	RoleOpenAIUser                = "Cognitive Services OpenAI User"
	RoleOpenAIContributor         = "Cognitive Services OpenAI Contributor"
	RoleCognitiveServicesUser     = "Cognitive Services User"
	RoleCognitiveServicesContrib  = "Cognitive Services Contributor"
	RoleMoatLogReader             = "Moat Log Reader"
	RoleMoatPromptReader          = "Moat Prompt Reader"
	RoleMoatAdministrator         = "Moat Administrator"
	openAIDataActionPrefix        = "Microsoft.CognitiveServices/accounts/OpenAI/"
	cognitiveServicesActionPrefix = "Microsoft.CognitiveServices/"
)

// Data actions of moat's own surfaces (admin API, log queries). They live
// under "Moat/" so that no Azure role and no API key ever grants them.
const (
	DataActionLogsRead  = "Moat/logs/read"
	DataActionKeysRead  = "Moat/keys/read"
	DataActionKeysWrite = "Moat/keys/write"
	// DataActionDebugRead takes runtime profiles of the gateway process
	// (/debug/pprof/); the Moat Administrator role has it through Moat/*.
	DataActionDebugRead = "Moat/debug/read"
	// DataActionLogsContentRead reads prompt and completion text in the
	// request log (RequestMessages, ResponseMessages), on top of
	// Moat/logs/read; every such read is audited. Moat Log Reader does not
	// have it; Moat Prompt Reader and Moat Administrator do.
	DataActionLogsContentRead = "Moat/logs/content/read"
)

// BuiltinRoles returns the built-in roles. The Azure ones copy the role
// definitions in wire reference §4.1 (generated from the live definitions,
// 04/2024), plus `OpenAI/responses/write` for OpenAI User, which observed
// PermissionDenied bodies show the role grants [O]. Newer [S]-only additions
// (realtime, assistants) are left to custom roles.
func BuiltinRoles() []RoleDefinition {
	p := openAIDataActionPrefix
	return []RoleDefinition{
		{
			ID:          "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
			Name:        RoleOpenAIUser,
			Description: "Read access to view files, models, deployments; create completions and embeddings.",
			DataActions: []string{
				p + "*/read",
				p + "engines/completions/action",
				p + "engines/search/action",
				p + "engines/generate/action",
				p + "deployments/audio/action",
				p + "deployments/search/action",
				p + "deployments/completions/action",
				p + "deployments/chat/completions/action",
				p + "deployments/extensions/chat/completions/action",
				p + "deployments/embeddings/action",
				p + "images/generations/action",
				p + "responses/write",
				// Deleting one's stored responses: newer snapshots grant
				// OpenAI/responses/* [S]; without it a role that may create
				// responses could not delete them.
				p + "responses/delete",
			},
		},
		{
			ID:          "a001fd3d-188f-4b5d-821b-7da978bf7442",
			Name:        RoleOpenAIContributor,
			Description: "Full access to the OpenAI data plane, including fine-tuning and file uploads.",
			DataActions: []string{p + "*"},
		},
		{
			ID:          "a97b65f3-24c7-4388-baec-2e87135dc908",
			Name:        RoleCognitiveServicesUser,
			Description: "Every Cognitive Services data action.",
			DataActions: []string{cognitiveServicesActionPrefix + "*"},
		},
		{
			ID:          "25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68",
			Name:        RoleCognitiveServicesContrib,
			Description: "Control plane only: no data actions, so no inference with a token.",
		},
		{
			ID:          "7c1e7a52-4f0b-4c57-9d3e-6a2b8f0d1e01",
			Name:        RoleMoatLogReader,
			Description: "Query moat's request log.",
			DataActions: []string{DataActionLogsRead},
		},
		{
			ID:          "7c1e7a52-4f0b-4c57-9d3e-6a2b8f0d1e03",
			Name:        RoleMoatPromptReader,
			Description: "Query moat's request log, prompt and completion text included (every read audited).",
			DataActions: []string{DataActionLogsRead, DataActionLogsContentRead},
		},
		{
			ID:          "7c1e7a52-4f0b-4c57-9d3e-6a2b8f0d1e02",
			Name:        RoleMoatAdministrator,
			Description: "Everything moat serves: the OpenAI data plane and moat's admin surfaces.",
			DataActions: []string{"Moat/*", p + "*"},
		},
	}
}
