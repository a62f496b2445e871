package logquery

// RunPostgres exposes runPostgres to the external tests, which check the
// transaction's settings with hand-written statements no KQL can produce.
var RunPostgres = runPostgres
