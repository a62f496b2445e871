package reqlog

// ColumnType is the logical type of a log column; stores map it to SQL types.
type ColumnType string

// Column types.
const (
	TypeTime   ColumnType = "datetime" // stored as a timestamp (UTC)
	TypeString ColumnType = "string"
	TypeInt    ColumnType = "long"
	TypeReal   ColumnType = "real"
	TypeBool   ColumnType = "bool"
)

// Column describes one log column: its SQL name in the stores and its name
// in the KQL table (TableName), close to Azure's log tables.
type Column struct {
	SQL  string
	KQL  string
	Type ColumnType
}

// TableName is the KQL name of the request log. SQLTable is its SQL name.
const (
	TableName = "MoatGatewayLogs"
	SQLTable  = "request_log"
)

// Columns is the request-log schema in storage order, after the id column.
// The order matches the fields of Record.
var columns = []Column{
	{"time", "TimeGenerated", TypeTime},
	{"request_id", "CorrelationId", TypeString},
	{"caller", "CallerId", TypeString},
	{"auth_type", "AuthType", TypeString},
	{"client_ip", "CallerIpAddress", TypeString},
	{"listener", "Listener", TypeString},
	{"deployment", "DeploymentName", TypeString},
	{"model", "ModelName", TypeString},
	{"upstream", "BackendId", TypeString},
	{"operation", "OperationName", TypeString},
	{"api_version", "ApiVersion", TypeString},
	{"method", "Method", TypeString},
	{"path", "Url", TypeString},
	{"status", "ResponseCode", TypeInt},
	{"upstream_status", "BackendResponseCode", TypeInt},
	{"error_kind", "LastErrorReason", TypeString},
	{"error_message", "LastErrorMessage", TypeString},
	{"total_ms", "TotalTime", TypeReal},
	{"upstream_ms", "BackendTime", TypeReal},
	{"first_byte_ms", "FirstByteTime", TypeReal},
	{"prompt_tokens", "PromptTokens", TypeInt},
	{"completion_tokens", "CompletionTokens", TypeInt},
	{"total_tokens", "TotalTokens", TypeInt},
	{"tokens_estimated", "TokensEstimated", TypeBool},
	{"streamed", "IsStreamCompletion", TypeBool},
	{"request_bytes", "RequestSize", TypeInt},
	{"response_bytes", "ResponseSize", TypeInt},
	{"region", "Region", TypeString},
	{"attempts", "Attempts", TypeInt},
	{"request_body", "RequestMessages", TypeString},
	{"response_body", "ResponseMessages", TypeString},
	{"replica", "Replica", TypeString},
	{"first_token_ms", "FirstTokenTime", TypeReal},
	{"guardrail", "GuardrailHits", TypeString},
	{"key_name", "KeyName", TypeString},
	{"owner", "KeyOwner", TypeString},
	{"team", "Team", TypeString},
	{"cost", "Cost", TypeReal},
	{"price_version", "PriceVersion", TypeString},
	{"headers", "Headers", TypeString},
}

// contentColumns hold prompt and completion text: reading them needs a
// permission of its own (Moat/logs/content/read), and they have their own
// retention (log.body_retention).
var contentColumns = map[string]bool{"request_body": true, "response_body": true}

// Content reports whether c holds prompt or completion text.
func (c Column) Content() bool { return contentColumns[c.SQL] }

// Columns returns the schema (without the id column, which is "id"/"Id").
func Columns() []Column { return append([]Column(nil), columns...) }

// Values returns r's column values in Columns order, for inserts.
func (r *Record) Values() []any {
	return []any{r.Time.UTC(), r.RequestID, r.Caller, r.AuthType, r.ClientIP, r.Listener,
		r.Deployment, r.Model, r.Upstream, r.Operation, r.APIVersion, r.Method, r.Path,
		r.Status, r.UpstreamStatus, r.ErrorKind, r.ErrorMessage, r.TotalMs, r.UpstreamMs,
		r.FirstByteMs, r.PromptTokens, r.CompletionTokens, r.TotalTokens, r.TokensEstimated,
		r.Streamed, r.RequestBytes, r.ResponseBytes, r.Region, r.Attempts, r.RequestBody, r.ResponseBody, r.Replica, r.FirstTokenMs, r.Guardrail,
		r.KeyName, r.Owner, r.Team, r.Cost, r.PriceVersion, r.Headers}
}

// ScanTargets returns pointers to r's fields in Columns order, preceded by
// &r.ID, for scanning a "SELECT id, <columns>" row.
func (r *Record) ScanTargets() []any {
	return []any{&r.ID, &r.Time, &r.RequestID, &r.Caller, &r.AuthType, &r.ClientIP, &r.Listener,
		&r.Deployment, &r.Model, &r.Upstream, &r.Operation, &r.APIVersion, &r.Method, &r.Path,
		&r.Status, &r.UpstreamStatus, &r.ErrorKind, &r.ErrorMessage, &r.TotalMs, &r.UpstreamMs,
		&r.FirstByteMs, &r.PromptTokens, &r.CompletionTokens, &r.TotalTokens, &r.TokensEstimated,
		&r.Streamed, &r.RequestBytes, &r.ResponseBytes, &r.Region, &r.Attempts, &r.RequestBody, &r.ResponseBody, &r.Replica, &r.FirstTokenMs, &r.Guardrail,
		&r.KeyName, &r.Owner, &r.Team, &r.Cost, &r.PriceVersion, &r.Headers}
}

// The SQLite store's caller index: the (caller, time, id) of every row up
// to CallerIndexStateTable's through_id, added in bulk, sorted by caller,
// every few tens of thousands of rows rather than row by row. An index on
// request_log (caller, time) put every call of a different caller into a
// leaf of its own: with 10,000 keys in rotation it was three quarters of
// the cost of a row once the log held a million (docs/benchmarks.md). The
// KQL compiler's SQLite dialect reads it for a CallerId equality, and the
// rows past through_id from the log itself.
const (
	CallerIndexTable      = "request_log_by_caller"
	CallerIndexStateTable = "request_log_by_caller_state"
)
