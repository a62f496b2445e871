package kql

import (
	"github.com/moat-gw/moat/internal/reqlog"
)

// typ is the KQL scalar type of an expression.
type typ int

const (
	tLong typ = iota + 1
	tReal
	tString
	tBool
	tDatetime
	tTimespan
)

func (t typ) String() string {
	switch t {
	case tLong:
		return "long"
	case tReal:
		return "real"
	case tString:
		return "string"
	case tBool:
		return "bool"
	case tDatetime:
		return "datetime"
	case tTimespan:
		return "timespan"
	}
	return "unknown"
}

func (t typ) numeric() bool { return t == tLong || t == tReal }

// columnType maps a KQL type to the reqlog column type of a result; a
// timespan has no result representation.
func (t typ) columnType() (reqlog.ColumnType, bool) {
	switch t {
	case tLong:
		return reqlog.TypeInt, true
	case tReal:
		return reqlog.TypeReal, true
	case tString:
		return reqlog.TypeString, true
	case tBool:
		return reqlog.TypeBool, true
	case tDatetime:
		return reqlog.TypeTime, true
	}
	return "", false
}

func typeOfColumn(ct reqlog.ColumnType) typ {
	switch ct {
	case reqlog.TypeInt:
		return tLong
	case reqlog.TypeReal:
		return tReal
	case reqlog.TypeBool:
		return tBool
	case reqlog.TypeTime:
		return tDatetime
	}
	return tString
}

// tableName is the KQL table every query starts from.
const tableName = reqlog.TableName

// schemaColumn is one queryable column of the base table.
type schemaColumn struct {
	kql, sql string
	t        typ
	content  bool // reqlog.Column.Content
}

// schema returns the base table's columns: the id first, then
// reqlog.Columns in storage order.
func schema() []schemaColumn {
	cols := reqlog.Columns()
	out := make([]schemaColumn, 0, len(cols)+1)
	out = append(out, schemaColumn{kql: IDColumn, sql: "id", t: tLong})
	for _, c := range cols {
		out = append(out, schemaColumn{kql: c.KQL, sql: c.SQL, t: typeOfColumn(c.Type), content: c.Content()})
	}
	return out
}

// Columns describes the queryable table (MoatGatewayLogs) with KQL names,
// for editors and autocompletion: the Id column followed by reqlog.Columns.
func Columns() []OutColumn {
	var out []OutColumn
	for _, c := range schema() {
		ct, _ := c.t.columnType()
		out = append(out, OutColumn{Name: c.kql, Type: ct})
	}
	return out
}
